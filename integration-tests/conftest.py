"""pytest fixtures of the test bed: one emulator per worker, reset before each test that uses it,
and a fresh one for each module that applies the stack; the tests that use the ECS agent all run
on one worker (`ecs_agent` marker)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from testbed.agent_tasks import CLUSTER
from testbed.ecs_agent import Agent
from testbed.harness import Emulator, NodeExporter, Prometheus, describe_split, localstack_wanted
from testbed.seed import Estate


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emulator = Emulator(log_dir=tmp_path_factory.mktemp("emulator"))
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def fresh_emulator(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A new embedded emulator process for one module (an external one is used as given, reset).

    For a module that applies the stack with Terraform: no test that mutates the shared emulator
    shares state with the apply. It does not cure the double creates seen in applies
    (InvalidSubnet.Conflict, ConflictingDomainExists, InvalidPermission.Duplicate on the shared
    emulator; RouteAlreadyExists once on a fresh one): their cause is not found yet."""
    if emulator.external:
        emulator.reset()
        yield emulator
        return
    fresh = Emulator(log_dir=tmp_path_factory.mktemp("fresh-emulator"), embedded=True)
    try:
        yield fresh
    finally:
        fresh.stop()


@pytest.fixture
def estate(emulator: Emulator) -> Estate:
    """A clean emulator (reset) with a loopback VPC, ready to seed."""
    emulator.reset()
    estate = Estate.of(emulator)
    estate.network()
    return estate


@pytest.fixture
def agent(estate: Estate, emulator: Emulator) -> Iterator[Agent]:
    """The test bed's ECS agent on the cluster of `agent_tasks`, with quick health checks and no
    service replacement. What it reports in `errors` fails the test: a test that provokes an
    error takes it out of the list."""
    estate.cluster(CLUSTER)
    running = Agent(emulator.endpoint, estate.client, emulator.env, health_scale=0.05, stop_grace=5,
                    replace_stopped=False)
    try:
        yield running
    finally:
        running.stop()
    assert not running.errors, "the agent reported errors:\n" + "\n".join(running.errors)


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


# tryfirst: pytest-xdist's own hook reads the `xdist_group` markers added here.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """How pytest-xdist's workers share the tests (`--dist loadgroup`), longest units first:

    - the tests of the ECS agent go first, a module to a worker: two workers' agents run side by
      side (each worker has its own addresses, testbed/network.py, and `ip_forward` is held in
      common, sandbox.Forwarding), but a module's tests share its emulator and its estates;
    - the tests of a module that share a module-scoped fixture (an applied stack, a running bed)
      run on one worker, one after another: split, each worker would build the fixture again,
      and a worker's module change tears it down;
    - every other test is a unit of its own.

    A test on an applied stack (it needs `fresh_emulator`) is also marked `terraform_apply`,
    which `make test-fast` leaves out."""
    rank: dict[str, int] = {}
    for item in items:
        if item.get_closest_marker("ecs_agent"):
            group, rank[item.nodeid] = f"ecs-agent:{item.nodeid.split('::')[0]}", 0
        elif shared := module_fixtures(item):
            # No "]" or "@" in a group's name: xdist finds the name after the last "@" of the
            # node ID only when no "]" follows it.
            group, rank[item.nodeid] = f"{item.nodeid.split('::')[0]}:{'+'.join(shared)}", 1
        else:
            group, rank[item.nodeid] = None, 2
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
        if "fresh_emulator" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.terraform_apply)
    items.sort(key=lambda item: rank[item.nodeid])  # stable: each unit keeps its order


def module_fixtures(item: pytest.Item) -> list[str]:
    """The module-scoped fixtures a test uses, directly or through others. pytest keeps them in
    the item's fixture info, which has no public accessor."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return []
    return sorted(name for name, definitions in info.name2fixturedefs.items()
                  if definitions and definitions[-1].scope == "module")


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
    split = describe_split(localstack_wanted())
    if "LocalStack" not in split:
        return f"emulators: moto alone (EMULATORS=moto): {split['moto']} ran on moto, NOT on LocalStack"
    return f"emulators: LocalStack ({split['LocalStack']}) beside moto with the fidelity layer ({split['moto']})"
