"""Launch the AWS emulator: moto's server with the fidelity layer applied, on one loopback port.

    python -m testbed.emulator.server --port 4566 [--host 127.0.0.1]

It prints `ready http://HOST:PORT` on stdout once it accepts requests, and stops on SIGTERM or
SIGINT. Besides moto's own routes (`/moto-api/...`) it serves the fidelity layer's test hooks
under `/_fidelity/`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any, Callable, Iterable

from testbed.emulator import fidelity

fidelity.apply()

from moto.moto_server.werkzeug_app import (  # noqa: E402  (must follow the patches)
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

HOOKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "/_fidelity/ecs/task-status": fidelity.set_task_status,
}


def with_hooks(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI wrapper: answers the fidelity hooks, passes everything else to moto."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        hook = HOOKS.get(environ.get("PATH_INFO", ""))
        if hook is None:
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            answer = hook(json.loads(environ["wsgi.input"].read(length) or b"{}"))
            status = "200 OK"
        except (KeyError, ValueError) as error:
            answer, status = {"error": str(error)}, "400 Bad Request"
        body = json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json")])
        return [body]

    return wsgi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    app = with_hooks(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"ready http://{args.host}:{args.port}", flush=True)
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
