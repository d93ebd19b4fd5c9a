"""`manage.py run_mail_intake` as it runs in production: its own process against the database."""

import os
import signal
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.db import connection

from incidents.mailin.tests.test_receiver import INTAKE, free_port, message, send
from incidents.models import Incident
from incidents.tests.standins import wait_for_port

pytestmark = pytest.mark.django_db(transaction=True)

POSTGRES = django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


@pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL (the receiver's process shares its database)")
def test_the_command_opens_an_incident_and_stops_cleanly_on_sigterm(responder, tmp_path):
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "SECRET_KEY": django_settings.SECRET_KEY,
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "EMAIL_URL": "console://",
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        "MAIL_INTAKE_ADDRESSES": INTAKE,
        "MAIL_INTAKE_MAX_BYTES": "50000",
    }
    port, log = free_port(), tmp_path / "intake.log"
    with open(log, "w") as out:
        process = subprocess.Popen(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "run_mail_intake", "--host", "127.0.0.1", "--port", str(port)],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, timeout=30)
        send(port, message("rob@example.com", "Queue is stuck", "Nothing leaves the email queue."))
        assert Incident.objects.get().title == "Queue is stuck"
    finally:
        os.kill(process.pid, signal.SIGTERM)
        code = process.wait(timeout=20)
    assert code == 0, log.read_text()
    output = log.read_text()
    assert f"SMTP on 127.0.0.1:{port} for {INTAKE} (at most 50000 bytes a message)" in output
    assert "mail intake stopped" in output
