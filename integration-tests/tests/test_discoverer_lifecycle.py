"""ecs-discoverer over time: Prometheus fed by file_sd, tasks starting, the AWS endpoint dying."""

from __future__ import annotations

import json
from pathlib import Path

from testbed.harness import Emulator, Service, free_port, metric_sum, metrics_after_next_cycle, wait_until
from testbed.seed import Estate, container
from testbed.discoverer import cycles_done, seed_estate


def start_discoverer(emulator: Emulator, output_dir: Path, *args: str) -> Service:
    output_dir.mkdir(exist_ok=True)
    port = free_port()
    discoverer = Service("ecs-discoverer", ["--listen", f"127.0.0.1:{port}", "--interval", "1s",
                                            "--output-dir", str(output_dir), *args],
                         env=emulator.env, listen_port=port, log_dir=output_dir.parent)
    wait_until(lambda: discoverer.get("/ready").status_code == 200, 30, "the first cycle")
    return discoverer


def served_addresses(discoverer: Service) -> set[str]:
    return {t for g in discoverer.get("/prometheus-targets").json() for t in g["targets"]}


def test_prometheus_fed_by_file_sd_lists_the_targets_with_their_labels(
        estate: Estate, emulator: Emulator, tmp_path: Path, prometheus_factory) -> None:
    expected = seed_estate(estate)
    output = tmp_path / "sd"
    discoverer = start_discoverer(emulator, output, "--clusters", "east")
    try:
        prometheus = prometheus_factory(config={
            "global": {"scrape_interval": "1m", "scrape_timeout": "5s"},
            "scrape_configs": [{"job_name": "ecs", "file_sd_configs": [
                {"files": [str(output / "ecs_file_sd.json")], "refresh_interval": "5s"}]}],
        })

        def listed() -> dict[str, dict]:
            targets = {t["discoveredLabels"]["__address__"]: t for t in prometheus.active_targets()}
            return targets if set(expected.values()) <= set(targets) else {}

        targets = wait_until(listed, 30, "Prometheus to list the file_sd targets")
        app, exporter, node = targets[expected["app"]], targets[expected["exporter"]], targets[expected["node"]]
        assert app["labels"]["job"] == "bridge-app" and app["labels"]["ecs_service"] == "web"
        assert app["labels"]["ecs_container"] == "app" and app["labels"]["ecs_cluster"] == "east"
        assert app["scrapeInterval"] == "30s"
        assert exporter["labels"]["job"] == "sidecar"
        assert node["discoveredLabels"]["__meta_ecs_network_mode"] == "host"
        assert node["discoveredLabels"]["__meta_ecs_task_group"] == "family:node"
        assert targets[expected["api"]]["labels"]["scrape_target_name"] == "api"
    finally:
        assert discoverer.stop() == 0


def test_a_started_task_appears_within_one_cycle(estate: Estate, emulator: Emulator, tmp_path: Path) -> None:
    estate.cluster("east")
    instance = estate.container_instance("east")
    definition = estate.task_definition("late", [container("late", ports=[9400], env={"PROMETHEUS": "1"})],
                                        network_mode="host")
    discoverer = start_discoverer(emulator, tmp_path / "sd", "--clusters", "east")
    try:
        assert served_addresses(discoverer) == set()
        estate.run_tasks("east", definition)
        started_at = cycles_done(discoverer.metrics())
        address = f"{instance.private_ip}:9400"
        wait_until(lambda: address in served_addresses(discoverer), 15, "the started task to be served")
        # The cycle running when the task started may have listed before it; the next one finds it.
        assert cycles_done(discoverer.metrics()) - started_at <= 2
        # The files are written just after http_sd changes.
        tasks_file = tmp_path / "sd" / "tasks.json"
        wait_until(lambda: [g["targets"] for g in json.loads(tasks_file.read_text())] == [[address]], 5,
                   "tasks.json to hold the started task")
    finally:
        assert discoverer.stop() == 0


def failures(metrics: str, cluster: str) -> float:
    return metric_sum(metrics, "ecs_sd_cluster_refresh_failures_total", cluster=cluster)


def files(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir())}


def test_a_dead_endpoint_keeps_files_and_http_sd_then_updates_resume(tmp_path: Path) -> None:
    own = Emulator(log_dir=tmp_path / "emulator", embedded=True, localstack=False)  # the discoverer uses moto only
    discoverer = None
    try:
        estate = Estate.of(own)
        estate.network()
        expected = seed_estate(estate)
        output = tmp_path / "sd"
        # A failed refresh ends at --api-timeout (the SDK's retries against a dead endpoint take
        # about 25 s at the default 30s); 5s is still far above a call to a live emulator.
        discoverer = start_discoverer(own, output, "--clusters", "east", "--api-timeout", "5s")
        wait_until(lambda: set(expected.values()) <= served_addresses(discoverer), 15, "the estate")
        # http_sd changes before the files are written: the cycle is counted once they are.
        metrics_after_next_cycle(discoverer.metrics)
        before_files = files(output)
        before_body = discoverer.get("/prometheus-targets").content

        own.kill()
        wait_until(lambda: failures(discoverer.metrics(), "east") >= 2, 120, "two failed refreshes")
        assert files(output) == before_files, "a failed cycle touched the file_sd files"
        answer = discoverer.get("/prometheus-targets")
        assert answer.status_code == 200 and answer.content == before_body
        assert discoverer.get("/ready").status_code == 200

        # The emulator comes back empty; a new estate is discovered and written.
        own.start()
        estate = Estate.of(own)
        estate.network()
        estate.cluster("east")
        instance = estate.container_instance("east")
        node = estate.task_definition("node", [container("node", ports=[9101],
                                                         labels={"PROMETHEUS_EXPORTER_PORT": "9101"})],
                                      network_mode="host")
        estate.run_tasks("east", node)
        fresh = {f"{instance.private_ip}:9101"}
        wait_until(lambda: served_addresses(discoverer) == fresh, 120, "updates to resume")
        combined = output / "ecs_file_sd.json"
        wait_until(lambda: {t for g in json.loads(combined.read_text()) for t in g["targets"]} == fresh, 5,
                   "ecs_file_sd.json to hold the new estate")
    finally:
        if discoverer is not None:
            assert discoverer.stop() == 0
        own.stop()
