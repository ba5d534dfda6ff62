"""ecs-discoverer against the emulator and a real Prometheus."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from testbed.discoverer import after_a_cycle, run_once, seed_estate
from testbed.harness import Emulator, Service, free_port, service_binary, wait_until
from testbed.seed import Estate
from testbed.network import PLAN

BILLING = PLAN.address(16, 200)  # a Cloud Map instance of the test's own


def test_once_writes_every_convention_and_network_mode(estate: Estate, emulator: Emulator, tmp_path: Path) -> None:
    expected = seed_estate(estate)
    done = run_once(emulator, "--clusters", "east", "--output-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    groups = json.loads((tmp_path / "ecs_file_sd.json").read_text())
    by_container = {g["labels"]["ecs_container"]: g for g in groups}
    assert {c: g["targets"][0] for c, g in by_container.items()} == expected
    assert by_container["app"]["labels"]["__scrape_interval__"] == "30s"
    assert by_container["app"]["labels"]["ecs_service"] == "web"
    assert by_container["app"]["labels"]["__meta_ecs_tag_service_team"] == "obs"
    assert by_container["exporter"]["labels"]["job"] == "sidecar"
    assert "ecs_service" not in by_container["node"]["labels"]
    assert by_container["api"]["labels"]["scrape_target_name"] == "api"
    assert by_container["api"]["labels"]["__meta_ecs_launch_type"] == "FARGATE"
    assert json.loads((tmp_path / "30s-tasks.json").read_text())[0]["targets"] == [expected["app"]]
    for name in ("15s-tasks.json", "1m-tasks.json", "5m-tasks.json"):
        assert json.loads((tmp_path / name).read_text()) == []
    assert len(json.loads((tmp_path / "tasks.json").read_text())) == 3


def test_explain_names_the_skipped_container(estate: Estate, emulator: Emulator) -> None:
    seed_estate(estate)
    done = subprocess.run([str(service_binary("ecs-discoverer")), "explain", "--clusters", "east"],
                          env={**emulator.env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "container=odd" in done.stdout and "PROMETHEUS_PORT='abc'" in done.stdout


def test_once_fails_clearly_for_an_unknown_cluster(estate: Estate, emulator: Emulator) -> None:
    done = run_once(emulator, "--clusters", "nope")
    assert done.returncode != 0
    assert "nope" in done.stderr and "--clusters" in done.stderr



def test_serves_prometheus_and_stays_at_the_lower_bound(estate: Estate, emulator: Emulator, tmp_path: Path,
                                                         prometheus_factory) -> None:
    expected = seed_estate(estate)
    port = free_port()
    discoverer = Service("ecs-discoverer", ["--listen", f"127.0.0.1:{port}", "--interval", "1s",
                                            "--output-dir", str(tmp_path)],
                         env=emulator.env, listen_port=port, log_dir=tmp_path)
    try:
        wait_until(lambda: discoverer.get("/ready").status_code == 200, 30, "the first cycle")
        prometheus = prometheus_factory(config={
            "global": {"scrape_interval": "1m", "scrape_timeout": "5s"},
            "scrape_configs": [{"job_name": "ecs", "http_sd_configs": [
                {"url": f"http://127.0.0.1:{port}/prometheus-targets", "refresh_interval": "1s"}]}],
        })

        def listed() -> dict[str, dict]:
            targets = {t["discoveredLabels"]["__address__"]: t for t in prometheus.active_targets()}
            return targets if set(expected.values()) <= set(targets) else {}

        targets = wait_until(listed, 30, "Prometheus to list the discovered targets")
        app = targets[expected["app"]]
        assert app["labels"]["ecs_cluster"] == "east" and app["labels"]["job"] == "bridge-app"
        assert app["scrapeInterval"] == "30s"  # __scrape_interval__ from PROMETHEUS_ENDPOINT

        # Warm cycles on an unchanged estate: 1 ListClusters + 1 ListTasks per cluster, nothing else.
        before, cycles_before = after_a_cycle(discoverer)
        for _ in range(3):
            after, cycles_after = after_a_cycle(discoverer)
        delta = {op: after[op] - before.get(op, 0) for op in after if after[op] != before.get(op, 0)}
        cycles = cycles_after - cycles_before
        assert cycles >= 3
        assert delta == {"ListClusters": cycles, "ListTasks": 2 * cycles}, delta
        # The cold cycle looked up the EC2 addresses of both clusters' container instances at once.
        assert after["DescribeInstances"] == 1, after

        # A stopped task disappears within one cycle.
        node_task = estate.ecs.list_tasks(cluster="east", family="node")["taskArns"][0]
        estate.stop_task("east", node_task)
        wait_until(lambda: expected["node"] not in discoverer.get("/prometheus-targets").text, 10,
                   "the stopped task to disappear")
    finally:
        assert discoverer.stop() == 0




def test_cloudmap_namespaces_join_the_combined_file_and_http_sd(estate: Estate, emulator: Emulator,
                                                                 tmp_path: Path) -> None:
    expected = seed_estate(estate)
    namespace = estate.cloudmap_namespace("apps.local")
    service = estate.cloudmap_service(namespace, "billing", tags={"METRICS_PATH": "/internal/metrics"})
    estate.cloudmap_instance(service, "billing-1", {"AWS_INSTANCE_IPV4": BILLING,
                                                    "AWS_INSTANCE_PORT": "9300", "ECS_CLUSTER_NAME": "east"})
    done = run_once(emulator, "--clusters", "east", "--output-dir", str(tmp_path),
                    "--cloudmap-namespaces", "apps.local")
    assert done.returncode == 0, done.stderr
    groups = json.loads((tmp_path / "ecs_file_sd.json").read_text())
    [billing] = [g for g in groups if g["labels"].get("__meta_cloudmap_service_name") == "billing"]
    assert billing["targets"] == [f"{BILLING}:9300"]
    assert billing["labels"]["__metrics_path__"] == "/internal/metrics"
    assert billing["labels"]["ecs_cluster"] == "east"
    assert billing["labels"]["__meta_cloudmap_instance_id"] == "billing-1"
    assert {g["targets"][0] for g in groups} == set(expected.values()) | {f"{BILLING}:9300"}
    assert BILLING not in (tmp_path / "tasks.json").read_text(), "Cloud Map is in no per-interval file"

    missing = run_once(emulator, "--clusters", "east", "--cloudmap-namespaces", "nope.local")
    assert missing.returncode != 0 and "'nope.local'" in missing.stderr
