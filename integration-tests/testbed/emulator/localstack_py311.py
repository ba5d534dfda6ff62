"""Starts LocalStack's runtime (`python -m testbed.emulator.localstack_py311`, from LocalStack's venv) with
two changes:
  - the one Python 3.12 behaviour that LocalStack 4.13.1, the last release for Python 3.11,
    relies on and 3.11 lacks: `uuid.uuid5` with a bytes name. Its KMS derives key-material ids
    that way, so on 3.11 every CreateKey fails ("encoding without a string argument"), and with
    it S3's server-side encryption with KMS, which creates the `aws/s3` key on first use.
    `test_emulator_split.py` shows both working;
  - the resend guard (`resend_guard.py`) as the first request handler and the last response
    handler of its gateway's chain, as moto's server has it."""

from __future__ import annotations

import hashlib
import runpy
import uuid
from typing import Any

from testbed.emulator.resend_guard import Answers, action_name

_uuid5 = uuid.uuid5


def uuid5(namespace: uuid.UUID, name: str | bytes) -> uuid.UUID:
    """Python 3.12's uuid5: a str name is UTF-8 encoded, a bytes name is used as it is."""
    if isinstance(name, bytes):
        return uuid.UUID(bytes=hashlib.sha1(namespace.bytes + name).digest()[:16], version=5)
    return _uuid5(namespace, name)


def install_resend_guard() -> None:
    from localstack.aws.app import LocalstackAwsGateway

    answers = Answers()
    original_init = LocalstackAwsGateway.__init__

    def replay(chain: Any, context: Any, response: Any) -> None:
        again, answer = answers.begin(context.request.headers, lambda: action_name(
            context.request.headers.get("X-Amz-Target"), context.request.get_data(as_text=True),
            f"{context.request.method} {context.request.path}"))
        context.resend_answer = answer
        if again is not None:
            chain.respond(again.status, again.body, again.headers)
            chain.terminate()

    def record(chain: Any, context: Any, response: Any) -> None:
        answer = getattr(context, "resend_answer", None)
        if answer is not None and not answer.done.is_set():
            body = None if response.is_streamed else response.get_data()
            answer.finish(response.status_code, response.status.partition(" ")[2], list(response.headers.items()), body)

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.request_handlers.insert(0, replay)
        self.response_handlers.append(record)

    LocalstackAwsGateway.__init__ = init


if __name__ == "__main__":
    uuid.uuid5 = uuid5
    install_resend_guard()
    runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
