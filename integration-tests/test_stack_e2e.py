"""The whole stack as ECS would run it: `terraform apply` of examples/emulator, then the test bed's
ECS agent runs every task it declares (Prometheus with its sidecars, the node-exporter and
cAdvisor daemons on both instances, Grafana) plus three example apps, one per target
convention. The stack's own Prometheus, with the stack's own config from SSM, must then have
every target up and its alert rules loaded and evaluated. The copy-paste task definitions of
`task-definitions/` run through the agent too.

Images with no local program (cAdvisor, Grafana, the statsd and CloudWatch exporters) are not
run; their targets are left out of "every target up" by name, and the agent reports them.

Known failure, until issue 14 ("Fit for a real AWS account") lands its fixes: the writers of
the stack's volumes run as the image's `nonroot` user on root-owned volumes, Prometheus waits on
a config-init that can't write, and the Cloud Map services register no port. These tests are
marked `xfail(strict=True)` with that reason: they run in full every time, and the day they
pass, strict xfail fails them so the mark must go.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import yaml

from ecs_agent import Agent, TaskRun
from harness import AWS_ENV, ROOT, Emulator, wait_until
from seed import Estate
from terraform_stack import AppliedStack, missing, stack_prometheus

if missing():
    pytest.skip(f"the end-to-end stack test did not run: {missing()}", allow_module_level=True)

ISSUE_14 = ("issue 14 (Fit for a real AWS account): config-init, config-reloader, ecs-discoverer and Grafana's "
            "reloaders run as nonroot on root:root 0755 bind volumes and can't write them, so Prometheus never "
            "starts; Cloud Map services have A records only, so their jobs scrape port 80")
NOT_RUN_JOBS = {"cadvisor"}  # no local cAdvisor; the agent reports the image by name


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


@pytest.mark.xfail(strict=True, reason=ISSUE_14)
def test_every_target_the_stacks_prometheus_should_have_is_up(deployed: Deployed) -> None:
    url = deployed.prometheus_url()

    def scraped() -> list[dict[str, Any]] | None:
        targets = api(url, "targets", state="active")["activeTargets"]
        wanted = [t for t in targets if t["labels"].get("job") not in NOT_RUN_JOBS]
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


@pytest.mark.xfail(strict=True, reason=ISSUE_14)
def test_the_alert_rules_are_loaded_and_evaluated(deployed: Deployed) -> None:
    url = deployed.prometheus_url()

    def evaluated() -> list[dict[str, Any]] | None:
        groups = api(url, "rules")["groups"]
        return groups if groups and all(g["lastEvaluation"] > "2000" for g in groups) else None

    groups = wait_until(evaluated, 120, "the stack's rule groups to be evaluated", interval=2)
    shipped = yaml.safe_load((ROOT / "dashboards/alerts/ecs-monitoring.rules.yml").read_text())
    assert sorted(g["name"] for g in groups) == sorted(g["name"] for g in shipped["groups"])
    assert sum(len(g["rules"]) for g in groups) == sum(len(g["rules"]) for g in shipped["groups"])


@pytest.mark.xfail(strict=True, reason=ISSUE_14)
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


# --- the copy-paste task definitions -------------------------------------------------------------

TASK_DEFINITIONS = sorted((ROOT / "task-definitions").glob("*.json"))
PLACEHOLDERS = {"<ACCOUNT_ID>": "123456789012", "<REGION>": "us-east-1", "<TAG>": "0.1.0",
                "<CONFIG_BUCKET>": "config-bucket", "<GRAFANA_ADMIN_SECRET>": "grafana-admin-AbCdEf",
                "<APP_IMAGE>": "example-app:latest"}


def pasted(path: Path) -> dict[str, Any]:
    text = path.read_text()
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    return json.loads(text)


def seed_sources(estate: Estate) -> None:
    """What the pasted definitions read: Prometheus's config in SSM, Grafana's and the CloudWatch
    exporter's in S3, Grafana's admin password in Secrets Manager."""
    estate.ssm_parameter("/prometheus/config.yml", yaml.safe_dump(
        {"global": {"scrape_interval": "15s"},
         "scrape_configs": [{"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]}]}))
    estate.s3_object("config-bucket", "grafana/datasources.yaml", "apiVersion: 1\ndatasources: []\n")
    estate.s3_object("config-bucket", "grafana/dashboards.yaml", "apiVersion: 1\nproviders: []\n")
    estate.s3_object("config-bucket", "grafana/dashboards/ecs.json", "{}")
    estate.s3_object("config-bucket", "cloudwatch-exporter/config.yml", "region: us-east-1\nmetrics: []\n")
    estate.client("secretsmanager").create_secret(Name="grafana-admin", SecretString="admin-password")


def run_pasted(estate: Estate, agent: Agent, path: Path) -> TaskRun:
    params = pasted(path)
    params.pop("taskRoleArn", None)
    params.pop("executionRoleArn", None)
    arn = estate.ecs.register_task_definition(**params)["taskDefinition"]["taskDefinitionArn"]
    fargate = "FARGATE" in params.get("requiresCompatibilities", [])
    if not fargate:
        estate.container_instance("pasted")
    estate.run_tasks("pasted", arn, fargate=fargate, awsvpc=params.get("networkMode") == "awsvpc")
    agent.sync()
    return agent.task(params["family"])


def undelivered(task: TaskRun) -> list[str]:
    """The files the task's writers should have put in their volumes and didn't: each
    config-reloader's CONFIG_FILE_NAME in CONFIG_FILE_DIR, each discoverer's file_sd file."""
    missing_files = []
    for container in task.containers:
        env = {e["name"]: e["value"] for e in container.definition.get("environment", [])}
        if "config-reloader" in container.image:
            wanted = (env["CONFIG_FILE_DIR"], env.get("CONFIG_FILE_NAME", "config.yml"))
        elif "ecs-discoverer" in container.image and "ECS_SD_OUTPUT_DIR" in env:
            wanted = (env["ECS_SD_OUTPUT_DIR"], "ecs_file_sd.json")
        else:
            continue
        for mount in container.definition.get("mountPoints", []):
            if wanted[0].rstrip("/") == mount["containerPath"].rstrip("/"):
                if not (task.volumes[mount["sourceVolume"]] / wanted[1]).exists():
                    missing_files.append(f"{container.name}: {wanted[0].rstrip('/')}/{wanted[1]}")
    return missing_files


RUN_AS_PASTED = {"ecs-discoverer.json", "node-exporter.json", "example-app.json", "cadvisor.json"}


@pytest.mark.parametrize("path", [
    pytest.param(p, id=p.name, marks=[] if p.name in RUN_AS_PASTED else [pytest.mark.xfail(strict=True, reason=ISSUE_14)])
    for p in TASK_DEFINITIONS])
def test_pasted_task_definitions_run_through_the_agent(path: Path, estate: Estate, emulator: Emulator) -> None:
    """Every container with a local program starts and stays up (or, an init container, exits 0),
    nothing fails for 10 seconds, and every writer has written its file."""
    estate.cluster("pasted")
    seed_sources(estate)
    agent = Agent(emulator.endpoint, estate.client, AWS_ENV, stop_grace=5, replace_stopped=False)
    try:
        task = run_pasted(estate, agent, path)
        task.wait(lambda t: t.status == "STOPPED" or all(c.status != "PENDING" for c in t.containers), 30)
        time.sleep(10)
        assert task.status in ("RUNNING", "PENDING") and not agent.failures(), \
            task.describe() + "\n" + json.dumps(agent.failures(), indent=1)
        for container in task.containers:
            if container.status == "STOPPED":
                assert container.exit_code == 0 and not container.essential, task.describe()
            else:
                assert container.status in ("RUNNING", "NOT_RUN"), task.describe()
        assert not undelivered(task), f"{undelivered(task)} not written:\n{task.describe()}"
        runnable = [c for c in task.containers if c.status != "NOT_RUN"]
        if not runnable:
            assert agent.not_run(), "a task with nothing to run must be reported"
    finally:
        agent.stop()
