from django.core.management.base import BaseCommand

from integrations.carrier_sandbox import CarrierSandbox


class Command(BaseCommand):
    help = "Serve the stand-in carrier API on loopback (for the demo)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8025)

    def handle(self, *args, port: int, **options):
        sandbox = CarrierSandbox(port=port)
        self.stdout.write(f"carrier sandbox listening on {sandbox.url}")
        try:
            sandbox.server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.server.server_close()
