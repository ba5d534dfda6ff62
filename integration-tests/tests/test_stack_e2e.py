"""The whole stack as ECS would run it: `terraform apply` of examples/emulator, then the test bed's
ECS agent runs every task it declares (Prometheus with its sidecars, the node-exporter and
cAdvisor daemons on both instances, Alertmanager, Grafana) plus three example apps, one per
target convention. The stack's own Prometheus, with the stack's own config from SSM, must then
have every target up and its alert rules loaded and evaluated, and an alert that fires must
travel Prometheus -> Alertmanager (found through Cloud Map, config from SSM) -> the receiver. (The copy-paste task definitions of
`task-definitions/` run through the agent in test_pasted_task_definitions.py.)

Images with no local program (cAdvisor, Grafana, the statsd and CloudWatch exporters) are not
run; their targets are left out of "every target up" by name, and the agent reports them.

The stack's writers (config-init, config-reloader, ecs-discoverer, Grafana's reloaders) mount
their volumes at their image's VOLUME path, which the image owns as `nonroot`, so ECS starts the
volume writable for them; Prometheus runs as `nobody` with `user` set, so its EBS volume gets
group write; the Cloud Map services have SRV records, so ECS registers the task's port. Each of
these failed here before it was fixed (issue 14).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
import yaml

from testbed.ecs_agent import Agent
from testbed.harness import EMULATOR_HOST, ROOT, Emulator, metric_sum, prometheus_api, wait_until
from testbed.seed import Estate
from testbed.terraform_stack import (AppliedStack, missing, not_run_here, replaced_stack_prometheus, samples_at,
                                     scraped_moment, stack_alertmanagers, stack_prometheus, task_metrics)

if missing():
    pytest.skip(f"the end-to-end stack test did not run: {missing()}", allow_module_level=True)

pytestmark = pytest.mark.ecs_agent


# Rules of the operator's own (extra_rule_files): one fires from its first evaluation; the others
# fire when the example-labels service is scaled to 2, then 3 tasks, which the tests do once the
# Alertmanager cluster has formed, then with a Prometheus and an Alertmanager stopped.
ALWAYS_FIRING = "StackEndToEndAlwaysFiring"
SCALED_TO = {count: f"StackEndToEndExampleLabelsScaledTo{count}" for count in (2, 3)}
EXTRA_RULES = {"e2e.rules.yml": yaml.safe_dump({"groups": [{"name": "e2e", "rules": [
    {"alert": ALWAYS_FIRING, "expr": "vector(1)", "labels": {"severity": "info"},
     "annotations": {"summary": "fires at once, so the alert path is proven end to end"}},
    *[{"alert": name, "expr": f'count(up{{job="example-labels"}} == 1) >= {count}', "labels": {"severity": "info"},
       "annotations": {"summary": f"example-labels has {count} tasks"}} for count, name in SCALED_TO.items()],
]}]})}
# Alertmanager's --cluster.peer-timeout (15 s, the wait of the second peer before it sends what
# the first hasn't) and the stack's group_wait (alert_group_wait below), with room to spare.
DUPLICATE_WINDOW = 15 + 5 + 10


class WebhookReceiver:
    """The alert receiver: an HTTP endpoint where the Alertmanager task, in its own network
    namespace, posts its webhook notifications (on the emulator's address, which the test bed's
    namespaces reach)."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        received = self.notifications

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((EMULATOR_HOST, 0), Handler)
        self.url = f"http://{EMULATOR_HOST}:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Deployed:
    def __init__(self, stack: AppliedStack, agent: Agent, instance_ips: list[str], apps: dict[str, str],
                 receiver: WebhookReceiver):
        self.stack, self.agent, self.instance_ips, self.apps = stack, agent, instance_ips, apps
        self.receiver = receiver

    def prometheus_url(self) -> str:
        return stack_prometheus(self.agent)[1]

    def notified(self, alertname: str) -> list[dict[str, Any]]:
        """The webhook notifications that carry the alert firing."""
        return [n for n in self.receiver.notifications if n["status"] == "firing"
                and any(a["labels"].get("alertname") == alertname for a in n["alerts"])]

    def scale(self, service: str, count: int) -> None:
        self.stack.client("ecs").update_service(cluster=self.stack.output()["cluster_name"], service=service,
                                                desiredCount=count)


