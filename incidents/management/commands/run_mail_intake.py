"""The mail intake's receiver: SMTP (or LMTP) on host:port, for a mail server to forward to.

    python manage.py run_mail_intake --host 127.0.0.1 --port 2525 [--lmtp]

Runs until SIGTERM or SIGINT; a message in hand is finished first (its mail server gets its
answer). docs/email-in.md says how to point Postfix or Exim at it.
"""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from incidents.mailin.server import IntakeController


class Command(BaseCommand):
    help = "Receive intake email over SMTP or LMTP: new incidents, and replies as notes (docs/email-in.md)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=2525, help="Port to listen on (default 2525).")
        parser.add_argument("--lmtp", action="store_true", help="Speak LMTP instead of SMTP.")

    def handle(self, *, host: str, port: int, lmtp: bool, **options):
        if not settings.MAIL_INTAKE_ADDRESSES:
            raise CommandError("MAIL_INTAKE_ADDRESSES is empty: set the address(es) mail for Beacon is sent to.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        controller = IntakeController(host=host, port=port, lmtp=lmtp)
        controller.start()
        addresses = ", ".join(settings.MAIL_INTAKE_ADDRESSES)
        self.stdout.write(
            f"mail intake: {'LMTP' if lmtp else 'SMTP'} on {host}:{port} for {addresses}"
            f" (at most {settings.MAIL_INTAKE_MAX_BYTES} bytes a message)"
        )
        try:
            stop.wait()
        finally:
            controller.stop()
            self.stdout.write("mail intake stopped")
