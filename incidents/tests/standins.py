"""Real stand-ins for the outside world in tests: an SMTP sink process, a Slack webhook
receiver and a fake of Slack's Web API.

They bind 127.0.0.1: the first two on this area's ports (19200-19219), the Web API fake on a
port the system picks; processes are stopped by PID.
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
from urllib.parse import parse_qsl

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


class _SlackApiHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Type", "").startswith("application/json"):
            params = json.loads(body or b"{}")
        else:
            params = dict(parse_qsl(body.decode()))
        method = self.path.rsplit("/", 1)[-1]
        server = self.server
        with server.lock:
            server.calls.append({"method": method, "params": params, "token": self.headers.get("Authorization")})
            server.counter += 1
            ts = f"1700000000.{server.counter:06d}"
        if method in server.delays:
            time.sleep(server.delays[method])
        status, answer, headers = server.answers.get(method) or (200, None, {})
        if answer is None:
            answer = {"ok": True}
            if method in ("chat.postMessage", "chat.update"):
                answer.update(channel=params.get("channel"), ts=params.get("ts") or ts)
            elif method == "chat.postEphemeral":
                answer["message_ts"] = ts
            elif method == "views.open":
                answer["view"] = {"id": f"V{server.counter}"}
            elif method == "conversations.create":
                answer["channel"] = {"id": f"C{server.counter:08d}", "name": params.get("name")}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class SlackApiStandIn:
    """A fake of Slack's Web API (https://slack.com/api/<method>) on a free loopback port: it
    records every call and answers like Slack; `answer(method, status, body)` changes one
    method's answer (an error, a rate limit)."""

    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _SlackApiHandler)
        self.server.calls, self.server.answers, self.server.delays, self.server.counter = [], {}, {}, 0
        self.server.lock = threading.Lock()
        # A short poll: shutdown() waits for it, once per test.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    @property
    def calls(self) -> list[dict]:
        return self.server.calls

    def calls_to(self, method: str) -> list[dict]:
        return [call for call in self.calls if call["method"] == method]

    def answer(self, method: str, status: int = 200, body: dict | None = None, headers: dict | None = None) -> None:
        self.server.answers[method] = (status, body, headers or {})

    def delay(self, method: str, seconds: float) -> None:
        """Answer `method` only after `seconds` (a slow Slack)."""
        self.server.delays[method] = seconds

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class _WebhookHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        with server.lock:
            server.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
            mode = server.modes.pop(0) if server.modes else server.mode
        if mode.startswith("sleep:"):
            time.sleep(float(mode[6:]))  # got it, answers too late: the sender times out
            mode = "200"
        status = int(mode)
        self.send_response(status)
        if status in (429, 503):
            self.send_header("Retry-After", "120")
        if 300 <= status < 400:
            self.send_header("Location", f"http://127.0.0.1:{server.server_address[1]}/elsewhere")
        text = b"ok" if status < 300 else f"answer {status}".encode()
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args):
        pass


class WebhookReceiver:
    """A receiver of outgoing webhooks on 127.0.0.1, on a port the system picks (kept across
    `stop()`/`start()`, so a test can take it down for an outage). `mode` is the HTTP status it
    answers ("200", "500", "410", "301"…) or "sleep:<s>"; `modes` queue answers for the next
    requests, first in first out. Each request is kept: path, headers, body bytes."""

    def __init__(self):
        self.port = 0
        self.requests: list[dict] = []
        self.mode = "200"
        self.modes: list[str] = []
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/beacon"

    def start(self) -> "WebhookReceiver":
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _WebhookHandler)
        server.requests, server.lock = self.requests, threading.Lock()
        server.mode, server.modes = self.mode, self.modes
        self.server, self.port = server, server.server_address[1]
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if self.server is not None:
            self.server.mode = mode

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(5)
        self.server = self.thread = None
        wait_for_port(self.port, up=False)

    def bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]
