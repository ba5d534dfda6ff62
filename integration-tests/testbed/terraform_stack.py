"""Terraform in the test bed: the CLI config of the machine's provider mirror, a `terraform`
runner, and the emulator example applied against an emulator (used by the Terraform tests, the
end-to-end stack test and the demo).

`TERRAFORM` or `CLI_CONFIG` is None when the machine has no terraform or no hashicorp/aws
mirror; callers say so in one line (`missing()`) instead of running.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from testbed.ecs_agent.boot import BootScript
from testbed.harness import ROOT, Emulator, prometheus_api, wait_until
from testbed.network import PLAN
from testbed.seed import Estate, register_container_instance

TERRAFORM_DIR = ROOT / "terraform"
EMULATOR_EXAMPLE = TERRAFORM_DIR / "examples" / "emulator"


def cli_config() -> str | None:
    configured = os.environ.get("TF_CLI_CONFIG_FILE")
    if configured and Path(configured).is_file():
        return configured
    found = subprocess.run([str(TERRAFORM_DIR / "cli-config.sh")], capture_output=True, text=True)
    return found.stdout.strip() or None


TERRAFORM = shutil.which("terraform")
CLI_CONFIG = cli_config() if TERRAFORM else None


def missing() -> str | None:
    """Why Terraform can't run here, in one line; None when it can."""
    if TERRAFORM is None:
        return "terraform is not on the PATH"
    if CLI_CONFIG is None:
        return "no hashicorp/aws provider mirror on this machine (see terraform/cli-config.sh)"
    return None


