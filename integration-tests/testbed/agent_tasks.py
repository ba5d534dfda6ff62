"""Small task definitions for the tests of the test bed's ECS agent, and running them: the
images they use, a busybox script container, the example app, and RunTask or StartTask of a
definition that the agent then starts."""

from __future__ import annotations

from typing import Any

from testbed.ecs_agent import Agent, TaskRun
from testbed.seed import Estate

CLUSTER = "agent"
# A boot script (user data, as ecs_agent/boot.py reads it) that mounts the EBS volume attached
# as EBS_DEVICE at EBS_MOUNT_POINT.
EBS_DEVICE, EBS_MOUNT_POINT = "/dev/xvdf", "/data/ebs"
EBS_BOOT_SCRIPT = f"#!/bin/bash\nDEVICE={EBS_DEVICE}\nMOUNT_POINT={EBS_MOUNT_POINT}\n"
RELOADER = "123456789012.dkr.ecr.us-east-1.amazonaws.com/config-reloader:0.1.0"
DISCOVERER = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecs-discoverer:0.1.0"
PROMETHEUS = "quay.io/prometheus/prometheus:v2.53.2"
BUSYBOX = "public.ecr.aws/docker/library/busybox:latest"
APP = "example-app:latest"


def box(name: str, script: str, **extra: Any) -> dict[str, Any]:
    """A busybox container running one shell script."""
    return {"name": name, "image": BUSYBOX, "memory": 64, "command": ["sh", "-c", script], **extra}


def app(name: str = "app", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": APP, "memory": 64,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}], **extra}


def run(estate: Estate, agent: Agent, family: str, containers: list[dict[str, Any]],
        volumes: list[dict[str, Any]] | None = None, network: str = "awsvpc") -> TaskRun:
    """Register the definition, RunTask it (Fargate for awsvpc, else on a container instance),
    and let the agent start it."""
    kwargs: dict[str, Any] = {"family": family, "containerDefinitions": containers, "networkMode": network,
                              "volumes": volumes or []}
    fargate = network == "awsvpc"
    if fargate:
        kwargs.update(requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
    else:
        estate.container_instance(CLUSTER)
    arn = estate.ecs.register_task_definition(**kwargs)["taskDefinition"]["taskDefinitionArn"]
    estate.run_tasks(CLUSTER, arn, fargate=fargate)
    agent.sync()
    return agent.task(family)


def stopped(task: TaskRun) -> bool:
    return task.status == "STOPPED"


def settled(task: TaskRun, timeout: float = 30) -> TaskRun:
    """Wait until no container is PENDING (started, or known never to start)."""
    task.wait(lambda t: t.status == "STOPPED" or all(c.status != "PENDING" for c in t.containers), timeout)
    return task


def start_on(estate: Estate, agent: Agent, family: str, containers: list[dict[str, Any]], instance_arn: str,
             volumes: list[dict[str, Any]] | None = None) -> TaskRun:
    """StartTask of a bridge-mode definition on one container instance; the agent starts it."""
    arn = estate.ecs.register_task_definition(family=family, containerDefinitions=containers,
                                              networkMode="bridge", volumes=volumes or [])["taskDefinition"]["taskDefinitionArn"]
    task = estate.ecs.start_task(cluster=CLUSTER, taskDefinition=arn, containerInstances=[instance_arn])["tasks"][0]
    agent.sync()
    return agent.tasks[task["taskArn"]]
