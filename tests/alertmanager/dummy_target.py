"""A scrape target that only exists to be stopped: python dummy_target.py PORT [SECONDS].

Serves /metrics in Prometheus text format on 127.0.0.1:PORT and exits by itself after
SECONDS (default 300), so a test that dies without its finalizers leaves nothing behind.
"""

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Metrics(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's API
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404)
            return
        body = b"# TYPE dummy_up gauge\ndummy_up 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - quiet: Prometheus scrapes every second
        pass


def main() -> None:
    port = int(sys.argv[1])
    lifetime = float(sys.argv[2]) if len(sys.argv) > 2 else 300.0
    server = ThreadingHTTPServer(("127.0.0.1", port), Metrics)
    threading.Timer(lifetime, server.shutdown).start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
