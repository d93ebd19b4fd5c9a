"""The deployment's reverse proxy (deploy/caddy/Caddyfile, docker-compose.yml "proxy"), run
for real: Caddy in front of gunicorn with one sync worker. Clients that never finish their
headers stall gunicorn on its own, and do not stall it behind Caddy.

Needs the `caddy` binary (Debian's package is the version docker-compose.yml pins); skipped
without it outside CI.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from incidents.tests.test_setup import ROOT, clean_env

CADDY = shutil.which("caddy")
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


@pytest.fixture(autouse=True)
def _needs_caddy():
    if CADDY is None:
        if os.environ.get("CI") == "true":
            pytest.fail("caddy not found (apt-get install caddy)")
        pytest.skip("caddy is not installed (apt-get install caddy)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthz(port: int, timeout: float = 5) -> float:
    """Seconds /healthz took on `port`; raises on a timeout."""
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as response:
        assert response.status == 200
    return time.monotonic() - started


def wait_until_up(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else "exited"
        try:
            healthz(port, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered on port {port}")


def stall(port: int) -> socket.socket:
    """A client that starts its request and never finishes the headers."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return sock


@pytest.fixture
def gunicorn(tmp_path):
    port = free_port()
    env = clean_env(DEBUG="1", DATABASE_URL=f"sqlite:///{tmp_path / 'proxy.sqlite3'}", SECRET_KEY="x" * 60)
    command = [GUNICORN, "incidentsite.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_up(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def caddy(gunicorn, tmp_path):
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "BEACON_ADDRESS": f":{port}",
        "BEACON_UPSTREAM": f"127.0.0.1:{gunicorn}",
    }
    command = [CADDY, "run", "--adapter", "caddyfile", "--config", str(CADDYFILE)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_up(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def test_the_caddyfile_is_valid():
    env = {**os.environ, "BEACON_UPSTREAM": "127.0.0.1:8000"}
    result = subprocess.run(
        [CADDY, "validate", "--adapter", "caddyfile", "--config", str(CADDYFILE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def test_stalled_clients_hold_gunicorn_alone_but_not_behind_caddy(gunicorn, caddy):
    # Without the proxy: one client that never finishes its headers holds the only worker.
    stalled = [stall(gunicorn)]
    time.sleep(0.2)
    with pytest.raises(OSError):
        healthz(gunicorn, timeout=1.5)
    for sock in stalled:
        sock.close()
    healthz(gunicorn)  # the worker is free again

    # Through Caddy: it holds the stalled clients itself; gunicorn answers everyone else.
    stalled = [stall(caddy) for _ in range(5)]
    try:
        time.sleep(0.2)
        assert max(healthz(caddy) for _ in range(3)) < 1
    finally:
        for sock in stalled:
            sock.close()


def test_compose_runs_gunicorn_behind_the_proxy_only():
    compose = (ROOT / "docker-compose.yml").read_text()
    web = compose.split("\n  web:\n", 1)[1].split("\n\n", 1)[0]
    assert '"8000:8000"' not in web, "gunicorn must not be published past the proxy"
    assert "image: caddy:2.6" in compose and "./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in compose
    assert 'BEHIND_PROXY: "1"' in compose and 'TRUSTED_PROXY_COUNT: "1"' in compose