def tf_env(data_dir: Path) -> dict[str, str]:
    """Terraform's environment: the mirror config, no prompts, and its working data outside the
    repository."""
    return {**os.environ, "TF_CLI_CONFIG_FILE": str(CLI_CONFIG), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1", "TF_DATA_DIR": str(data_dir)}


def terraform(directory: Path, *args: str, env: dict[str, str], timeout: float = 300,
              check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(TERRAFORM), f"-chdir={directory}", *args, "-no-color"], env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"terraform {' '.join(args)} in {directory.relative_to(ROOT)} failed "
                             f"({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


class AppliedStack:
    """examples/emulator applied against one emulator, with its state in `workdir`."""

    def __init__(self, emulator: Emulator, workdir: Path, variables: dict[str, Any] | None = None):
        self.emulator = emulator
        workdir.mkdir(parents=True, exist_ok=True)
        self.env = tf_env(workdir / "data")
        self.state = workdir / "terraform.tfstate"
        # A variables file, so maps and objects need no HCL quoting on a command line.
        self.var_file = var_file = workdir / "test.tfvars.json"
        var_file.write_text(json.dumps({"endpoint": emulator.endpoint,
                                        "localstack_endpoint": emulator.endpoints.localstack,
                                        "vpc_cidr_block": PLAN.vpc_cidr, **(variables or {})}))
        self.vars = [f"-var-file={var_file}", f"-state={self.state}"]

    def apply(self) -> "AppliedStack":
        terraform(EMULATOR_EXAMPLE, "init", env=self.env)
        terraform(EMULATOR_EXAMPLE, "apply", "-auto-approve", *self.vars, env=self.env, timeout=600)
        return self

    def output(self) -> dict[str, Any]:
        done = terraform(EMULATOR_EXAMPLE, "output", "-json", f"-state={self.state}", env=self.env)
        return {k: v["value"] for k, v in json.loads(done.stdout).items()}

    def resources(self) -> list[dict[str, Any]]:
        """Every resource in the state, modules flattened: address, type and values."""
        done = terraform(EMULATOR_EXAMPLE, "show", "-json", str(self.state), env=self.env)
        found, modules = [], [json.loads(done.stdout)["values"]["root_module"]]
        while modules:
            module = modules.pop()
            found += module.get("resources", [])
            modules += module.get("child_modules", [])
        return found

    def client(self, service: str) -> Any:
        return Estate.of(self.emulator).client(service)

    def boot_instances(self) -> list[str]:
        """Boot the stack's auto scaling groups' instances as their user data would (boot.py):
        attach the data volume the script names (once the instance it was attached to has let
        go of it), then register with the cluster and attributes of its ECS config, as the ECS
        agent does when it starts (the emulator then starts the DAEMON services on them,
        fidelity P11). Instances already registered are left alone, so a call after an
        instance was replaced boots only the replacement. Returns every registered instance's
        private IP."""
        ec2, ecs = self.client("ec2"), self.client("ecs")
        cluster = self.output()["cluster_name"]
        groups = self.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        instance_ids = [i["InstanceId"] for g in groups for i in g["Instances"] if i["LifecycleState"] == "InService"]
        arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
        registered = {i["ec2InstanceId"] for i in ecs.describe_container_instances(
            cluster=cluster, containerInstances=arns)["containerInstances"]} if arns else set()
        for instance_id in instance_ids:
            if instance_id in registered:
                continue
            boot = BootScript.of_instance(ec2, instance_id)
            if boot.volume_id:
                wait_until(lambda: ec2.describe_volumes(VolumeIds=[boot.volume_id])["Volumes"][0]["State"] == "available",
                           60, f"volume {boot.volume_id} to be free for {instance_id}")
                ec2.attach_volume(VolumeId=boot.volume_id, InstanceId=instance_id, Device=boot.device)
            register_container_instance(ecs, boot.cluster or "default", instance_id, boot.attributes)
        reservations = ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
        return sorted(i["PrivateIpAddress"] for r in reservations for i in r["Instances"])

    def add_example_apps(self) -> dict[str, str]:
        """Three example apps as services of the stack's cluster, one per target convention, as a
        user would deploy them next to the stack: environment (bridge, dynamic host port), docker
        labels (bridge, dynamic host port) and service tags (Fargate, awsvpc in the stack's
        subnets). Returns the job each should have in Prometheus, by service name."""
        outputs = self.output()
        cluster = outputs["cluster_name"]
        ecs = self.client("ecs")
        prometheus = ecs.describe_services(cluster=cluster, services=ecs.list_services(
            cluster=cluster, launchType="FARGATE")["serviceArns"][:1])["services"][0]
        app = {"name": "app", "image": "example-app:latest", "essential": True, "memory": 64}

        def register(family: str, container: dict[str, Any], network: str) -> str:
            kwargs: dict[str, Any] = {"family": family, "containerDefinitions": [container], "networkMode": network}
            if network == "awsvpc":
                kwargs.update(requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
            return ecs.register_task_definition(**kwargs)["taskDefinition"]["taskDefinitionArn"]

        env_app = register("example-env", {**app, "portMappings": [{"containerPort": 8080, "hostPort": 0}],
                                           "environment": [{"name": "PROMETHEUS", "value": "true"},
                                                           {"name": "PROMETHEUS_ENDPOINT", "value": "/metrics"}]},
                           "bridge")
        label_app = register("example-labels", {**app, "portMappings": [{"containerPort": 8080, "hostPort": 0}],
                                                "dockerLabels": {"PROMETHEUS_EXPORTER_PORT": "8080",
                                                                 "PROMETHEUS_EXPORTER_JOB_NAME": "example-labels"}},
                             "bridge")
        tag_app = register("example-tags", {**app, "portMappings": [{"containerPort": 8080}]}, "awsvpc")
        ecs.create_service(cluster=cluster, serviceName="example-env", taskDefinition=env_app, desiredCount=1,
                           launchType="EC2")
        ecs.create_service(cluster=cluster, serviceName="example-labels", taskDefinition=label_app, desiredCount=1,
                           launchType="EC2")
        # As the stack's output says: the app's own security group lets Prometheus's in.
        awsvpc = prometheus["networkConfiguration"]["awsvpcConfiguration"]
        ec2 = self.client("ec2")
        vpc = ec2.describe_subnets(SubnetIds=awsvpc["subnets"][:1])["Subnets"][0]["VpcId"]
        app_group = ec2.create_security_group(GroupName="example-apps", Description="example apps",
                                              VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=app_group, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
            "UserIdGroupPairs": [{"GroupId": outputs["prometheus_security_group_id"]}]}])
        ecs.create_service(cluster=cluster, serviceName="example-tags", taskDefinition=tag_app, desiredCount=1,
                           launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {
                               **awsvpc, "securityGroups": [app_group]}},
                           tags=[{"key": "METRICS_PORT", "value": "8080"}, {"key": "METRICS_PATH", "value": "/metrics"},
                                 {"key": "METRICS_NAME", "value": "example-tags"}])
        return {"example-env": "example-env", "example-labels": "example-labels", "example-tags": "example-tags"}


