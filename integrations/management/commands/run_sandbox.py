import contextlib

from django.core.management.base import BaseCommand

from integrations.carrier_sandbox import CarrierSandbox
from integrations.payments_sandbox import PaymentsSandbox

SANDBOXES = {"carrier": (CarrierSandbox, 8025), "payments": (PaymentsSandbox, 8026)}


class Command(BaseCommand):
    help = "Serve a stand-in outside API (carrier or payments) on loopback, for the demo."

    def add_arguments(self, parser):
        parser.add_argument("sandbox", choices=sorted(SANDBOXES))
        parser.add_argument("--port", type=int, help="default: 8025 carrier, 8026 payments")

    def handle(self, *args, sandbox: str, port: int | None, **options):
        server_class, default_port = SANDBOXES[sandbox]
        server = server_class(port=port or default_port)
        self.stdout.write(f"{sandbox} sandbox listening on {server.url}")
        try:
            with contextlib.suppress(KeyboardInterrupt):
                server.server.serve_forever()
        finally:
            server.server.server_close()