@pytest.fixture(scope="module")
def deployed(fresh_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    emulator = fresh_emulator
    receiver = WebhookReceiver()
    stack = AppliedStack(emulator, tmp_path_factory.mktemp("stack-e2e"), {
        "alert_receiver": {"webhook_url": receiver.url}, "alert_group_wait": "5s",
        "extra_rule_files": EXTRA_RULES}).apply()
    ips = stack.boot_instances()
    apps = stack.add_example_apps()
    agent = Agent(emulator.endpoint, Estate.of(emulator).client, emulator.env, stop_grace=5)
    try:
        agent.run_in_background()
        yield Deployed(stack, agent, ips, apps, receiver)
    finally:
        agent.stop()
        receiver.close()
    assert not agent.errors, "the agent reported errors:\n" + "\n".join(agent.errors)


def test_every_target_the_stacks_prometheus_should_have_is_up(deployed: Deployed) -> None:
    url = deployed.prometheus_url()

    def scraped() -> list[dict[str, Any]] | None:
        targets = prometheus_api(url, "targets", state="active")["activeTargets"]
        wanted = [t for t in targets if not not_run_here(t)]
        return targets if wanted and all(t["health"] == "up" for t in wanted) and _complete(deployed, targets) else None

    try:
        targets = wait_until(scraped, 150, "every target of the stack's Prometheus to be up", interval=2)
    except TimeoutError:
        listed = prometheus_api(url, "targets", state="active")["activeTargets"]
        raise AssertionError("targets not all up:\n" + "\n".join(
            f"{t['health']:<8} {t['labels'].get('job')} {t['scrapeUrl']} {t.get('lastError', '')}" for t in listed))
    by_job: dict[str, list[str]] = {}
    for target in targets:
        by_job.setdefault(target["labels"]["job"], []).append(target["labels"]["instance"])
    assert sorted(i.split(":")[0] for i in by_job["node-exporter"]) == deployed.instance_ips
    assert all(i.endswith(":9100") for i in by_job["node-exporter"])
    assert not [i for i in by_job.get("cloudmap", []) if i.endswith(":80")], by_job["cloudmap"]
    services = {t["labels"].get("ecs_service", "") for t in targets if t["labels"]["job"] == "cloudmap"}
    assert any(s.endswith("-alertmanager") for s in services), services
    assert deployed.agent.not_run() and all(
        any(name in entry for name in ("cadvisor", "grafana")) for entry in deployed.agent.not_run())


def _complete(deployed: Deployed, targets: list[dict[str, Any]]) -> bool:
    jobs = {t["labels"].get("job") for t in targets}
    needed = {"prometheus", "ecs-discoverer", "config-reloader", "node-exporter", "cloudmap", *deployed.apps.values()}
    nodes = [t for t in targets if t["labels"].get("job") == "node-exporter"]
    return needed <= jobs and len(nodes) == len(deployed.instance_ips)


def test_the_alert_rules_are_loaded_and_evaluated(deployed: Deployed) -> None:
    url = deployed.prometheus_url()

    def evaluated() -> list[dict[str, Any]] | None:
        groups = prometheus_api(url, "rules")["groups"]
        return groups if groups and all(g["lastEvaluation"] > "2000" for g in groups) else None

    groups = wait_until(evaluated, 120, "the stack's rule groups to be evaluated", interval=2)
    shipped = [g for path in sorted((ROOT / "dashboards/alerts").glob("*.rules.yml"))
               for g in yaml.safe_load(path.read_text())["groups"]]
    shipped += [g for text in EXTRA_RULES.values() for g in yaml.safe_load(text)["groups"]]
    assert sorted(g["name"] for g in groups) == sorted(g["name"] for g in shipped)
    assert sum(len(g["rules"]) for g in groups) == sum(len(g["rules"]) for g in shipped)


def test_a_firing_alert_is_delivered_through_alertmanager(deployed: Deployed) -> None:
    """Prometheus finds Alertmanager in the Cloud Map file (its alerting block), Alertmanager
    reads its config from SSM through its reloader, and its receiver gets the notification."""
    url = deployed.prometheus_url()

    def delivered() -> dict[str, Any] | None:
        return next(iter(deployed.notified(ALWAYS_FIRING)), None)

    try:
        notification = wait_until(delivered, 180, f"{ALWAYS_FIRING} to reach the webhook receiver", interval=2)
    except TimeoutError:
        raise AssertionError(
            f"no notification; Prometheus's Alertmanagers: {prometheus_api(url, 'alertmanagers')}, "
            f"alerts: {prometheus_api(url, 'alerts')}\n" + json.dumps(deployed.agent.failures(), indent=1)[:4000])
    assert notification["receiver"] == "default" and notification["status"] == "firing", notification
    # Both replicas send it; without their replica label it is one alert, not one per replica.
    firing = [a for a in notification["alerts"] if a["labels"].get("alertname") == ALWAYS_FIRING]
    assert len(firing) == 1 and "__replica__" not in firing[0]["labels"], notification
    # Every Alertmanager of the cluster is in the Cloud Map file, so each replica sends to all.
    alertmanagers = prometheus_api(url, "alertmanagers")["activeAlertmanagers"]
    assert len(alertmanagers) == deployed.stack.output()["alertmanager_replicas"] == 2, alertmanagers
    assert all(a["url"].endswith(":9093/api/v2/alerts") for a in alertmanagers), alertmanagers


def test_with_everything_up_an_alert_is_notified_exactly_once(deployed: Deployed) -> None:
    """Both Alertmanagers are one gossip cluster (they found each other through the Cloud Map
    name), both Prometheus replicas send a new alert to both, and the receiver gets it once:
    the second Alertmanager waits its peer timeout and finds the first one's notification in
    the shared log. Without the cluster, each would notify."""
    def cluster_sizes() -> list[float] | None:
        sizes = [metric_sum(task_metrics(t, 9093), "alertmanager_cluster_members")
                 for t in stack_alertmanagers(deployed.agent)]
        return sizes if sizes == [2.0, 2.0] else None

    try:
        wait_until(cluster_sizes, 90, "both Alertmanagers to see a cluster of 2", interval=2)
    except TimeoutError:
        raise AssertionError("no Alertmanager cluster:\n" + "\n".join(t.describe() for t in stack_alertmanagers(deployed.agent)))
    deployed.scale("example-labels", 2)
    alert = SCALED_TO[2]
    wait_until(lambda: deployed.notified(alert), 150, f"{alert} to reach the webhook receiver", interval=2)
    time.sleep(DUPLICATE_WINDOW)
    assert len(deployed.notified(alert)) == 1, deployed.notified(alert)


def test_a_task_the_scheduler_adds_after_apply_is_a_target_of_every_replica_through_the_event_path(
        deployed: Deployed) -> None:
    """The stack's EventBridge rule sends each ECS task state change to one queue per replica
    (task-events module), and each replica's discoverer applies it: the example-env service
    scaled to 2, the agent's RunTask reaches both replicas' discoverers from their own queues,
    and both Prometheus replicas have the new target with no full cycle in between (every 5
    minutes)."""
    replicas = [stack_prometheus(deployed.agent, replica=i) for i in range(2)]

    def example_env_targets(url: str) -> list[dict[str, Any]]:
        return [t for t in prometheus_api(url, "targets", state="active")["activeTargets"]
                if t["labels"].get("job") == "example-env"]

    for _, url in replicas:
        wait_until(lambda: len(example_env_targets(url)) == 1, 150, "the first example-env target", interval=2)
    cycles = [metric_sum(task_metrics(task, 9001), "ecs_sd_cycles_total") for task, _ in replicas]
    deployed.scale("example-env", 2)
    for index, (task, url) in enumerate(replicas):
        wait_until(lambda: len(example_env_targets(url)) == 2, 60, f"replica {index}'s second example-env target",
                   interval=1)
        metrics = task_metrics(task, 9001)
        assert metric_sum(metrics, "ecs_sd_task_events_total", outcome="running") >= 1, (index, metrics)
        assert metric_sum(metrics, "ecs_sd_cycles_total") == cycles[index], f"replica {index} ran a full cycle"
    queues = deployed.stack.output()["events_queue_urls"]
    assert len(queues) == 2 and len(set(queues)) == 2, queues


def test_grafanas_provisioning_files_are_delivered_to_its_volumes(deployed: Deployed) -> None:
    """Grafana itself doesn't run here; what it would read at start is checked instead."""
    task = wait_until(lambda: next((t for t in deployed.agent.tasks.values() if t.family.endswith("-grafana")), None),
                      60, "the Grafana task")
    datasources = task.volumes["datasources"] / "datasources.yaml"
    dashboards = task.volumes["dashboards"] / "dashboards.yaml"
    wait_until(lambda: datasources.exists() and dashboards.exists(), 30,
               "Grafana's reloaders to write its provisioning files:\n" + task.describe())
    assert yaml.safe_load(datasources.read_text())["datasources"][0]["type"] == "prometheus"
    assert list(task.volumes["dashboards"].glob("*.json")), list(task.volumes["dashboards"].iterdir())


# --- durability: these stop, kill and replace parts of the stack, so they run last -----------

def test_a_stopped_prometheus_task_is_replaced_with_its_history(deployed: Deployed) -> None:
    """StopTask on replica 0 (a deployment, a crash or an operator does the same): the service
    starts a new task on the replica's instance, on the same volume, and it answers for samples
    scraped before the stop."""
    task, url = stack_prometheus(deployed.agent, replica=0)
    before = scraped_moment(url)
    cluster = deployed.stack.output()["cluster_name"]
    deployed.stack.client("ecs").stop_task(cluster=cluster, task=task.arn, reason="stopped by the durability test")
    assert task.wait(lambda t: t.status == "STOPPED", 60), task.describe()
    new_task, new_url = replaced_stack_prometheus(deployed.agent, task, replica=0)
    assert new_task.description.get("containerInstanceArn") == task.description.get("containerInstanceArn")
    assert samples_at(new_url, before), "the replacement task has no samples from before the stop"


def test_a_replaced_instance_reattaches_the_volume_and_its_history(deployed: Deployed) -> None:
    """Replica 1's instance is terminated and its auto scaling group launches another in the same
    zone, whose boot script attaches the same EBS volume (boot_instances plays it): the replica's
    new task there answers for samples scraped on the old instance."""
    task, url = stack_prometheus(deployed.agent, replica=1)
    before = scraped_moment(url)
    replica = deployed.stack.output()["prometheus_replicas"][1]
    autoscaling = deployed.stack.client("autoscaling")
    (old_instance,) = autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[replica["autoscaling_group_name"]])["AutoScalingGroups"][0]["Instances"]
    autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=old_instance["InstanceId"],
                                                        ShouldDecrementDesiredCapacity=False)
    assert task.wait(lambda t: t.status == "STOPPED", 60), task.describe()
    deployed.stack.boot_instances()
    new_task, new_url = replaced_stack_prometheus(deployed.agent, task, replica=1)
    assert new_task.description.get("containerInstanceArn") != task.description.get("containerInstanceArn")
    assert new_task.description.get("availabilityZone") == replica["availability_zone"]
    assert samples_at(new_url, before), "the replacement instance's task has no samples from before"


