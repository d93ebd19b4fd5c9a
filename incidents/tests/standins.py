"""Real stand-ins for the outside world in tests: an SMTP sink process and a Slack receiver.

Both bind 127.0.0.1 on this area's ports (19200-19219); processes are stopped by PID.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SINK = Path(__file__).with_name("smtpsink.py")


def wait_for_port(port: int, *, up: bool = True, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not come {'up' if up else 'down'}")


class SmtpSink:
    """The aiosmtpd sink as a subprocess: start, stop (connection refused), read what arrived."""

    def __init__(self, port: int, workdir: Path):
        self.port, self.workdir = port, workdir
        self.modefile, self.out = workdir / "mode.txt", workdir / "out.jsonl"
        self.process: subprocess.Popen | None = None

    def set_mode(self, mode: str) -> None:
        self.modefile.write_text(mode)

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own script
            [sys.executable, str(SINK), str(self.port), str(self.modefile), str(self.out)],
            stdout=subprocess.DEVNULL,
            env={**os.environ, "SINK_SECONDS": "600"},
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        wait_for_port(self.port, up=False)

    def received(self) -> list[dict]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    def per_message_id(self) -> Counter:
        return Counter(r["message_id"] for r in self.received())

    def per_recipient(self) -> Counter:
        return Counter(to for r in self.received() for to in r["to"])


class _SlackHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        server.requests.append({"path": self.path, "body": json.loads(body or b"{}")})
        mode = server.mode
        if mode == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode.startswith("sleep:"):
            time.sleep(float(mode[6:]))
            mode = "ok"
        status, text, headers = {
            "ok": (200, "ok", {}),
            "500": (500, "internal_error", {}),
            "429": (429, "rate_limited", {"Retry-After": "3"}),
            "404": (404, "no_service", {}),
            "410": (410, "channel_is_archived", {}),
            "400": (400, "invalid_payload", {}),
        }[mode]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, *args):
        pass


class SlackStandIn:
    """A local Slack incoming-webhook receiver; `mode` picks its answer."""

    def __init__(self, port: int):
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _SlackHandler)
        self.server.requests, self.server.mode = [], "ok"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{port}/services/T/B/X"

    @property
    def requests(self) -> list[dict]:
        return self.server.requests

    def set_mode(self, mode: str) -> None:
        self.server.mode = mode

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
