"""ecs-discoverer behind the fault proxy (issue 15's fault suite): the real binary, the emulator's
estate, and AWS's own error answers switched on while it runs. Each scenario checks what an
operator relies on: what is counted, what stays served, and that it stops when told."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest

from testbed.fault_proxy import Call, FaultProxy, Mode, Rule
from testbed.harness import Emulator, Service, free_port, metric_sum, wait_until
from testbed.seed import Estate
from testbed.discoverer import seed_estate
from testbed.network import PLAN


@pytest.fixture
def proxy(emulator: Emulator) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(upstream=emulator.endpoints.of("ecs"))
    yield fault_proxy
    fault_proxy.close()


def start_discoverer(emulator: Emulator, proxy: FaultProxy, tmp_path: Path, *args: str) -> Service:
    """ECS, EC2 and Cloud Map through the proxy; everything else as the test bed routes it."""
    port = free_port()
    env = {**emulator.env, "AWS_ENDPOINT_URL_ECS": proxy.url, "AWS_ENDPOINT_URL_EC2": proxy.url,
           "AWS_ENDPOINT_URL_SERVICEDISCOVERY": proxy.url}
    return Service("ecs-discoverer", ["--listen", f"127.0.0.1:{port}", "--clusters", "east,us-east",
                                      "--interval", "1s", *args],
                   env=env, listen_port=port, log_dir=tmp_path)


def served(discoverer: Service) -> set[str]:
    response = discoverer.get("/prometheus-targets")
    if response.status_code != 200:
        return set()
    return {target for group in response.json() for target in group["targets"]}


def cycles(discoverer: Service, result: str) -> float:
    return metric_sum(discoverer.metrics(), "ecs_sd_cycles_total", result=result)


def after_more_cycles(discoverer: Service, result: str, count: int, what: str) -> None:
    """Waits until `count` more cycles than now have ended with `result`."""
    start = cycles(discoverer, result)
    wait_until(lambda: cycles(discoverer, result) >= start + count, 30, what)


def recovers(proxy: FaultProxy, discoverer: Service) -> None:
    """With every rule lifted, the next cycles succeed again."""
    proxy.set()
    after_more_cycles(discoverer, "success", 1, "a full success once allowed again")


def serving(discoverer: Service, expected: set[str]) -> set[str]:
    return wait_until(lambda: served(discoverer) if expected <= served(discoverer) else None, 30,
                      f"http_sd to serve {sorted(expected)}")


def on_ecs(call: Call) -> bool:
    return call.service == "ecs"


def test_one_cluster_denied_is_partial_and_keeps_its_targets(estate: Estate, emulator: Emulator,
                                                             proxy: FaultProxy, tmp_path: Path) -> None:
    expected = set(seed_estate(estate).values())
    discoverer = start_discoverer(emulator, proxy, tmp_path)
    try:
        before = serving(discoverer, expected)
        us_east = {t for t in before if t not in expected}
        assert us_east, f"us-east's own target is served: {before}"

        proxy.set(Rule(Mode.DENY, lambda call: on_ecs(call) and call.names_cluster("us-east")))
        after_more_cycles(discoverer, "partial", 2, "two partial cycles")
        metrics = discoverer.metrics()
        assert metric_sum(metrics, "ecs_sd_cluster_refresh_failures_total", cluster="us-east") >= 2, metrics
        assert metric_sum(metrics, "ecs_sd_cluster_refresh_failures_total", cluster="east") == 0, metrics
        assert served(discoverer) == before, "the denied cluster kept its targets, the other stayed"
        assert "AccessDeniedException" in discoverer.process.log(tail=100_000)

        recovers(proxy, discoverer)
    finally:
        assert discoverer.stop() == 0


def test_cloud_map_denied_is_partial_and_keeps_its_targets(estate: Estate, emulator: Emulator,
                                                          proxy: FaultProxy, tmp_path: Path) -> None:
    """Cloud Map is a source of its own: its failure is counted in its own series, its targets
    stay, and the clusters keep refreshing."""
    expected = set(seed_estate(estate).values())
    namespace = estate.cloudmap_namespace("apps.local")
    service = estate.cloudmap_service(namespace, "billing")
    estate.cloudmap_instance(service, "billing-1", {"AWS_INSTANCE_IPV4": PLAN.address(16, 200), "AWS_INSTANCE_PORT": "9300"})
    discoverer = start_discoverer(emulator, proxy, tmp_path, "--cloudmap-namespaces", "apps.local")
    try:
        before = serving(discoverer, expected | {f"{PLAN.address(16, 200)}:9300"})
        proxy.set(Rule(Mode.DENY, lambda call: call.service == "servicediscovery"))
        after_more_cycles(discoverer, "partial", 2, "two partial cycles")
        metrics = discoverer.metrics()
        assert metric_sum(metrics, "ecs_sd_cloudmap_refresh_failures_total") >= 2, metrics
        assert metric_sum(metrics, "ecs_sd_cluster_refresh_failures_total") == 0, metrics
        assert metric_sum(metrics, "ecs_sd_cloudmap_targets") == 1, metrics
        assert served(discoverer) == before
        recovers(proxy, discoverer)
    finally:
        assert discoverer.stop() == 0


def test_a_throttling_storm_is_counted_and_loses_no_target(estate: Estate, emulator: Emulator,
                                                           proxy: FaultProxy, tmp_path: Path) -> None:
    """ECS throttles (400 ThrottlingException) or fails (500) a third of the calls; EC2 answers its
    first two calls with 503 RequestLimitExceeded."""
    expected = set(seed_estate(estate).values())
    ec2_throttled = {"left": 2}

    def first_ec2_calls(call: Call) -> bool:
        if call.service != "ec2" or ec2_throttled["left"] == 0:
            return False
        ec2_throttled["left"] -= 1
        return True

    proxy.set(Rule(Mode.THROTTLE, first_ec2_calls),
              Rule(Mode.THROTTLE, on_ecs, probability=0.2),
              Rule(Mode.ERROR_500, on_ecs, probability=0.15))
    discoverer = start_discoverer(emulator, proxy, tmp_path)
    try:
        first = serving(discoverer, expected)
        done = cycles(discoverer, "success") + cycles(discoverer, "partial")
        samples = []
        while cycles(discoverer, "success") + cycles(discoverer, "partial") < done + 5:
            samples.append(served(discoverer))
            time.sleep(0.2)
        assert all(sample == first for sample in samples), "a target went missing during the storm"
        metrics = discoverer.metrics()
        assert metric_sum(metrics, "ecs_sd_aws_api_throttled_total", operation="DescribeInstances") == 2, metrics
        assert metric_sum(metrics, "ecs_sd_aws_api_throttled_total") >= proxy.count(Mode.THROTTLE), metrics
        assert proxy.count(Mode.THROTTLE) > 2 and proxy.count(Mode.ERROR_500) > 0
        assert cycles(discoverer, "success") >= 1
    finally:
        assert discoverer.stop() == 0


def test_a_slow_cluster_past_the_api_timeout_keeps_its_last_good(estate: Estate, emulator: Emulator,
                                                                 proxy: FaultProxy, tmp_path: Path) -> None:
    expected = set(seed_estate(estate).values())
    discoverer = start_discoverer(emulator, proxy, tmp_path, "--api-timeout", "2s")
    try:
        before = serving(discoverer, expected)
        proxy.set(Rule(Mode.SLOW, lambda call: on_ecs(call) and call.names_cluster("us-east"), delay=4))
        after_more_cycles(discoverer, "partial", 1, "a partial cycle")
        assert served(discoverer) == before
        assert metric_sum(discoverer.metrics(), "ecs_sd_cluster_refresh_failures_total", cluster="us-east") >= 1
    finally:
        assert discoverer.stop() == 0


def test_a_total_outage_after_success_freezes_the_timestamp_and_keeps_every_target(
        estate: Estate, emulator: Emulator, proxy: FaultProxy, tmp_path: Path) -> None:
    expected = set(seed_estate(estate).values())
    discoverer = start_discoverer(emulator, proxy, tmp_path)
    try:
        before = serving(discoverer, expected)
        proxy.set(Rule(Mode.DENY, lambda call: call.service in ("ecs", "ec2")))
        failures = cycles(discoverer, "failure")
        wait_until(lambda: cycles(discoverer, "failure") >= failures + 1, 30, "a failed cycle")
        frozen = metric_sum(discoverer.metrics(), "ecs_sd_last_success_timestamp_seconds")
        wait_until(lambda: cycles(discoverer, "failure") >= failures + 3, 30, "two more failed cycles")
        metrics = discoverer.metrics()
        assert metric_sum(metrics, "ecs_sd_last_success_timestamp_seconds") == frozen, metrics
        assert served(discoverer) == before
        assert discoverer.get("/ready").status_code == 200, "ready stays: it has targets to serve"
    finally:
        assert discoverer.stop() == 0


def test_sigterm_while_every_call_hangs_exits_zero_within_5s(estate: Estate, emulator: Emulator,
                                                              proxy: FaultProxy, tmp_path: Path) -> None:
    expected = set(seed_estate(estate).values())
    discoverer = start_discoverer(emulator, proxy, tmp_path)
    try:
        serving(discoverer, expected)
        proxy.set(Rule(Mode.BLACK_HOLE))
        wait_until(lambda: proxy.count(Mode.BLACK_HOLE) >= 1, 10, "a call held by the black hole")
        started = time.monotonic()
        discoverer.process.proc.send_signal(signal.SIGTERM)
        code = discoverer.process.proc.wait(timeout=15)
        assert (code, time.monotonic() - started < 5) == (0, True), time.monotonic() - started
    finally:
        discoverer.stop()


def test_a_deleted_output_file_is_written_again(estate: Estate, emulator: Emulator, proxy: FaultProxy,
                                                tmp_path: Path) -> None:
    seed_estate(estate)
    output = tmp_path / "sd"
    output.mkdir()
    discoverer = start_discoverer(emulator, proxy, tmp_path, "--output-dir", str(output))
    combined = output / "ecs_file_sd.json"
    try:
        written = wait_until(lambda: combined.read_text() if combined.exists() and json.loads(combined.read_text())
                             else None, 30, "the combined file with targets")
        combined.unlink()
        (output / "30s-tasks.json").unlink()
        wait_until(lambda: combined.exists() and (output / "30s-tasks.json").exists(), 15, "the files re-created")
        assert combined.read_text() == written
    finally:
        assert discoverer.stop() == 0
