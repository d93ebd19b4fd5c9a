"""A silent database link (packets dropped, nothing answers, nothing resets) fails a query
within the TCP user timeout instead of hanging it (settings: keepalives, tcp_user_timeout).

The link is made silent for real: a relay to PostgreSQL on its own loopback port, and
iptables dropping that port's packets mid-connection. Needs PostgreSQL, iptables and the
right to change its rules (root or CAP_NET_ADMIN); skipped otherwise. Only the relay's port
is touched, and the rules are removed at the end.
"""

import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from incidents.tests.test_setup import ROOT, clean_env

IPTABLES = shutil.which("iptables")

PROBE = """
import os, sys, time
os.environ['DJANGO_SETTINGS_MODULE'] = 'incidentsite.settings'
import django; django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute('SELECT 1')
print('connected', flush=True)
sys.stdin.readline()
started = time.monotonic()
try:
    with connection.cursor() as cursor:
        cursor.execute('SELECT 1')
    print('answered', flush=True)
except Exception as error:
    print('failed', type(error).__name__, round(time.monotonic() - started, 1), flush=True)
"""


def relay(listener: socket.socket, target: tuple[str, int]) -> None:
    def pump(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass

    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        upstream = socket.create_connection(target)
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


def iptables(*args) -> subprocess.CompletedProcess:
    return subprocess.run([IPTABLES, *args], capture_output=True, text=True, timeout=10)


def test_the_default_bounds_are_about_ten_seconds():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL settings")
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["tcp_user_timeout"] == 10000 and options["keepalives"] == 1
    assert options["keepalives_idle"] + options["keepalives_interval"] * options["keepalives_count"] <= 12
    assert "idle_in_transaction_session_timeout=" in options["options"]


@pytest.mark.postgres_only
def test_a_query_on_a_silent_link_fails_within_the_tcp_timeout():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    if IPTABLES is None or iptables("-L", "INPUT", "-n").returncode != 0:
        pytest.skip("needs iptables and the right to change its rules")
    db = settings.DATABASES["default"]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    threading.Thread(
        target=relay, args=(listener, (db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))), daemon=True
    ).start()
    url = f"postgres://{db['USER']}@127.0.0.1:{port}/postgres"
    env = clean_env(DEBUG="1", DATABASE_URL=url, DB_TCP_TIMEOUT_MS="2000", PGPASSWORD=db.get("PASSWORD") or "")
    probe = subprocess.Popen(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    rules = [
        ["INPUT", "-i", "lo", "-p", "tcp", "--dport", str(port), "-j", "DROP"],
        ["INPUT", "-i", "lo", "-p", "tcp", "--sport", str(port), "-j", "DROP"],
    ]
    try:
        assert probe.stdout.readline().strip() == "connected"
        for rule in rules:
            assert iptables("-I", *rule).returncode == 0
        started = time.monotonic()
        probe.stdin.write("go\n")
        probe.stdin.flush()
        answer = probe.stdout.readline().split()
        waited = time.monotonic() - started
    finally:
        for rule in rules:
            iptables("-D", *rule)
        probe.kill()
        probe.wait(10)
        listener.close()
    assert answer[:2] == ["failed", "OperationalError"], answer
    assert waited < 8, f"the query hung for {waited:.1f} s"
