"""Answers an AWS SDK's resend of a request that the emulator already carried out with the answer
it gave, instead of carrying it out twice. Shared by moto's server (`server.py`, a WSGI wrapper)
and LocalStack's (`localstack_py311.py`, two handlers of its chain); standard library only,
because it runs in both emulators' environments.

Why: under a burst of requests (a Terraform apply runs ten at once) the Terraform provider's SDK
sometimes resends a request (`amz-sdk-request: attempt=2`, same `amz-sdk-invocation-id`) whose
first attempt the emulator answered 200 within milliseconds: the client reset the connection
before it read the answer (the server logs "connection dropped ... Connection reset by peer").
Carried out twice, a create fails with "RouteAlreadyExists", "InvalidPermission.Duplicate",
"EntityAlreadyExists" or "ConflictingDomainExists" on an empty emulator: the flakes of issue
27. AWS treats a resend of an answered create as the same call (`ClientToken`, and it does not
lose answers on loopback), so answering the resend with the first answer is what an
application sees against AWS. A first attempt that failed (5xx, throttling), or whose answer
was too large to keep, is carried out again, as AWS would. Every resend is logged to stderr
(the emulator's log) with what became of its first attempt.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Mapping
from urllib.parse import parse_qs

KEPT = 512  # invocations remembered, newest last
LARGEST = 1 << 20  # bytes of an answer kept for a resend


@dataclass
class Answer:
    """One SDK invocation's first answer; `done` is set once it is complete."""

    done: threading.Event = field(default_factory=threading.Event)
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    kept: bool = True

    def finish(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes | None) -> None:
        """Its answer; `body=None` when it can't be kept (streamed, or larger than LARGEST)."""
        self.status, self.reason, self.headers = status, reason, headers
        self.kept = body is not None and len(body) <= LARGEST
        self.body = body if body is not None and self.kept else b""
        self.done.set()

    def replayable(self) -> bool:
        throttled = b"Throttl" in self.body or b"RequestLimitExceeded" in self.body
        return self.kept and 0 < self.status < 500 and not throttled


def action_name(target: str | None, form: str | None, otherwise: str) -> str:
    """The operation a request calls, for the log: its X-Amz-Target (JSON protocols), else the
    `Action` of its form body (query protocols), else `otherwise`."""
    if target:
        return target
    return parse_qs(form or "").get("Action", [otherwise])[0]


class Answers:
    """The answers of recent invocations, by invocation id."""

    def __init__(self, log: Callable[[str], None] | None = None):
        self.lock = threading.Lock()
        self.answers: OrderedDict[str, Answer] = OrderedDict()
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))

    def begin(self, headers: Mapping[str, str], action: Callable[[], str]) -> tuple[Answer | None, Answer | None]:
        """(the answer to give again, None) for a resend of an answered request; else (None, the
        Answer to finish), or (None, None) for a request no SDK invocation id names."""
        invocation = headers.get("amz-sdk-invocation-id")
        if not invocation:
            return None, None
        attempt = headers.get("amz-sdk-request") or "attempt=1"
        if attempt.split(";")[0].strip() != "attempt=1":
            with self.lock:
                earlier = self.answers.get(invocation)
            answered = earlier is not None and earlier.done.wait(30)
            replay = answered and earlier is not None and earlier.replayable()
            outcome = ("never arrived here" if earlier is None
                       else f"answered {earlier.status}" if answered else "not answered within 30 s")
            self.log(f"sdk-resend {action()} invocation={invocation} {attempt}: the first attempt {outcome}; "
                     f"{'answered again' if replay else 'carried out'}")
            if replay:
                return earlier, None
        answer = Answer()
        with self.lock:
            self.answers.setdefault(invocation, answer)
            self.answers.move_to_end(invocation)
            while len(self.answers) > KEPT:
                self.answers.popitem(last=False)
        return None, answer
