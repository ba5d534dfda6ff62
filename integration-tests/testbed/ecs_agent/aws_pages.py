"""Every item of a paginated AWS listing, for the agent's reads of the emulator."""

from __future__ import annotations

from typing import Any


def every(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """The `key` items of every page of `operation` (a boto3 paginator) called with `kwargs`."""
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]
