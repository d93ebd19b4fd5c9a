"""Real Prometheus and Alertmanager (Debian's binaries) on loopback, a dummy scrape target and a
live Beacon, for tests/alertmanager/. Every process is started here and stopped by its PID.

Ports 19090-19099: Prometheus 19090, the dummy target 19091, Alertmanager 19093, Beacon 19094.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROMETHEUS_PORT = 19090
TARGET_PORT = 19091
ALERTMANAGER_PORT = 19093
BEACON_PORT = 19094
HERE = Path(__file__).parent


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def binaries() -> dict[str, str]:
    found = {
        "prometheus": _binary("prometheus"),
        "alertmanager": _binary("prometheus-alertmanager", "alertmanager"),
    }
    missing = [name for name, path in found.items() if path is None]
    if missing:
        message = f"not installed: {', '.join(missing)} (Debian packages prometheus, prometheus-alertmanager)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; .ci/run installs them, so CI must have them")
        pytest.skip(message)
    return found


def wait_for_port(port: int, timeout: float = 15.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before listening on {port}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class Processes:
    """Starts processes with their output in files, and stops each by its PID."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], port: int) -> subprocess.Popen:
        assert port_is_free(port), f"127.0.0.1:{port} is taken: another run of this suite?"
        log = open(self.directory / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory)
        log.close()
        self.running[name] = process
        wait_for_port(port, process=process)
        return process

    def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(5)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)

    def logs(self) -> str:
        parts = []
        for path in sorted(self.directory.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)


@pytest.fixture
def processes(tmp_path):
    running = Processes(tmp_path)
    yield running
    running.stop_all()


@pytest.fixture
def dummy_target(processes):
    """Start and stop the scrape target at will: target.start(), target.stop()."""

    class Target:
        def start(self):
            processes.start("target", [sys.executable, str(HERE / "dummy_target.py"), str(TARGET_PORT)], TARGET_PORT)

        def stop(self):
            processes.stop("target")

    target = Target()
    target.start()
    return target


@pytest.fixture
def beacon(transactional_db):
    """Beacon served by Django's live server on its fixed port, sharing the test database."""
    from django.core.servers.basehttp import WSGIServer
    from django.test.testcases import QuietWSGIRequestHandler
    from pytest_django.live_server_helper import LiveServer

    assert port_is_free(BEACON_PORT), f"127.0.0.1:{BEACON_PORT} is taken"
    server = LiveServer(f"127.0.0.1:{BEACON_PORT}", start=False)
    thread = server.thread

    def reusable_server(connections_override=None):
        # Django binds without SO_REUSEADDR, so a fixed port stays unusable for a minute after
        # each run (TIME_WAIT); this suite runs twice in CI (PostgreSQL, then SQLite).
        if connections_override:
            # SQLite's in-memory test database: every request shares the test's one connection,
            # and two requests at once (Alertmanager posts the Watchdog and an alert group in
            # parallel) interleave their transactions on it ("no such savepoint"). One request at
            # a time, in the server thread that holds the connection.
            return WSGIServer((thread.host, thread.port), QuietWSGIRequestHandler, allow_reuse_address=True)
        return thread.server_class(
            (thread.host, thread.port),
            QuietWSGIRequestHandler,
            allow_reuse_address=True,
            connections_override=connections_override,
        )

    thread._create_server = reusable_server
    server.start()
    yield server
    server.stop()


def write_configs(directory: Path, token: str) -> tuple[Path, Path]:
    """Prometheus and Alertmanager configured for speed: 1 s scrapes and evaluations, short waits."""
    (directory / "beacon-token").write_text(token + "\n")
    (directory / "rules.yml").write_text(
        """groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: TargetDown
        expr: up{job="app"} == 0
        for: 0s
        labels: {severity: critical, service: app}
        annotations:
          summary: "Target {{ $labels.instance }} (job {{ $labels.job }}) is down"
          description: "Prometheus failed to scrape {{ $labels.instance }}."
      - alert: Watchdog
        expr: vector(1)
        labels: {severity: none, service: beacon}
        annotations: {summary: "Alerting pipeline heartbeat"}
"""
    )
    prometheus = directory / "prometheus.yml"
    prometheus.write_text(
        f"""global:
  scrape_interval: 1s
  scrape_timeout: 500ms
  evaluation_interval: 1s
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{ALERTMANAGER_PORT}"]
rule_files: ["{directory / "rules.yml"}"]
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["127.0.0.1:{TARGET_PORT}"]
"""
    )
    alertmanager = directory / "alertmanager.yml"
    alertmanager.write_text(
        f"""global:
  resolve_timeout: 5s
route:
  receiver: beacon
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: beacon
    webhook_configs:
      - url: http://127.0.0.1:{BEACON_PORT}/integrations/alertmanager/
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: {directory / "beacon-token"}
"""
    )
    return prometheus, alertmanager


@pytest.fixture
def monitoring(binaries, processes, tmp_path):
    """Start Alertmanager, then Prometheus, with the configs for a token: monitoring(token)."""

    def start(token: str) -> None:
        prometheus_yml, alertmanager_yml = write_configs(tmp_path, token)
        processes.start(
            "alertmanager",
            [
                binaries["alertmanager"],
                f"--config.file={alertmanager_yml}",
                f"--storage.path={tmp_path / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{ALERTMANAGER_PORT}",
                "--cluster.listen-address=",
            ],
            ALERTMANAGER_PORT,
        )
        processes.start(
            "prometheus",
            [
                binaries["prometheus"],
                f"--config.file={prometheus_yml}",
                f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
                # Prometheus finds its Alertmanager only after a few seconds and drops what fired
                # before; re-sending every 2 s (not every minute) gets the heartbeat through soon.
                "--rules.alert.resend-delay=2s",
            ],
            PROMETHEUS_PORT,
        )

    return start
