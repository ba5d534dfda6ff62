"""Launch the AWS emulator: moto's server with the fidelity layer applied, on one loopback port.

    python -m testbed.emulator.server --port 4566 [--host 127.0.0.1]

It prints `ready http://HOST:PORT` on stdout once it accepts requests, and stops on SIGTERM or
SIGINT. Besides moto's own routes (`/moto-api/...`) it serves the fidelity layer's test hooks
under `/_fidelity/`.
"""

from __future__ import annotations

import argparse
import io
import json
import signal
import sys
import threading
from typing import Any, Callable, Iterable

from testbed.emulator import fidelity
from testbed.emulator.resend_guard import LARGEST, Answer, Answers, action_name

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


def with_resend_guard(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI wrapper: an SDK's resend of an answered request gets that answer (resend_guard.py)."""
    answers = Answers()

    def action(environ: dict[str, Any]) -> str:
        form = None
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            form = body.decode(errors="replace")
        return action_name(environ.get("HTTP_X_AMZ_TARGET"), form,
                           f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}")

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = {"amz-sdk-invocation-id": environ.get("HTTP_AMZ_SDK_INVOCATION_ID", ""),
                   "amz-sdk-request": environ.get("HTTP_AMZ_SDK_REQUEST", "")}
        replay, answer = answers.begin(headers, lambda: action(environ))
        if replay is not None:
            start_response(f"{replay.status} {replay.reason}", replay.headers)
            return [replay.body]
        if answer is None:
            return app(environ, start_response)
        return recorded(environ, start_response, answer)

    def recorded(environ: dict[str, Any], start_response: Callable[..., Any], answer: Answer) -> Iterable[bytes]:
        status: list[str] = []
        headers: list[tuple[str, str]] = []

        def keeping(line: str, response_headers: list[tuple[str, str]], *rest: Any) -> Any:
            status[:], headers[:] = [line], list(response_headers)
            return start_response(line, response_headers, *rest)

        body = bytearray()
        try:
            for chunk in app(environ, keeping):
                if len(body) <= LARGEST:
                    body += chunk
                yield chunk
        finally:
            code, _, reason = (status[0] if status else "0 ").partition(" ")
            answer.finish(int(code), reason, headers, bytes(body) if len(body) <= LARGEST else None)

    return wsgi


class RequestHandler(MotoRequestHandler):
    """moto's request handler, logging the connections a client drops (werkzeug is silent)."""

    def connection_dropped(self, error: BaseException, environ: dict[str, Any] | None = None) -> None:
        print(f"connection dropped by {self.client_address}: {error!r}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    app = with_resend_guard(with_hooks(DomainDispatcherApplication(create_backend_app)))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=RequestHandler)

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"ready http://{args.host}:{args.port}", flush=True)
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
