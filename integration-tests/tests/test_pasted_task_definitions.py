"""The copy-paste task definitions of `task-definitions/` run through the test bed's ECS agent: each
is registered with its placeholders filled, run (Fargate for awsvpc, else on a container
instance), and must come up: every container with a local program starts and stays up (an init
container exits 0), nothing fails for 10 seconds, and every writer has written its file.

Its own module, so no other agent (the end-to-end stack's) runs beside these tests' agents.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from testbed.ecs_agent import Agent, TaskRun
from testbed.ecs_agent.boot import mount_data_volume_script
from testbed.harness import ROOT, Emulator
from testbed.seed import PASTE_PLACEHOLDERS, Estate, pasted_definition

pytestmark = pytest.mark.ecs_agent

TASK_DEFINITIONS = sorted((ROOT / "task-definitions").glob("*.json"))
def seed_sources(estate: Estate) -> dict[str, str]:
    """What the pasted definitions read: Prometheus's and Alertmanager's configs in SSM,
    Grafana's and the CloudWatch exporter's in S3, Grafana's admin password in Secrets Manager
    (its ARN's last part, with the suffix AWS adds, is the `<GRAFANA_ADMIN_SECRET>` a user
    pastes; ECS fails the task on any other)."""
    estate.ssm_parameter("/prometheus/config.yml", yaml.safe_dump(
        {"global": {"scrape_interval": "15s"},
         "scrape_configs": [{"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]}]}))
    estate.ssm_parameter("/alertmanager/alertmanager.yml", yaml.safe_dump(
        {"route": {"receiver": "default"}, "receivers": [{"name": "default"}]}))
    estate.s3_object("config-bucket", "grafana/datasources.yaml", "apiVersion: 1\ndatasources: []\n")
    estate.s3_object("config-bucket", "grafana/dashboards.yaml", "apiVersion: 1\nproviders: []\n")
    estate.s3_object("config-bucket", "grafana/dashboards/ecs.json", "{}")
    estate.s3_object("config-bucket", "cloudwatch-exporter/config.yml", "region: us-east-1\nmetrics: []\n")
    secret = estate.client("secretsmanager").create_secret(Name="grafana-admin", SecretString="admin-password")
    return {"GRAFANA_ADMIN_SECRET": secret["ARN"].rsplit(":", 1)[-1]}


def run_pasted(estate: Estate, agent: Agent, path: Path, **values: str) -> TaskRun:
    queue_url = estate.events_queue("ecs-task-events", clusters=[estate.ecs.describe_clusters(
        clusters=["pasted"])["clusters"][0]["clusterArn"]])
    params = pasted_definition(path, APP_IMAGE="example-app:latest", CLUSTER_NAME="pasted",
                               EVENTS_QUEUE_URL=queue_url, **values)
    params.pop("taskRoleArn", None)
    params.pop("executionRoleArn", None)
    arn = estate.ecs.register_task_definition(**params)["taskDefinition"]["taskDefinitionArn"]
    fargate = "FARGATE" in params.get("requiresCompatibilities", [])
    if path.name == "prometheus.json":
        durable_prometheus_instance(estate, values.get("REPLICA_NAME", PASTE_PLACEHOLDERS["<REPLICA_NAME>"]))
    elif not fargate:
        estate.container_instance("pasted")
    estate.run_tasks("pasted", arn, fargate=fargate, awsvpc=params.get("networkMode") == "awsvpc")
    agent.sync()
    return agent.task(params["family"])


def durable_prometheus_instance(estate: Estate, replica: str) -> None:
    """The instance prometheus.json needs (task-definitions/README.md): booting the replica's
    mount-data-volume script, its EBS volume attached as the script does, registered with the
    replica's attribute."""
    if not estate.subnets:
        estate.network()
    zone = estate.ec2.describe_subnets(SubnetIds=[estate.subnets[0]])["Subnets"][0]["AvailabilityZone"]
    volume = estate.ec2.create_volume(AvailabilityZone=zone, Size=2)["VolumeId"]
    script = mount_data_volume_script(volume_id=volume, device="/dev/xvdf", mount_point="/data/prometheus",
                                      data_dir="/data/prometheus/tsdb", data_owner="65534:65534", region=estate.region)
    instance = estate.container_instance("pasted", user_data=script, attributes={"prometheus-replica": replica})
    estate.ec2.attach_volume(VolumeId=volume, InstanceId=instance.ec2_instance_id, Device="/dev/xvdf")


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


@pytest.mark.parametrize("path", TASK_DEFINITIONS, ids=lambda p: p.name)
def test_pasted_task_definitions_run_through_the_agent(path: Path, estate: Estate, emulator: Emulator) -> None:
    """Every container with a local program starts and stays up (or, an init container, exits 0),
    nothing fails for 10 seconds, and every writer has written its file."""
    estate.cluster("pasted")
    values = seed_sources(estate)
    agent = Agent(emulator.endpoint, estate.client, emulator.env, stop_grace=5, replace_stopped=False)
    try:
        task = run_pasted(estate, agent, path, **values)
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
        assert not agent.errors, agent.errors
    finally:
        agent.stop()


def test_a_config_prometheus_cant_load_stops_the_task_at_config_check(estate: Estate, emulator: Emulator) -> None:
    """Valid YAML that Prometheus refuses: config-init writes it (it is YAML), config-check
    (promtool from the Prometheus image) fails, and Prometheus never starts on it, instead of
    crash-looping with exit 2."""
    estate.cluster("pasted")
    values = seed_sources(estate)
    estate.ssm_parameter("/prometheus/config.yml", "scrape_configs: [{job_name: x, bogus_field: 1}]\n")
    agent = Agent(emulator.endpoint, estate.client, emulator.env, stop_grace=5, replace_stopped=False)
    try:
        task = run_pasted(estate, agent, ROOT / "task-definitions" / "prometheus.json", **values)
        task.wait(lambda t: t.status == "STOPPED", 60)
        check, prometheus = task.container("config-check"), task.container("prometheus")
        assert check.exit_code not in (None, 0), task.describe()
        assert prometheus.process is None, task.describe()  # never started
        assert "config-check" in (task.stopped_reason or ""), task.describe()
        assert "bogus_field" in check.log_tail(4000), check.log_tail(4000)
    finally:
        agent.stop()
