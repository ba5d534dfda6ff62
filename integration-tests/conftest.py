"""pytest fixtures of the test bed: one emulator per run, reset before each test that uses it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from harness import LOCALSTACK_SERVICES, Emulator, NodeExporter, Prometheus, localstack_wanted
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
    estate = Estate.of(emulator)
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


def pytest_report_header(config: pytest.Config) -> str:
    return emulators_in_use()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(emulators_in_use())


def emulators_in_use() -> str:
    """Which emulator served what: said at the start and the end of every run, so a run on moto
    alone (EMULATORS=moto) or against an external endpoint never passes for the split one."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        return (f"emulators: everything at the external AWS_ENDPOINT_URL={os.environ['AWS_ENDPOINT_URL']} "
                "(the fidelity layer's tests need the embedded moto: see README)")
    if not localstack_wanted():
        return ("emulators: moto alone (EMULATORS=moto): SSM, S3, IAM, STS, KMS, Secrets Manager and Logs "
                "ran on moto, NOT on LocalStack")
    return (f"emulators: LocalStack ({', '.join(LOCALSTACK_SERVICES)}) beside moto with the fidelity layer "
            "(ECS, EC2, Cloud Map, Auto Scaling, AMP, EventBridge, SQS)")
