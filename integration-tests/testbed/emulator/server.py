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
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

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


@dataclass
class Answer:
    """One SDK invocation's answer, kept for its resends; `done` is set once it is complete."""

    done: threading.Event = field(default_factory=threading.Event)
    status: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    seconds: float = 0.0
    kept: bool = True  # False: too large to keep, so a resend is carried out


class ResendGuard:
    """WSGI wrapper: a request that an AWS SDK resends (`amz-sdk-request: attempt=N`, N > 1,
    same `amz-sdk-invocation-id`) after this server already answered it gets that answer again,
    instead of being carried out twice.

    Under a burst of requests (a Terraform apply runs ten at once) the SDK sometimes resends a
    request whose first attempt moto answered 200 within milliseconds: its answer is lost between
    werkzeug's development server and the client. Carried out twice, a create fails with
    "RouteAlreadyExists", "InvalidPermission.Duplicate" or "ConflictingDomainExists" on an empty
    emulator: the flakes of issue 27. AWS itself would not lose the answer on loopback, and it
    treats a resend of an answered create as the same call (`ClientToken`), so answering the
    resend with the first answer is what an application sees against AWS. An earlier attempt that
    failed (5xx, throttling) is carried out again, as AWS would. Each resend is logged to stderr
    (the emulator's log) with what became of its first attempt."""

    KEPT = 512
    LARGEST = 1 << 20  # a body larger than this is not kept (no resend of it has been seen)

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.lock = threading.Lock()
        self.answers: OrderedDict[str, Answer] = OrderedDict()

    @staticmethod
    def action(environ: dict[str, Any]) -> str:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return target
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            return parse_qs(body.decode(errors="replace")).get("Action", ["?"])[0]
        return f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        invocation = environ.get("HTTP_AMZ_SDK_INVOCATION_ID")
        if invocation is None:
            return self.app(environ, start_response)
        attempt = environ.get("HTTP_AMZ_SDK_REQUEST", "attempt=1")
        if attempt.split(";")[0].strip() != "attempt=1":
            with self.lock:
                earlier = self.answers.get(invocation)
            replay = self.replayable(earlier)
            outcome = ("never arrived here" if earlier is None
                       else f"answered {earlier.status} after {earlier.seconds:.2f} s" if earlier.done.is_set()
                       else "not answered within 30 s")
            print(f"sdk-resend {self.action(environ)} invocation={invocation} {attempt}: the first attempt "
                  f"{outcome}; {'answered again' if replay else 'carried out'}", file=sys.stderr, flush=True)
            if replay and earlier is not None:
                start_response(earlier.status, earlier.headers)
                return [earlier.body]
        answer = Answer()
        with self.lock:
            self.answers.setdefault(invocation, answer)
            self.answers.move_to_end(invocation)
            while len(self.answers) > self.KEPT:
                self.answers.popitem(last=False)
        return self.recorded(environ, start_response, answer)

    @staticmethod
    def replayable(earlier: Answer | None) -> bool:
        if earlier is None or not earlier.done.wait(30) or not earlier.kept or not earlier.status:
            return False
        code = int(earlier.status.split()[0])
        throttled = b"Throttl" in earlier.body or b"RequestLimitExceeded" in earlier.body
        return code < 500 and not throttled

    def recorded(self, environ: dict[str, Any], start_response: Callable[..., Any], answer: Answer) -> Iterable[bytes]:
        started = time.monotonic()

        def keeping_start_response(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            answer.status, answer.headers = status, list(headers)
            return start_response(status, headers, *rest)

        body = bytearray()
        try:
            for chunk in self.app(environ, keeping_start_response):
                if len(body) <= self.LARGEST:
                    body += chunk
                yield chunk
        finally:
            answer.kept = len(body) <= self.LARGEST
            answer.body, answer.seconds = bytes(body), time.monotonic() - started
            answer.done.set()


class RequestHandler(MotoRequestHandler):
    """moto's request handler, logging the connections a client drops (werkzeug is silent)."""

    def connection_dropped(self, error: BaseException, environ: dict[str, Any] | None = None) -> None:
        print(f"connection dropped by {self.client_address}: {error!r}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    app = ResendGuard(with_hooks(DomainDispatcherApplication(create_backend_app)))
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