def not_run_here(target: dict[str, Any]) -> bool:
    """A Prometheus target of an image the test bed's agent reports instead of running: the
    cAdvisor daemons, and Grafana's Cloud Map registration."""
    labels = target["labels"]
    return labels.get("job") == "cadvisor" or str(labels.get("ecs_service", "")).endswith("-grafana")


class StackDown(AssertionError):
    """The stack's Prometheus task stopped or never ran; the message carries the agent's report."""


def stack_prometheus(agent: Any, timeout: float = 120, replica: int = 0) -> tuple[Any, str]:
    """The running task of one Prometheus replica of the applied stack (family
    <stack>-prometheus-<replica>), run by the test bed's ECS agent, once its prometheus
    container runs and answers /-/ready: (task, URL on its ENI). Raises StackDown at once, with
    what the agent saw, when that task stops instead."""
    deadline = time.monotonic() + timeout
    family = f"-prometheus-{replica}"
    while time.monotonic() < deadline:
        tasks = [t for t in agent.tasks.values() if t.family.endswith(family)]
        live = [t for t in tasks if t.status != "STOPPED"]
        if tasks and not live and not agent.replace_stopped:
            raise StackDown(f"the stack's Prometheus task stopped: {tasks[-1].stopped_reason}\n"
                            + json.dumps(agent.failures(), indent=1)[:6000])
        if live and live[-1].container("prometheus").status == "RUNNING":
            task = live[-1]
            url = f"http://{task.eni}:9090"
            wait_until(lambda: requests.get(f"{url}/-/ready", timeout=2).ok, 60, "the stack's Prometheus to be ready")
            return task, url
        time.sleep(0.5)
    raise StackDown("no Prometheus task ran within the timeout:\n" + json.dumps(agent.failures(), indent=1)[:6000])


def replaced_stack_prometheus(agent: Any, old: Any, replica: int = 0, timeout: float = 240) -> tuple[Any, str]:
    """The replica's next running task after `old`, once its Prometheus is ready."""
    def found() -> tuple[Any, str] | None:
        task, url = stack_prometheus(agent, timeout=timeout, replica=replica)
        return (task, url) if task.arn != old.arn else None
    return wait_until(found, timeout, f"a replacement of Prometheus replica {replica}'s task", interval=1)


def stack_alertmanagers(agent: Any) -> list[Any]:
    """The running Alertmanager tasks of the applied stack."""
    return [t for t in agent.tasks.values() if t.family.endswith("-alertmanager") and t.status == "RUNNING"]


def task_metrics(task: Any, port: int) -> str:
    """The /metrics page a container of an awsvpc task serves on its ENI at `port`."""
    return requests.get(f"http://{task.eni}:{port}/metrics", timeout=5).text


def samples_at(url: str, moment: float) -> list[dict[str, Any]]:
    """Prometheus's own `up` as it was at `moment`: only samples scraped before it answer."""
    return prometheus_api(url, "query", query='up{job="prometheus"}', time=f"{moment:.3f}")["result"]


def scraped_moment(url: str) -> float:
    """A moment at which the Prometheus at `url` has samples of its own, and which is now past."""
    wait_until(lambda: samples_at(url, time.time()), 90, "the replica's first scrape of itself", interval=2)
    moment = time.time()
    time.sleep(1)
    assert samples_at(url, moment)
    return moment
