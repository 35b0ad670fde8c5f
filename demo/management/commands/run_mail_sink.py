import logging
import signal
import threading

from django.core.management.base import BaseCommand

from demo.mail_sink import MailSink


class Command(BaseCommand):
    help = "Serve a local SMTP sink on loopback; every mail received is readable in admin."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=1025)

    def handle(self, *args, port: int, **options):
        # aiosmtpd logs every SMTP command at INFO.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        stop = threading.Event()
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, lambda *_: stop.set())
        sink = MailSink(port=port).start()
        self.stdout.write(f"mail sink listening on {sink.host}:{sink.port}")
        try:
            while not stop.wait(1):
                pass
        finally:
            sink.stop()
