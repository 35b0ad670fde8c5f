from django.core.management.base import BaseCommand

from integrations.payments_sandbox import PaymentsSandbox


class Command(BaseCommand):
    help = "Serve the stand-in payments API on loopback (for the demo)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8026)

    def handle(self, *args, port: int, **options):
        sandbox = PaymentsSandbox(port=port)
        self.stdout.write(f"payments sandbox listening on {sandbox.url}")
        try:
            sandbox.server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.server.server_close()
