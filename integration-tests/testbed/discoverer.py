"""ecs-discoverer in the test bed: the estate that holds every network mode and convention, a
`--once` run against an emulator, and its API calls and cycles read off /metrics (shared by the
discoverer's tests)."""

from __future__ import annotations

import subprocess

from testbed.harness import Emulator, Service, metric_by, metric_sum, metrics_after_next_cycle, service_binary
from testbed.seed import Estate, container


def seed_estate(estate: Estate) -> dict[str, str]:
    """Every network mode and convention; returns the expected address per marked container."""
    estate.cluster("east", tags={"env": "prod"})
    estate.cluster("us-east")  # a name that is a substring of another cluster's ARN
    instance = estate.container_instance("east")
    bridge = estate.task_definition("bridge-app", [
        container("app", ports=[8080, 9090], env={"PROMETHEUS": "true", "PROMETHEUS_CONTAINER_PORT": "9090",
                                                  "PROMETHEUS_ENDPOINT": "30s:/metrics"}),
        container("exporter", ports=[9100], labels={"PROMETHEUS_EXPORTER_PORT": "9100",
                                                     "PROMETHEUS_EXPORTER_JOB_NAME": "sidecar"}),
        container("log-router"),
    ])
    host = estate.task_definition("node", [container("node", ports=[9101],
                                                     labels={"PROMETHEUS_EXPORTER_PORT": "9101"})],
                                  network_mode="host")
    fargate = estate.task_definition("api", [container("api", ports=[8000])], network_mode="awsvpc", fargate=True)
    odd = estate.task_definition("odd", [container("odd", env={"PROMETHEUS": "1", "PROMETHEUS_PORT": "abc"})])
    estate.service("east", "web", bridge, tags={"team": "obs"})
    [bridge_task] = estate.run_tasks("east", bridge, service="web")
    estate.run_tasks("east", host)  # standalone
    estate.service("east", "api", fargate, network=True, tags={"METRICS_PORT": "8000", "METRICS_NAME": "api"})
    [api_task] = estate.run_tasks("east", fargate, service="api", fargate=True)
    estate.run_tasks("east", odd)
    estate.container_instance("us-east")
    estate.run_tasks("us-east", host)

    described = estate.ecs.describe_tasks(cluster="east", tasks=[bridge_task, api_task])["tasks"]
    by_name = {c["name"]: c for t in described for c in t["containers"]}
    host_port = lambda name, port: next(b["hostPort"] for b in by_name[name]["networkBindings"]
                                        if b["containerPort"] == port)
    eni_ip = next(d["value"] for t in described for a in t.get("attachments", []) for d in a["details"]
                  if d["name"] == "privateIPv4Address")
    return {
        "app": f"{instance.private_ip}:{host_port('app', 9090)}",
        "exporter": f"{instance.private_ip}:{host_port('exporter', 9100)}",
        "node": f"{instance.private_ip}:9101",
        "api": f"{eni_ip}:8000",
    }


def run_once(emulator: Emulator, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(service_binary("ecs-discoverer")), "--once", "--listen", "off", *args],
                          env={**emulator.env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=60)


def api_calls(metrics: str) -> dict[str, float]:
    return metric_by(metrics, "ecs_sd_aws_api_calls_total", "operation")


def cycles_done(metrics: str) -> float:
    return metric_sum(metrics, "ecs_sd_cycles_total")


def after_a_cycle(discoverer: Service) -> tuple[dict[str, float], float]:
    """API calls by operation and the cycle count, just after a cycle ends."""
    text = metrics_after_next_cycle(discoverer.metrics)
    return api_calls(text), cycles_done(text)
