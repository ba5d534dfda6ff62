"""Event-driven discovery end to end (issue 16): the real ecs-discoverer reading the SQS queue
that an EventBridge rule fills with the emulator's ECS task state changes (fidelity patch P16).
With a 10-minute interval, a task run or stopped after start-up reaches http_sd and file_sd
through the queue alone; what isn't a task change is deleted and counted; and a queue that
can't be read leaves discovery to the cycles."""

from __future__ import annotations

import json
import time
from pathlib import Path

from testbed.harness import Emulator, Service, free_port, metric_sum, wait_until
from testbed.seed import Estate, container

MARKED = {"PROMETHEUS": "true"}


def start(emulator: Emulator, tmp_path: Path, queue_url: str, *args: str) -> Service:
    port = free_port()
    return Service("ecs-discoverer", ["--listen", f"127.0.0.1:{port}", "--clusters", "c1",
                                      "--events-queue-url", queue_url, "--output-dir", str(tmp_path),
                                      *args],
                   env=emulator.env, listen_port=port, log_dir=tmp_path)


def served(discoverer: Service) -> set[str]:
    response = discoverer.get("/prometheus-targets")
    if response.status_code != 200:
        return set()
    return {target for group in response.json() for target in group["targets"]}


def in_file_sd(tmp_path: Path) -> set[str]:
    groups = json.loads((tmp_path / "ecs_file_sd.json").read_text())
    return {target for group in groups for target in group["targets"]}


def waiting_messages(estate: Estate, url: str) -> int:
    attributes = estate.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                      "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return sum(int(v) for v in attributes.values())


def bridge_target(estate: Estate, arn: str, instance_ip: str) -> str:
    [task] = estate.ecs.describe_tasks(cluster="c1", tasks=[arn])["tasks"]
    return f"{instance_ip}:{task['containers'][0]['networkBindings'][0]['hostPort']}"


def test_tasks_run_and_stopped_reach_http_sd_and_file_sd_through_the_queue(
        estate: Estate, emulator: Emulator, tmp_path: Path) -> None:
    cluster = estate.cluster("c1")
    instance = estate.container_instance("c1")
    bridge = estate.task_definition("bridge-app", [container("app", ports=[8080], env=MARKED)])
    fargate = estate.task_definition("vpc-app", [container("app", ports=[8080], env=MARKED)],
                                     network_mode="awsvpc", fargate=True)
    [first] = estate.run_tasks("c1", bridge)
    url = estate.events_queue("task-events", clusters=[cluster])
    discoverer = start(emulator, tmp_path, url, "--interval", "10m")
    try:
        first_target = bridge_target(estate, first, instance.private_ip)
        wait_until(lambda: served(discoverer) == {first_target}, 30, "the first cycle's target")

        started = time.monotonic()
        [second] = estate.run_tasks("c1", bridge)
        second_target = bridge_target(estate, second, instance.private_ip)
        wait_until(lambda: second_target in served(discoverer), 10, "the RunTask through the queue")
        added_in = time.monotonic() - started
        # The files are written just after http_sd changes, within the spec's 2 s.
        wait_until(lambda: second_target in in_file_sd(tmp_path), 2, "file_sd written with http_sd")

        [vpc_task] = estate.run_tasks("c1", fargate, fargate=True)
        [described] = estate.ecs.describe_tasks(cluster="c1", tasks=[vpc_task])["tasks"]
        eni = {d["name"]: d["value"] for d in described["attachments"][0]["details"]}
        vpc_target = f"{eni['privateIPv4Address']}:8080"
        wait_until(lambda: vpc_target in served(discoverer), 10, "the Fargate task through the queue")

        started = time.monotonic()
        estate.stop_task("c1", first)
        wait_until(lambda: first_target not in served(discoverer), 10, "the StopTask through the queue")
        removed_in = time.monotonic() - started
        assert served(discoverer) == {second_target, vpc_target}
        wait_until(lambda: first_target not in in_file_sd(tmp_path), 2, "the removal written to file_sd")
        print(f"through the queue: added in {added_in:.2f} s, removed in {removed_in:.2f} s")

        metrics = discoverer.metrics()
        assert metric_sum(metrics, "ecs_sd_cycles_total") == 1, "no cycle ran after the first"
        # The stale alert allows two of these between successes (dashboards/alerts).
        assert metric_sum(metrics, "ecs_sd_cycle_interval_seconds") == 600
        assert metric_sum(metrics, "ecs_sd_task_events_total", outcome="running") == 2
        # Two PENDING events (new tasks, not targets yet) and one STOPPED.
        assert metric_sum(metrics, "ecs_sd_task_events_total", outcome="gone") == 3
        assert metric_sum(metrics, "ecs_sd_event_publish_delay_seconds_count") == 3, "the PENDINGs change nothing published"
        wait_until(lambda: waiting_messages(estate, url) == 0, 10, "every message deleted")
    finally:
        discoverer.stop()


def test_a_message_that_is_not_a_task_change_is_deleted_and_counted(
        estate: Estate, emulator: Emulator, tmp_path: Path) -> None:
    cluster = estate.cluster("c1")
    url = estate.events_queue("task-events", clusters=[cluster])
    discoverer = start(emulator, tmp_path, url, "--interval", "10m")
    try:
        wait_until(lambda: discoverer.get("/ready").status_code == 200, 30, "the first cycle")
        sqs = estate.client("sqs")
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(
            {"source": "aws.ecs", "detail-type": "ECS Container Instance State Change", "detail": {}}))
        sqs.send_message(QueueUrl=url, MessageBody="not json")
        wait_until(lambda: metric_sum(discoverer.metrics(), "ecs_sd_task_events_total",
                                      outcome="not_a_task_change") == 2, 10, "both counted")
        wait_until(lambda: waiting_messages(estate, url) == 0, 10, "both deleted")
    finally:
        discoverer.stop()


def test_a_queue_that_cannot_be_read_leaves_discovery_to_the_cycles(
        estate: Estate, emulator: Emulator, tmp_path: Path) -> None:
    estate.cluster("c1")
    instance = estate.container_instance("c1")
    bridge = estate.task_definition("bridge-app", [container("app", ports=[8080], env=MARKED)])
    [first] = estate.run_tasks("c1", bridge)
    missing = f"{emulator.endpoints.of('sqs')}/123456789012/no-such-queue"
    discoverer = start(emulator, tmp_path, missing, "--interval", "1s")
    try:
        first_target = bridge_target(estate, first, instance.private_ip)
        wait_until(lambda: served(discoverer) == {first_target}, 30, "the first cycle's target")
        [second] = estate.run_tasks("c1", bridge)
        second_target = bridge_target(estate, second, instance.private_ip)
        wait_until(lambda: second_target in served(discoverer), 10, "the next cycle's target")
        metrics = discoverer.metrics()
        assert metric_sum(metrics, "ecs_sd_event_queue_failures_total", operation="ReceiveMessage") >= 1
        assert metric_sum(metrics, "ecs_sd_cycles_total", result="success") >= 2
        assert discoverer.get("/ready").status_code == 200
    finally:
        discoverer.stop()
