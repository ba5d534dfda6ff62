"""The example app: answers `GET <any path>` with a few Prometheus metrics on every port it is
given (`example_app.py 8080 9090 ...`), on all addresses, until SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.time()
REQUESTS = {"count": 0}


class Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        REQUESTS["count"] += 1
        body = (
            "# TYPE example_app_requests_total counter\n"
            f"example_app_requests_total{{path=\"{self.path}\"}} {REQUESTS['count']}\n"
            "# TYPE example_app_uptime_seconds gauge\n"
            f"example_app_uptime_seconds {time.time() - STARTED:.3f}\n"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def main(ports: list[int]) -> None:
    servers = [ThreadingHTTPServer(("0.0.0.0", port), Metrics) for port in ports]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"example app serving /metrics on ports {ports}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main([int(port) for port in sys.argv[1:]] or [8080])
