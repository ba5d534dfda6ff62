"""The whole stack as ECS would run it: `terraform apply` of examples/emulator, then the test bed's
ECS agent runs every task it declares (Prometheus with its sidecars, the node-exporter and
cAdvisor daemons on both instances, Grafana) plus three example apps, one per target
convention. The stack's own Prometheus, with the stack's own config from SSM, must then have
every target up and its alert rules loaded and evaluated. (The copy-paste task definitions of
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

from typing import Any, Iterator

import pytest
import requests
import yaml

from ecs_agent import Agent
from harness import AWS_ENV, ROOT, Emulator, wait_until
from seed import Estate
from terraform_stack import AppliedStack, missing, not_run_here, stack_prometheus

if missing():
    pytest.skip(f"the end-to-end stack test did not run: {missing()}", allow_module_level=True)


class Deployed:
    def __init__(self, stack: AppliedStack, agent: Agent, instance_ips: list[str], apps: dict[str, str]):
        self.stack, self.agent, self.instance_ips, self.apps = stack, agent, instance_ips, apps

    def prometheus_url(self) -> str:
        return stack_prometheus(self.agent)[1]


@pytest.fixture(scope="module")
def deployed(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    emulator.reset()
    stack = AppliedStack(emulator, tmp_path_factory.mktemp("stack-e2e")).apply()
    ips = stack.register_instances()
    apps = stack.add_example_apps()
    agent = Agent(emulator.endpoint, Estate(emulator.endpoint).client, AWS_ENV, stop_grace=5)
    try:
        agent.run_in_background()
        yield Deployed(stack, agent, ips, apps)
    finally:
        agent.stop()


def api(url: str, path: str, **params: Any) -> Any:
    answer = requests.get(f"{url}/api/v1/{path}", params=params, timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]


def test_every_target_the_stacks_prometheus_should_have_is_up(deployed: Deployed) -> None:
    url = deployed.prometheus_url()

    def scraped() -> list[dict[str, Any]] | None:
        targets = api(url, "targets", state="active")["activeTargets"]
        wanted = [t for t in targets if not not_run_here(t)]
        return targets if wanted and all(t["health"] == "up" for t in wanted) and _complete(deployed, targets) else None

    try:
        targets = wait_until(scraped, 150, "every target of the stack's Prometheus to be up", interval=2)
    except TimeoutError:
        listed = api(url, "targets", state="active")["activeTargets"]
        raise AssertionError("targets not all up:\n" + "\n".join(
            f"{t['health']:<8} {t['labels'].get('job')} {t['scrapeUrl']} {t.get('lastError', '')}" for t in listed))
    by_job: dict[str, list[str]] = {}
    for target in targets:
        by_job.setdefault(target["labels"]["job"], []).append(target["labels"]["instance"])
    assert sorted(i.split(":")[0] for i in by_job["node-exporter"]) == deployed.instance_ips
    assert all(i.endswith(":9100") for i in by_job["node-exporter"])
    assert not [i for i in by_job.get("cloudmap", []) if i.endswith(":80")], by_job["cloudmap"]
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
        groups = api(url, "rules")["groups"]
        return groups if groups and all(g["lastEvaluation"] > "2000" for g in groups) else None

    groups = wait_until(evaluated, 120, "the stack's rule groups to be evaluated", interval=2)
    shipped = yaml.safe_load((ROOT / "dashboards/alerts/ecs-monitoring.rules.yml").read_text())
    assert sorted(g["name"] for g in groups) == sorted(g["name"] for g in shipped["groups"])
    assert sum(len(g["rules"]) for g in groups) == sum(len(g["rules"]) for g in shipped["groups"])


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
