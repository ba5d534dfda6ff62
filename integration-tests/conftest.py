"""pytest fixtures of the test bed: one emulator per run, reset before each test that uses it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from harness import Emulator, NodeExporter, Prometheus
from seed import Estate


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emulator = Emulator(log_dir=tmp_path_factory.mktemp("emulator"))
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def estate(emulator: Emulator) -> Estate:
    """A clean emulator (reset) with a loopback VPC, ready to seed."""
    emulator.reset()
    estate = Estate(emulator.endpoint)
    estate.network()
    return estate


@pytest.fixture
def node_exporter(tmp_path: Path) -> Iterator[NodeExporter]:
    exporter = NodeExporter(log_dir=tmp_path)
    try:
        yield exporter
    finally:
        exporter.stop()


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[type]:
    """Start Prometheus servers with `prometheus_factory(config=...)`; all are stopped at teardown."""
    started: list[Prometheus] = []

    def start(**kwargs: object) -> Prometheus:
        kwargs.setdefault("workdir", tmp_path / f"prometheus-{len(started)}")
        server = Prometheus(**kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    try:
        yield start  # type: ignore[misc]
    finally:
        for server in started:
            server.stop()
