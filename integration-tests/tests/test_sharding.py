"""Scale-out past one Prometheus: two servers read the same http_sd endpoint and each keeps its
half with `hashmod` relabeling on the address. The halves are disjoint and complete, and the
discoverer's AWS calls don't grow with the number of servers polling it."""

from __future__ import annotations

from pathlib import Path

from testbed.harness import Emulator, Service, free_port, wait_until
from testbed.seed import Estate, container
from testbed.discoverer import after_a_cycle


def shard_config(url: str, shard: int) -> dict:
    return {
        "global": {"scrape_interval": "1m"},
        "scrape_configs": [{
            "job_name": "ecs",
            "http_sd_configs": [{"url": url, "refresh_interval": "1s"}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "modulus": 2, "target_label": "__tmp_shard", "action": "hashmod"},
                {"source_labels": ["__tmp_shard"], "regex": str(shard), "action": "keep"},
            ],
        }],
    }


def test_two_hashmod_shards_split_the_targets_disjoint_and_complete(estate: Estate, emulator: Emulator,
                                                                    tmp_path: Path, prometheus_factory) -> None:
    estate.cluster("east")
    api = estate.task_definition("api", [container("api", ports=[8000], env={"PROMETHEUS_TARGET": "true",
                                                                          "PROMETHEUS_ENDPOINT": "/a,30s:/b"})],
                                 network_mode="awsvpc", fargate=True)
    estate.run_tasks("east", api, count=10, fargate=True)
    estate.run_tasks("east", api, count=10, fargate=True, subnet_index=1)
    port = free_port()
    discoverer = Service("ecs-discoverer", ["--listen", f"127.0.0.1:{port}", "--interval", "1s", "--clusters", "east"],
                         env=emulator.env, listen_port=port, log_dir=tmp_path)
    try:
        wait_until(lambda: discoverer.get("/ready").status_code == 200, 30, "the first cycle")
        served = {(t, g["labels"]["__metrics_path__"]) for g in discoverer.get("/prometheus-targets").json()
                  for t in g["targets"]}
        assert len(served) == 40  # 20 tasks x 2 endpoints
        quiet_before, _ = after_a_cycle(discoverer)
        quiet_after, _ = after_a_cycle(discoverer)

        url = f"http://127.0.0.1:{port}/prometheus-targets"
        shards = [prometheus_factory(config=shard_config(url, shard)) for shard in (0, 1)]

        def halves() -> list[set]:
            found = [{(t["discoveredLabels"]["__address__"], t["discoveredLabels"]["__metrics_path__"])
                      for t in shard.active_targets()} for shard in shards]
            return found if sum(len(h) for h in found) == len(served) else []

        first, second = wait_until(halves, 30, "both shards to list their halves")
        assert first and second, "hashmod put every target on one shard"
        assert not first & second, "a target is scraped by both shards"
        assert first | second == served

        # Two servers polling every second: each cycle still costs only its ListTasks call.
        before, cycles_before = after_a_cycle(discoverer)
        after, cycles_after = after_a_cycle(discoverer)
        polled = {op: after[op] - before.get(op, 0) for op in after if after[op] != before.get(op, 0)}
        assert polled == {"ListTasks": cycles_after - cycles_before}, polled
        quiet = {op: quiet_after[op] - quiet_before.get(op, 0) for op in quiet_after
                 if quiet_after[op] != quiet_before.get(op, 0)}
        assert set(quiet) == {"ListTasks"}, quiet
    finally:
        assert discoverer.stop() == 0
