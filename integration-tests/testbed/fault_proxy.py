"""A switchable fault proxy in front of the emulator: it forwards AWS calls as they are, or answers
them as AWS does when it denies, throttles, fails, is slow, or never answers.

The error answers are AWS's own shapes: the JSON protocols (ECS, Cloud Map) send
`{"__type": ..., "message": ...}` with the `x-amzn-ErrorType` header, EC2's query protocol an XML
`<Response><Errors><Error><Code>` body. Throttling is ECS's 400 `ThrottlingException` and EC2's
503 `RequestLimitExceeded`, the two shapes the discoverer must both count."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import requests


class Mode(Enum):
    PASS = "pass"
    DENY = "deny"  # not retryable: AccessDenied
    THROTTLE = "throttle"  # retryable: ECS 400 ThrottlingException, EC2 503 RequestLimitExceeded
    ERROR_500 = "500"  # retryable: a server error
    SLOW = "slow"  # answered, after `delay` seconds
    BLACK_HOLE = "black_hole"  # the connection is held and never answered


@dataclass
class Call:
    """One AWS call as the proxy sees it."""
    service: str  # "ecs", "ec2", "servicediscovery", or "other"
    operation: str
    params: dict

    def names_cluster(self, cluster: str) -> bool:
        """Whether the call is about `cluster` (by name or ARN), alone or in a batch."""
        def same(value: object) -> bool:
            return isinstance(value, str) and (value == cluster or value.endswith(f":cluster/{cluster}"))
        return same(self.params.get("cluster")) or any(same(c) for c in self.params.get("clusters") or [])


def parse_call(headers: dict[str, str], body: bytes) -> Call:
    target = headers.get("x-amz-target", "")
    if target:
        prefix, _, operation = target.partition(".")
        service = {"AmazonEC2ContainerServiceV20141113": "ecs",
                   "Route53AutoNaming_v20170314": "servicediscovery"}.get(prefix, "other")
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        return Call(service, operation, params if isinstance(params, dict) else {})
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    action = form.get("Action", [""])[0]
    return Call("ec2" if action else "other", action, {k: v[0] for k, v in form.items()})


def error_answer(call: Call, mode: Mode) -> tuple[int, dict[str, str], bytes]:
    code, status = {
        Mode.DENY: ("AccessDeniedException", 400),
        Mode.THROTTLE: ("ThrottlingException", 400),
        Mode.ERROR_500: ("ServerException", 500),
    }[mode]
    if call.service == "ec2":
        code, status = {Mode.DENY: ("UnauthorizedOperation", 403),
                        Mode.THROTTLE: ("RequestLimitExceeded", 503),
                        Mode.ERROR_500: ("InternalError", 500)}[mode]
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
                f"<Message>fault proxy: {mode.value}</Message></Error></Errors>"
                "<RequestID>fault-proxy</RequestID></Response>").encode()
        return status, {"Content-Type": "text/xml;charset=UTF-8"}, body
    body = json.dumps({"__type": code, "message": f"fault proxy: {mode.value}"}).encode()
    return status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}, body


@dataclass
class Rule:
    """Calls that `matches` get `mode`, with `probability` (a storm hits some calls, not all)."""
    mode: Mode
    matches: Callable[[Call], bool] = lambda call: True
    probability: float = 1.0
    delay: float = 0.0


@dataclass
class FaultProxy:
    """Forwards to `upstream` unless a rule says otherwise; rules can be switched while it runs."""
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    answered: dict[str, int] = field(default_factory=dict)  # mode -> calls answered so

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.random = random.Random(15)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                proxy.handle(self)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set(self, *rules: Rule) -> None:
        with self.lock:
            self.rules = list(rules)

    def count(self, mode: Mode) -> int:
        with self.lock:
            return self.answered.get(mode.value, 0)

    def _mode_for(self, call: Call) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.matches(call) and self.random.random() < rule.probability:
                    self.answered[rule.mode.value] = self.answered.get(rule.mode.value, 0) + 1
                    return rule
        return None

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in request.headers.items()}
        call = parse_call(headers, body)
        rule = self._mode_for(call)
        if rule is not None and rule.mode is Mode.BLACK_HOLE:
            self.release.wait()
            return
        if rule is not None and rule.mode is Mode.SLOW:
            time.sleep(rule.delay)
        if rule is not None and rule.mode in (Mode.DENY, Mode.THROTTLE, Mode.ERROR_500):
            status, answer_headers, answer = error_answer(call, rule.mode)
        else:
            forwarded = requests.request(request.command, self.upstream + request.path, data=body, timeout=60,
                                         headers={k: v for k, v in request.headers.items() if k.lower() != "host"})
            status, answer = forwarded.status_code, forwarded.content
            answer_headers = {k: v for k, v in forwarded.headers.items()
                              if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                                   "content-encoding")}
        request.send_response(status)
        for name, value in answer_headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(answer)))
        request.end_headers()
        request.wfile.write(answer)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