def test_with_a_prometheus_and_an_alertmanager_stopped_alerts_are_still_delivered(deployed: Deployed) -> None:
    """Replica 1's service is scaled to 0 and the Alertmanager service to 1, each task stopped (as
    a zone outage or an operator would leave them): a new alert, evaluated by replica 0 alone,
    reaches the receiver through the Alertmanager left, which notified it."""
    cluster = deployed.stack.output()["cluster_name"]
    ecs = deployed.stack.client("ecs")
    replica, _ = stack_prometheus(deployed.agent, replica=1)
    stopped_alertmanager, survivor = stack_alertmanagers(deployed.agent)
    deployed.scale(deployed.stack.output()["prometheus_replicas"][1]["name"], 0)
    deployed.scale(survivor.description["group"].removeprefix("service:"), 1)
    for task in (replica, stopped_alertmanager):
        ecs.stop_task(cluster=cluster, task=task.arn, reason="stopped by the availability test")
        assert task.wait(lambda t: t.status == "STOPPED", 60), task.describe()
    sent_before = metric_sum(task_metrics(survivor, 9093), "alertmanager_notifications_total", integration="webhook")
    deployed.scale("example-labels", 3)
    alert = SCALED_TO[3]
    try:
        wait_until(lambda: deployed.notified(alert), 180, f"{alert} to reach the webhook receiver", interval=2)
    except TimeoutError:
        url = stack_prometheus(deployed.agent, replica=0)[1]
        raise AssertionError(f"not delivered; replica 0's Alertmanagers: {prometheus_api(url, 'alertmanagers')}, "
                             f"alerts: {prometheus_api(url, 'alerts')}\n{survivor.describe()}")
    sent_after = metric_sum(task_metrics(survivor, 9093), "alertmanager_notifications_total", integration="webhook")
    assert sent_after > sent_before, (sent_before, sent_after)
    assert [t.arn for t in stack_alertmanagers(deployed.agent)] == [survivor.arn]
    assert not [t for t in deployed.agent.tasks.values() if t.family.endswith("-prometheus-1") and t.status == "RUNNING"]


def test_a_killed_discoverer_leaves_prometheus_running_and_is_alerted_on(deployed: Deployed) -> None:
    """The discoverer in replica 0 is killed (as the OOM killer would): the task and its
    Prometheus keep running with their data, the discoverer's scrape target goes down, and
    ECSDiscovererDown becomes active (it fires after its `for: 5m`, which this test doesn't
    wait out)."""
    task, url = stack_prometheus(deployed.agent, replica=0)
    before = scraped_moment(url)
    discoverer = task.container("ecs-discoverer")
    assert discoverer.process is not None and discoverer.process.poll() is None, task.describe()
    os.killpg(discoverer.process.pid, signal.SIGKILL)

    def alerted() -> list[dict[str, Any]] | None:
        alerts = [a for a in prometheus_api(url, "alerts")["alerts"] if a["labels"]["alertname"] == "ECSDiscovererDown"]
        return alerts or None

    alerts = wait_until(alerted, 120, "ECSDiscovererDown to become active on the replica", interval=2)
    assert alerts[0]["state"] in ("pending", "firing"), alerts
    assert task.status == "RUNNING" and task.container("prometheus").status == "RUNNING", task.describe()
    assert discoverer.status == "STOPPED", task.describe()
    assert samples_at(url, before)
