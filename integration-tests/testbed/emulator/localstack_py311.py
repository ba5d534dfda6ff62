"""Starts LocalStack's runtime (`python -m testbed.emulator.localstack_py311`, from LocalStack's venv) with
the one Python 3.12 behaviour that LocalStack 4.13.1, the last release for Python 3.11, relies on
and 3.11 lacks: `uuid.uuid5` with a bytes name. Its KMS derives key-material ids that way, so on
3.11 every CreateKey fails ("encoding without a string argument"), and with it S3's server-side
encryption with KMS, which creates the `aws/s3` key on first use. `test_emulator_split.py` shows
both working."""

from __future__ import annotations

import hashlib
import runpy
import uuid

_uuid5 = uuid.uuid5


def uuid5(namespace: uuid.UUID, name: str | bytes) -> uuid.UUID:
    """Python 3.12's uuid5: a str name is UTF-8 encoded, a bytes name is used as it is."""
    if isinstance(name, bytes):
        return uuid.UUID(bytes=hashlib.sha1(namespace.bytes + name).digest()[:16], version=5)
    return _uuid5(namespace, name)


if __name__ == "__main__":
    uuid.uuid5 = uuid5
    runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
