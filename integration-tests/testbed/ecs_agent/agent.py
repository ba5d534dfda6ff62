"""The test bed's ECS agent and scheduler: it runs the containers of the emulator's tasks as
local processes, the way ECS would, and reports their state back to the emulator.

`Agent.sync()` does one pass over the emulator's clusters:
  - the service scheduler: a REPLICA service below its desired count gets tasks (RunTask with
    the service's launch type, network configuration, placement, group and startedBy); a stopped task of
    a service is replaced, with a back-off that doubles from 5 s, as ECS throttles a service
    whose tasks keep failing. DAEMON services are started on every container instance by the
    emulator itself (fidelity P11);
  - the container agent: every task whose desired status is RUNNING and that the agent doesn't
    run yet is prepared and started (`task.TaskRun`); a task stopped through the API is
    stopped here too;
  - a task whose essential container stops is reported STOPPED to the emulator with the reason
    (StopTask, and lastStatus STOPPED through fidelity hook P8), so the discoverer sees what it
    would see on ECS;
  - the security groups: each instance's and awsvpc task's namespace lets in only what its
    groups' ingress rules allow, a bridge container only its instance (`firewall.py`), renewed
    every pass as tasks come and go.
`Agent.run_in_background()` repeats it every second; `Agent.stop()` stops every task and
removes every namespace, mount and volume (also on a failed test: it is the fixtures' finalizer).

What the agent gives every container besides its definition: `aws_env`, the emulators'
endpoints (`AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_<SERVICE>`) and test
credentials, where ECS would give the task role; and an /etc/resolv.conf naming the VPC's
resolver (`vpc_dns.py`), which answers the Cloud Map names of the estate.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

import requests

from . import firewall
from .aws_pages import every
from .firewall import SecurityGroups
from .images import ImageError
from .boot import BootScript
from .sandbox import Host, Sandbox, SandboxError
from .task import DEFAULT_START_TIMEOUT, Networking, TaskInitError, TaskRun, eni_address
from .vpc_dns import VpcDns


class Agent:
    def __init__(self, endpoint: str, clients: Callable[[str], Any], aws_env: dict[str, str],
                 health_scale: float = 1.0, stop_grace: float = 10.0, replace_stopped: bool = True,
                 start_timeout: float = DEFAULT_START_TIMEOUT):
        Sandbox.remove_stale()
        self.sandbox = Sandbox()
        self.endpoint = endpoint
        self.client = clients
        self.dns = VpcDns(lambda: clients("servicediscovery"))
        self.aws_env = aws_env
        self.health_scale = health_scale
        self.stop_grace = stop_grace
        self.start_timeout = start_timeout
        self.replace_stopped = replace_stopped
        self.tasks: dict[str, TaskRun] = {}
        self.instances: dict[str, Host] = {}
        self.instance_roots: dict[str, Path] = {}  # container instance ARN -> its root file system
        self.task_hosts: dict[str, Host] = {}  # awsvpc task ARN -> its ENI's namespace
        self.bridge_hosts: dict[str, tuple[Host, str]] = {}  # namespace -> (bridge container, instance address)
        self._groups: SecurityGroups | None = None  # this pass's view of the security groups
        self._rulesets: dict[str, str] = {}  # namespace -> the nftables ruleset applied
        self.definitions: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []
        self.service_events: list[str] = []
        self._backoff: dict[str, tuple[float, float]] = {}  # cluster/service -> (next launch, delay)
        self.services: dict[str, dict[str, Any]] = {}  # cluster/service -> DescribeServices answer
        self.registered: dict[str, list[str]] = {}  # task ARN -> Cloud Map service ids
        self._lock = threading.RLock()
        self._loop: threading.Thread | None = None
        self._stopping = threading.Event()

    # --- one pass --------------------------------------------------------------------------
    def sync(self) -> None:
        with self._lock:
            ecs = self.client("ecs")
            clusters = every(ecs, "list_clusters", "clusterArns")
            for cluster in clusters:
                self._schedule_services(ecs, cluster)
            self._groups = self._security_groups()
            for cluster in clusters:
                self._run_tasks(ecs, cluster)
            self._enforce_security_groups()
            for task in list(self.tasks.values()):
                if task.status == "RUNNING" and task.arn not in self.registered:
                    self._register(task)

    def _firewall(self, host: Host, only_from: str | None = None) -> None:
        """Apply the host's ingress rules (firewall.py) when they changed since the last pass."""
        if only_from is not None:
            text = firewall.ruleset(only_from=only_from)
        else:
            groups = self._groups if self._groups is not None else self._security_groups()
            text = firewall.ruleset(groups.permissions(host.address))
            for line in groups.unmodelled:
                if f"security groups: {line}" not in self.errors:
                    self.errors.append(f"security groups: {line}")
        if self._rulesets.get(host.name) != text:
            firewall.apply(host.name, text)
            self._rulesets[host.name] = text

    def _security_groups(self) -> SecurityGroups:
        masqueraded: dict[str, set[str]] = {}
        for host, instance_address in list(self.bridge_hosts.values()):
            masqueraded.setdefault(instance_address, set()).add(host.address)
        return SecurityGroups(self.client("ec2"), masqueraded)

    def _enforce_security_groups(self) -> None:
        """Every instance's and running awsvpc task's namespace gets its groups' current rules:
        membership changes as tasks come and go."""
        for host in self.instances.values():
            self._firewall(host)
        for arn, host in self.task_hosts.items():
            if self.tasks.get(arn) is not None and self.tasks[arn].status != "STOPPED":
                self._firewall(host)

    def _schedule_services(self, ecs: Any, cluster: str) -> None:
        arns = every(ecs, "list_services", "serviceArns", cluster=cluster)
        for start in range(0, len(arns), 10):
            for service in ecs.describe_services(cluster=cluster, services=arns[start:start + 10])["services"]:
                key = f"{cluster}/{service['serviceName']}"  # as _service_key gives it for its tasks
                self.services[key] = service
                if service.get("status") != "ACTIVE" or service.get("schedulingStrategy") == "DAEMON":
                    continue
                running = ecs.list_tasks(cluster=cluster, serviceName=service["serviceName"],
                                         desiredStatus="RUNNING")["taskArns"]
                missing = service.get("desiredCount", 0) - len(running)
                if missing <= 0:
                    continue
                next_launch, _ = self._backoff.get(key, (0.0, 0.0))
                if time.monotonic() < next_launch:
                    continue
                kwargs: dict[str, Any] = {
                    "cluster": cluster, "taskDefinition": service["taskDefinition"], "count": missing,
                    "group": f"service:{service['serviceName']}",
                    "startedBy": f"ecs-svc/{abs(hash(service['serviceArn'])) % 10**19}",
                    "launchType": service.get("launchType") or "EC2"}
                if service.get("networkConfiguration"):
                    kwargs["networkConfiguration"] = service["networkConfiguration"]
                for placement in ("placementConstraints", "placementStrategy"):
                    if service.get(placement):
                        kwargs[placement] = service[placement]
                placed = ecs.run_task(**kwargs)
                for failure in placed.get("failures", []):
                    # What ECS reports as a service event ("unable to place a task"), and tries
                    # again: e.g. while a replica's instance is being replaced.
                    self.service_events.append(f"service {service['serviceName']} was unable to place a task: "
                                               f"{failure.get('reason')}")

    def _run_tasks(self, ecs: Any, cluster: str) -> None:
        arns = every(ecs, "list_tasks", "taskArns", cluster=cluster, desiredStatus="RUNNING")
        wanted = set(arns)
        for arn, task in list(self.tasks.items()):
            if task.cluster == cluster and arn not in wanted and task.status != "STOPPED":
                task.stop("Task stopped through the ECS API")
        new = [arn for arn in arns if arn not in self.tasks]
        for start in range(0, len(new), 100):
            for description in ecs.describe_tasks(cluster=cluster, tasks=new[start:start + 100])["tasks"]:
                self._start(cluster, description)

    def _start(self, cluster: str, description: dict[str, Any]) -> None:
        arn = description["taskArn"]
        definition = self._definition(description["taskDefinitionArn"])
        try:
            networking = self._networking(cluster, description, definition)
        except (SandboxError, KeyError, IndexError) as error:
            self.errors.append(f"task {arn}: no network for it: {error}")
            return
        env = {"AWS_ENDPOINT_URL": self.endpoint, **self.aws_env}
        task = TaskRun(cluster=cluster, arn=arn, family=definition["family"], definition=definition,
                       description=description, sandbox=self.sandbox, networking=networking, base_env=env,
                       secret=self._secret, env_file=self._env_file, health_scale=self.health_scale,
                       stop_grace=self.stop_grace, start_timeout=self.start_timeout, on_stopped=self._report_stopped)
        self.tasks[arn] = task
        try:
            task.prepare()
        except TaskInitError as error:
            task.stopped_reason, task.status = str(error), "STOPPED"
            self._report_stopped(task)
            return
        except (SandboxError, ImageError) as error:
            task.stopped_reason, task.status = f"ResourceInitializationError: {error}", "STOPPED"
            self._report_stopped(task)
            return
        task.start()

    def _definition(self, arn: str) -> dict[str, Any]:
        if arn not in self.definitions:
            self.definitions[arn] = self.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
        return self.definitions[arn]

    def _networking(self, cluster: str, description: dict[str, Any], definition: dict[str, Any]) -> Networking:
        mode = definition.get("networkMode") or "bridge"
        instance_host = self._instance(cluster, description.get("containerInstanceArn"))
        networking = Networking(mode=mode, instance_netns=instance_host.name if instance_host else None,
                                instance_address=instance_host.address if instance_host else None,
                                instance_root=self.instance_roots.get(description.get("containerInstanceArn", "")),
                                resolv_conf=self.dns.resolv_conf())
        task_id = description["taskArn"].rsplit("/", 1)[-1]
        if mode == "awsvpc":
            eni = eni_address(description)
            if eni is None:
                raise SandboxError("an awsvpc task needs an ENI address")
            host = self.sandbox.host(f"t{task_id[:8]}", eni)
            self._firewall(host)
            self.task_hosts[description["taskArn"]] = host
            networking.task_netns = host.name
        elif mode == "host":
            if instance_host is None:
                raise SandboxError("a host-mode task needs a container instance")
            networking.task_netns = instance_host.name
        else:
            if instance_host is None:
                raise SandboxError("a bridge-mode task needs a container instance")
            networking.bridge_host = lambda name: self._bridge_host(task_id, instance_host)
        return networking

    def _bridge_host(self, task_id: str, instance: Host) -> Host:
        """A bridge-mode container's namespace, which only its instance's proxy reaches."""
        host = self.sandbox.host(f"b{task_id[:6]}", self.sandbox.bridge_address())
        # From the task's thread: nothing shared but dicts, which the next pass reads.
        self._firewall(host, only_from=instance.address)
        self.bridge_hosts[host.name] = (host, instance.address)
        return host

    def _instance(self, cluster: str, container_instance_arn: str | None) -> Host | None:
        """The network namespace of an EC2 container instance, at its private IP."""
        if not container_instance_arn:
            return None
        if container_instance_arn not in self.instances:
            ecs, ec2 = self.client("ecs"), self.client("ec2")
            instance = ecs.describe_container_instances(cluster=cluster, containerInstances=[container_instance_arn])
            ec2_id = instance["containerInstances"][0]["ec2InstanceId"]
            reservation = ec2.describe_instances(InstanceIds=[ec2_id])["Reservations"][0]
            address = reservation["Instances"][0]["PrivateIpAddress"]
            self.instances[container_instance_arn] = host = self.sandbox.host(f"i{ec2_id[-8:]}", address)
            self._firewall(host)
            self.instance_roots[container_instance_arn] = self._boot(ec2, ec2_id)
        return self.instances[container_instance_arn]

    def _boot(self, ec2: Any, ec2_id: str) -> Path:
        """An instance's root file system, with the EBS volume attached at the device its boot
        script (its user data, boot.py) names mounted where the script mounts it, and the
        script's data directory made with its owner."""
        root = self.sandbox.instance_root(ec2_id)
        boot = BootScript.of_instance(ec2, ec2_id)
        volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [ec2_id]}])["Volumes"]
        for volume in volumes:
            for attachment in volume.get("Attachments", []):
                if attachment.get("InstanceId") == ec2_id and boot.mount_point and attachment.get("Device") == boot.device:
                    self.sandbox.mount_on_instance(root, self.sandbox.ebs_volume(volume["VolumeId"]), boot.mount_point)
                    if boot.data_dir and boot.data_owner:
                        self.sandbox.owned_directory(root, boot.data_dir, boot.data_owner)
        return root

    def _secret(self, value_from: str) -> str:
        """A `secrets` entry from the emulator's SSM or Secrets Manager, as the execution role
        would fetch it; an unknown one fails the container's start."""
        if ":secretsmanager:" in value_from:
            parts = value_from.split(":")
            secret_id = ":".join(parts[:7])
            json_key = parts[7] if len(parts) > 7 else ""
            value = self.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
            return str(json.loads(value)[json_key]) if json_key else value
        name = value_from.split(":parameter", 1)[-1] if value_from.startswith("arn:") else value_from
        return self.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]

    def _env_file(self, arn: str) -> str:
        """An `environmentFiles` object (arn:aws:s3:::bucket/key) from the emulator's S3."""
        bucket, _, key = arn.removeprefix("arn:aws:s3:::").partition("/")
        return self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()

    def _register(self, task: TaskRun) -> None:
        """ECS's service discovery: a running task of a service with `serviceRegistries` is
        registered in each Cloud Map service, with the attributes ECS sets. AWS_INSTANCE_PORT
        only when the registry names a port (SRV records); with A records ECS registers none."""
        self.registered[task.arn] = []
        key = _service_key(task)
        service = self.services.get(key) if key else None
        if not service:
            return
        containers = task.description.get("containers", [])
        address = task.eni or task.networking.instance_address
        for registry in service.get("serviceRegistries", []):
            attributes = {"AWS_INSTANCE_IPV4": str(address), "AWS_INIT_HEALTH_STATUS": "HEALTHY",
                          "ECS_CLUSTER_NAME": task.cluster.rsplit("/", 1)[-1],
                          "ECS_SERVICE_NAME": service["serviceName"], "ECS_TASK_DEFINITION_FAMILY": task.family,
                          "AVAILABILITY_ZONE": str(task.description.get("availabilityZone", "")),
                          "REGION": self.aws_env.get("AWS_REGION", "us-east-1")}
            port = registry.get("port")
            if port is None and registry.get("containerPort") is not None:
                port = registry["containerPort"]
                for container in containers:
                    for binding in container.get("networkBindings", []):
                        if container["name"] == registry.get("containerName") and binding["containerPort"] == port:
                            port = binding["hostPort"]
            if port is not None:
                attributes["AWS_INSTANCE_PORT"] = str(port)
            service_id = registry["registryArn"].rsplit("/", 1)[-1]
            self.client("servicediscovery").register_instance(ServiceId=service_id, InstanceId=task.task_id,
                                                              Attributes=attributes)
            self.registered[task.arn].append(service_id)

    def _report_stopped(self, task: TaskRun) -> None:
        for service_id in self.registered.get(task.arn, []):
            try:
                self.client("servicediscovery").deregister_instance(ServiceId=service_id, InstanceId=task.task_id)
            except Exception as error:  # noqa: BLE001 - the emulator may be gone at teardown
                self.errors.append(f"task {task.arn}: could not deregister from Cloud Map: {error}")
        try:
            self.client("ecs").stop_task(cluster=task.cluster, task=task.arn, reason=task.stopped_reason[:255])
            requests.post(f"{self.endpoint}/_fidelity/ecs/task-status", timeout=10,
                          json={"cluster": task.cluster, "task": task.arn, "lastStatus": "STOPPED"}).raise_for_status()
        except Exception as error:  # noqa: BLE001 - the emulator may be gone at teardown
            self.errors.append(f"task {task.arn}: could not report STOPPED: {error}")
        key = _service_key(task)
        if self.replace_stopped and key and not self._stopping.is_set():
            _, delay = self._backoff.get(key, (0.0, 0.0))
            delay = 5.0 if delay == 0 else min(delay * 2, 300.0)
            self._backoff[key] = (time.monotonic() + delay, delay)

    # --- lifetime --------------------------------------------------------------------------
    def run_in_background(self, interval: float = 1.0) -> None:
        def loop() -> None:
            while not self._stopping.wait(interval):
                try:
                    self.sync()
                except Exception as error:  # noqa: BLE001 - the emulator restarting, say; keep going
                    self.errors.append(f"sync: {error}")
        self.sync()
        self._loop = threading.Thread(target=loop, name="ecs-agent", daemon=True)
        self._loop.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._loop is not None:
            self._loop.join(timeout=30)
        with self._lock:
            for task in self.tasks.values():
                task.stop("Task stopped: the test bed is shutting down")
            self.sandbox.cleanup()
            self.dns.stop()

    # --- what it saw -----------------------------------------------------------------------
    def task(self, family: str) -> TaskRun:
        found = [t for t in self.tasks.values() if t.family == family]
        if not found:
            raise KeyError(f"the agent runs no task of family {family}: {sorted(t.family for t in self.tasks.values())}")
        return found[0]

    def failures(self) -> list[dict[str, Any]]:
        """Every container that stopped with an error, couldn't start, still waits, or turned UNHEALTHY:
        task family, container, reason, and the end of its log."""
        out = []
        for task in self.tasks.values():
            for container in task.containers:
                # PENDING: started by nothing yet, which at a test's end means stuck.
                failed = (container.status in ("NOT_STARTED", "PENDING")
                          or (container.status == "STOPPED" and container.exit_code not in (0, None)
                              and not container.reason.startswith("stopped by the agent"))
                          or container.health == "UNHEALTHY")
                if failed:
                    out.append({"task": task.family, "container": container.name, "status": container.status,
                                "reason": container.reason, "health": container.health,
                                "healthOutput": container.last_health_output, "taskStoppedReason": task.stopped_reason,
                                "log": container.log_tail(400)})
        return out

    def not_modelled(self) -> list[str]:
        """`family/container: field` for each definition field the agent doesn't apply."""
        return sorted({f"{t.family}/{c.name}: {name}" for t in self.tasks.values() for c in t.containers
                       for name in c.not_modelled})

    def not_run(self) -> list[str]:
        return sorted({f"{t.family}/{c.name} ({c.image})" for t in self.tasks.values() for c in t.containers
                       if c.status == "NOT_RUN"})


def _service_key(task: TaskRun) -> str | None:
    """`cluster/service` of a service's task (its group is `service:<name>`), keying the
    scheduler's back-off and the described services; None for a standalone task."""
    group = task.description.get("group", "")
    return f"{task.cluster}/{group.removeprefix('service:')}" if group.startswith("service:") else None


