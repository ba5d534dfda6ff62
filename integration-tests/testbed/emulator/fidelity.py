"""The emulator fidelity layer: patches to moto's ECS backend, applied in-process before serving.

moto's ECS model misses behaviour that the real API has and that a discoverer depends on. Each
patch below names the real behaviour it reproduces; `integration-tests/test_fidelity.py` has a
test for each one. moto is pinned in `requirements.txt`, so a moto upgrade that changes the
patched internals fails those tests instead of silently changing behaviour.

Patches (P-numbers are used in the tests and the README):
  P1  every container of a multi-container task is described, not only the first.
  P2  containers get `networkBindings`: bridge mode uses the mapped hostPort or assigns one from
      the ephemeral range (32768-60999) for `hostPort: 0`/absent; host mode binds the
      containerPort; awsvpc containers get `networkInterfaces` instead.
  P3  `hostPort: 0` is not a reserved port, so several dynamic-port tasks fit on one instance;
      the dynamic ports ECS assigned are reserved until the task stops.
  P4  awsvpc and host port mappings registered without `hostPort` get hostPort = containerPort.
  P5  awsvpc task ENIs take a private IP from the task's subnet (moto picks a random 10.x
      address outside it), and the task has its `availabilityZone`.
  P6  ListTasks: exact cluster match (moto matches the cluster name as a substring of the
      ARN), the `serviceName` filter (tasks whose group is `service:<name>`), `desiredStatus`
      defaulting to RUNNING, and `maxResults`/`nextToken` pagination. ListClusters,
      ListServices and ListContainerInstances paginate too.
  P7  DescribeTasks returns only tasks of the named cluster, and unknown ARNs as failures with
      reason MISSING (moto matches ids across every cluster).
  P8  a test hook, `POST /_fidelity/ecs/task-status`, sets a task's lastStatus (e.g. PENDING),
      because moto starts every task RUNNING.
  P9  Cloud Map ListServices honours the NAMESPACE_ID filter (moto lists every service of the
      account) and paginates at MaxResults with NextToken.
  P10 an ECS service created without `networkConfiguration` is described without one (moto
      returns `{}`, on which the Terraform AWS provider's reader dereferences nil and crashes).
  P11 the ECS scheduler for DAEMON services: one task per container instance, started when the
      service is created and when an instance registers later, with the service's group.
  P12 CreateService keeps `availabilityZoneRebalancing` (default DISABLED),
      `enableECSManagedTags`, `placementConstraints` and `placementStrategy`, which moto drops,
      so a re-plan of a Terraform service is clean and the scheduler places its tasks (P19).
  P13 RunTask of a definition whose containers set no `memory` (a Fargate definition with only
      task-level memory, as the Terraform modules register) places the task; moto sums the
      containers' memory and fails with a 500 on the missing one.
  P14 a Cloud Map service created with its namespace in `DnsConfig.NamespaceId` (where the
      Terraform AWS provider puts it) belongs to that namespace; moto leaves it in none, so
      ListServices by namespace and DiscoverInstances never find it.
  P15 a security group rule that references another group keeps its description
      (DescribeSecurityGroupRules); moto reads it only from a CIDR range, so every such rule
      of a Terraform apply re-plans as changed.
  P16 ECS publishes "ECS Task State Change" events to the default EventBridge bus (moto's ECS
      publishes none), so a rule with an SQS target delivers them: RunTask and StartTask (a
      PENDING event, then RUNNING), StopTask, the state transitions DescribeTasks advances,
      and the P8 hook. Each change of a task's lastStatus, desiredStatus or container instance
      raises its `version` by one, and DescribeTasks returns that version too. The event has
      the shape of AWS's documented task state change event (`detail` is the task, with ISO
      timestamps, an `eni` attachment, no tags); the service scheduler of the test bed is the
      ECS agent (`ecs_agent/`), whose RunTask and StopTask calls publish the same way.
      Events delivered to a target keep their `account`, which moto's default input template
      leaves out.
  P17 SQS returns a queue's JSON attributes (RedrivePolicy, Policy) compact, as AWS does; moto
      re-serializes them with spaces, which the Terraform AWS provider plans as a change of
      every queue with a dead-letter queue after each apply.

  P18 RegisterTaskDefinition refuses what ECS refuses, with ECS's message (moto registers it,
      and the test bed's agent would run it): a container with more memory than the task, a
      CPU/memory pair Fargate doesn't offer, Fargate with a network mode other than awsvpc, `host.sourcePath` on Fargate, a mountPoint naming an undeclared volume, no
      essential container, and `dependsOn` naming a container that doesn't exist.
  P19 RunTask refuses launchType FARGATE for a definition that isn't Fargate-compatible, and
      places EC2 tasks by their `placementConstraints` (memberOf on `attribute:` expressions,
      distinctInstance) and `placementStrategy` (spread by an attribute such as
      ecs.availability-zone, or by instanceId), which moto ignores, piling every task on the
      first instance. A task no instance satisfies is a failure of the answer, as on ECS.
  P20 EC2 instances and their container instances: RegisterContainerInstance keeps the request's
      `attributes` (what ECS_INSTANCE_ATTRIBUTES sends; moto drops them), and a terminated EC2
      instance (TerminateInstances, or its auto scaling group replacing it) takes its container
      instances with it: their tasks stop ("Host EC2 (instance i-...) terminated.") and they
      leave the cluster. moto keeps them ACTIVE with their tasks RUNNING, so the service would
      never replace a task whose instance is gone.

Not patched here, and worked around by the harness instead (see `harness.py`): moto advances a
task's state on every DescribeTasks; the harness sets a manual transition for `ecs::task`
through `/moto-api/state-manager/set-transition`, which also works against an external moto.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from datetime import datetime, timezone
from typing import Any

from moto.ec2 import ec2_backends
from moto.ec2.models import instances as ec2_instances
from moto.ec2.models import security_groups as ec2_security_groups
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.ecs.exceptions import EcsClientException, InvalidParameterException
from moto.events.models import events_backends
from moto.events.utils import EventTemplateParser
from moto.servicediscovery import models as sd_models
from moto.sqs import models as sqs_models
from moto.servicediscovery import responses as sd_responses

EPHEMERAL_PORTS = range(32768, 61000)

# Real ECS page sizes: the default maxResults when the caller gives none, and the maximum.
PAGE_SIZES = {
    "list_tasks": (100, 100),
    "list_clusters": (100, 100),
    "list_services": (10, 100),
    "list_container_instances": (100, 100),
}

_original = {
    "service_init": ecs_models.Service.__init__,
    "sd_create_service": sd_models.ServiceDiscoveryBackend.create_service,
    "create_service_response": ecs_responses.EC2ContainerServiceResponse.create_service,
    "create_service": ecs_models.EC2ContainerServiceBackend.create_service,
    "register_container_instance": ecs_models.EC2ContainerServiceBackend.register_container_instance,
    "register_container_instance_response": ecs_responses.EC2ContainerServiceResponse.register_container_instance,
    "terminate_instances": ec2_instances.InstanceBackend.terminate_instances,
    "task_init": ecs_models.Task.__init__,
    "calc_requirements": ecs_models.EC2ContainerServiceBackend._calculate_task_resource_requirements,
    "register_task_definition": ecs_models.EC2ContainerServiceBackend.register_task_definition,
    "stop_task": ecs_models.EC2ContainerServiceBackend.stop_task,
    "list_clusters": ecs_responses.EC2ContainerServiceResponse.list_clusters,
    "list_services": ecs_responses.EC2ContainerServiceResponse.list_services,
    "list_container_instances": ecs_responses.EC2ContainerServiceResponse.list_container_instances,
    "queue_attributes": sqs_models.Queue.attributes,
    "run_task": ecs_models.EC2ContainerServiceBackend.run_task,
    "run_task_response": ecs_responses.EC2ContainerServiceResponse.run_task,
    "start_task": ecs_models.EC2ContainerServiceBackend.start_task,
}


def _dynamic_ports(backend: Any) -> dict[str, set[int]]:
    """Host ports that P3 has handed out, per container instance ARN."""
    if not hasattr(backend, "_fidelity_dynamic_ports"):
        backend._fidelity_dynamic_ports = {}
    return backend._fidelity_dynamic_ports


def _reserved_static_ports(backend: Any, container_instance_arn: str) -> set[int]:
    for instances in backend.container_instances.values():
        for instance in instances.values():
            if instance.container_instance_arn == container_instance_arn:
                for resource in instance.remaining_resources:
                    if resource.get("name") == "PORTS":
                        return {int(p) for p in resource.get("stringSetValue", [])}
    return set()


def _allocate_host_port(backend: Any, container_instance_arn: str) -> int:
    taken = _dynamic_ports(backend).setdefault(container_instance_arn, set())
    reserved = taken | _reserved_static_ports(backend, container_instance_arn)
    for port in EPHEMERAL_PORTS:
        if port not in reserved:
            taken.add(port)
            return port
    raise InvalidParameterException("no free host port left in the ephemeral range")


def _container_instance_az(backend: Any, cluster_name: str, arn: str | None) -> str | None:
    if not arn:
        return None
    instance = backend.container_instances.get(cluster_name, {}).get(arn.split("/")[-1])
    return instance.attributes.get("ecs.availability-zone") if instance else None


def _network_bindings(
    task: Any, container_def: dict[str, Any], network_mode: str
) -> list[dict[str, Any]]:
    """P2: the bindings ECS reports for one container on EC2 (bridge or host mode)."""
    bindings = []
    for mapping in container_def.get("portMappings", []):
        container_port = mapping.get("containerPort")
        if container_port is None:
            continue
        if network_mode == "host":
            host_port = mapping.get("hostPort") or container_port
        else:
            host_port = mapping.get("hostPort") or 0
            if host_port == 0:
                host_port = _allocate_host_port(task._backend, task.container_instance_arn)
        bindings.append(
            {
                "bindIP": "0.0.0.0",
                "containerPort": container_port,
                "hostPort": host_port,
                "protocol": mapping.get("protocol", "tcp"),
            }
        )
    return bindings


def _fix_eni(task: Any) -> tuple[str | None, str | None]:
    """P5: give the task ENI an address of its subnet. Returns (attachment id, private IP)."""
    for attachment in task.attachments:
        if attachment.get("type") != "ElasticNetworkInterface":
            continue
        details = {d["name"]: d for d in attachment["details"]}
        ec2 = ec2_backends[task._account_id][task.region_name]
        subnet = ec2.get_subnet(details["subnetId"]["value"])
        eni = ec2.get_network_interface(details["networkInterfaceId"]["value"])
        address = subnet.get_available_subnet_ip(eni)
        eni.private_ip_address = address
        eni.private_ip_addresses = [{"Primary": True, "PrivateIpAddress": address}]
        details["privateIPv4Address"]["value"] = address
        details["privateDnsName"]["value"] = f"ip-{address.replace('.', '-')}.ec2.internal"
        task.availability_zone = subnet.availability_zone
        return attachment["id"], address
    return None, None


def _task_init(self: Any, cluster: Any, task_definition: Any, *args: Any, **kwargs: Any) -> None:
    _original["task_init"](self, cluster, task_definition, *args, **kwargs)
    network_mode = task_definition.network_mode or "bridge"
    self.availability_zone = _container_instance_az(
        self._backend, cluster.name, self.container_instance_arn
    )
    attachment_id, eni_ip = _fix_eni(self) if network_mode == "awsvpc" else (None, None)
    on_ec2 = self.container_instance_arn is not None

    containers = []
    for container_def in task_definition.container_definitions:
        container = ecs_models.Container(task_definition)
        # P1: moto copies container_definitions[0] into every task; copy each one instead.
        container.name = container_def.get("name")
        container.image = container_def.get("image")
        container.cpu = container_def.get("cpu", 0)
        container.memory = container_def.get("memory")
        container.environment = container_def.get("environment")
        container.command = container_def.get("command")
        container.last_status = "RUNNING"
        if network_mode == "awsvpc":
            container.network_interfaces = [
                {"attachmentId": attachment_id, "privateIpv4Address": eni_ip}
            ]
        elif on_ec2:
            container.network_bindings = _network_bindings(self, container_def, network_mode)
        containers.append(container)
    self.containers = containers


def _calculate_requirements(task_definition: Any) -> dict[str, Any]:
    """P3: only fixed host ports are reserved up front; awsvpc tasks have ports of their own ENI.
    P13: a container without memory counts as 0 MiB (the task-level memory is what Fargate
    reserves)."""
    definitions = task_definition.container_definitions
    memory_keys = ("memory", "memoryReservation", "Memory", "MemoryReservation")
    task_definition.container_definitions = [
        c if any(c.get(k) is not None for k in memory_keys) else {**c, "memory": 0} for c in definitions]
    try:
        requirements = _original["calc_requirements"](task_definition)
    finally:
        task_definition.container_definitions = definitions
    if task_definition.network_mode == "awsvpc":
        requirements["PORTS"] = []
    else:
        requirements["PORTS"] = [p for p in requirements["PORTS"] if p]
    return requirements


# Fargate's task sizes: CPU units -> the memory values (MiB) it offers with them.
FARGATE_SIZES: dict[int, set[int]] = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4097, 1024)),
    1024: set(range(2048, 8193, 1024)),
    2048: set(range(4096, 16385, 1024)),
    4096: set(range(8192, 30721, 1024)),
    8192: set(range(16384, 61441, 4096)),
    16384: set(range(32768, 122881, 8192)),
}


def _refusal(container_definitions: list[dict[str, Any]], volumes: list[dict[str, Any]],
             network_mode: str | None, compatibilities: list[str], cpu: str | None, memory: str | None) -> str | None:
    """P18: ECS's ClientException message for a definition it refuses; None if it registers."""
    names = {c.get("name") for c in container_definitions}
    declared = {v.get("name") for v in volumes}
    if "FARGATE" in compatibilities:
        if (network_mode or "bridge") != "awsvpc":
            return "Fargate only supports network mode ‘awsvpc’."
        if any((v.get("host") or {}).get("sourcePath") for v in volumes):
            return "Fargate compatible task definitions do not support sourcePath"
        if cpu and memory and int(memory) not in FARGATE_SIZES.get(int(cpu), set()):
            return (f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
                    f"See the Amazon ECS documentation for the valid values.")
    for container in container_definitions:
        if memory and int(container.get("memory") or 0) > int(memory):
            return f"The 'memory' setting for container '{container.get('name')}' is greater than for the task."
        for mount in container.get("mountPoints", []):
            if mount.get("sourceVolume") not in declared:
                return f"Unknown volume '{mount.get('sourceVolume')}'."
        for dependency in container.get("dependsOn", []):
            if dependency.get("containerName") not in names:
                return f"Cannot depend on container + '{dependency.get('containerName')}' because it does not exist"
    if container_definitions and not any(c.get("essential", True) for c in container_definitions):
        return "Task definition doesn't have any essential container."
    return None


def _register_task_definition(
    self: Any, family: str, container_definitions: list[dict[str, Any]], *args: Any, **kwargs: Any
) -> Any:
    """P4: ECS fills hostPort with containerPort in awsvpc and host network modes. P18: what
    ECS refuses is refused."""
    refused = _refusal(container_definitions or [], kwargs.get("volumes") or [], kwargs.get("network_mode"),
                       kwargs.get("requires_compatibilities") or [], kwargs.get("cpu"), kwargs.get("memory"))
    if refused:
        raise EcsClientException(refused)
    if kwargs.get("network_mode") in ("awsvpc", "host"):
        for container_def in container_definitions or []:
            for mapping in container_def.get("portMappings", []):
                if "containerPort" in mapping and not mapping.get("hostPort"):
                    mapping["hostPort"] = mapping["containerPort"]
    return _original["register_task_definition"](
        self, family, container_definitions, *args, **kwargs
    )


def _stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
    """P3: the dynamic host ports of a stopped task are free again. P20: a task already stopped
    (its instance terminated) is returned as it is, as ECS does; moto frees its resources on
    an instance that is gone and answers 500."""
    cluster = self._get_cluster(cluster_str)
    stopped = next((t for arn, t in self.tasks.get(cluster.name, {}).items()
                    if arn.endswith(task_str.split("/")[-1]) and t.last_status == "STOPPED"), None)
    if stopped is not None:
        return stopped
    task = _original["stop_task"](self, cluster_str, task_str, reason)
    taken = _dynamic_ports(self).get(task.container_instance_arn or "", set())
    for container in task.containers:
        for binding in getattr(container, "network_bindings", []) or []:
            taken.discard(binding["hostPort"])
    return task


def _page(handler: Any, items: list[str], operation: str) -> tuple[list[str], str | None]:
    """P6: slice a listing the way ECS does, with an opaque nextToken."""
    default_size, max_size = PAGE_SIZES[operation]
    size = handler._get_int_param("maxResults") or default_size
    if size < 1 or size > max_size:
        raise InvalidParameterException(f"maxResults must be between 1 and {max_size}")
    token = handler._get_param("nextToken")
    start = int(json.loads(base64.b64decode(token))["offset"]) if token else 0
    end = start + size
    next_token = None
    if end < len(items):
        next_token = base64.b64encode(json.dumps({"offset": end}).encode()).decode()
    return items[start:end], next_token


def _list_tasks_response(self: Any) -> Any:
    """P6: ListTasks with exact cluster match, serviceName, default RUNNING, pagination."""
    backend = self.ecs_backend
    cluster = backend._get_cluster(self._get_param("cluster", "default"))
    container_instance = self._get_param("containerInstance")
    family = self._get_param("family")
    started_by = self._get_param("startedBy")
    service_name = self._get_param("serviceName")
    desired_status = self._get_param("desiredStatus") or "RUNNING"

    tasks = list(backend.tasks.get(cluster.name, {}).values())
    if container_instance:
        tasks = [t for t in tasks if (t.container_instance_arn or "").endswith(container_instance.split("/")[-1])]
    if family:
        tasks = [t for t in tasks if t.task_definition_arn.split("/")[-1].split(":")[0] == family]
    if started_by:
        tasks = [t for t in tasks if t.started_by == started_by]
    if service_name:
        name = service_name.split("/")[-1]
        tasks = [t for t in tasks if t.group == f"service:{name}"]
    tasks = [t for t in tasks if t.desired_status == desired_status]

    arns, next_token = _page(self, [t.task_arn for t in tasks], "list_tasks")
    result = {"taskArns": arns}
    if next_token:
        result["nextToken"] = next_token
    return ecs_responses.ActionResult(result)


def _describe_tasks(self: Any, cluster_str: str, tasks: list[str]) -> list[Any]:
    """P7: only the named cluster's tasks, without the substring matching of task ids."""
    cluster = self._get_cluster(cluster_str)
    if not tasks:
        raise InvalidParameterException("Tasks cannot be empty.")
    if len(tasks) > 100:
        raise InvalidParameterException("Tasks cannot have more than 100 elements.")
    by_id = {arn.split("/")[-1]: task for arn, task in self.tasks.get(cluster.name, {}).items()}
    found = []
    for wanted in tasks:
        task = by_id.get(wanted.split("/")[-1])
        if task is not None:
            task.advance()
            found.append(task)
    return found


def _describe_tasks_response(self: Any) -> Any:
    """P7: unknown task ARNs come back as failures with reason MISSING."""
    cluster = self._get_param("cluster", "default")
    wanted = self._get_param("tasks", [])
    tasks = self.ecs_backend.describe_tasks(cluster, wanted)
    if "TAGS" in self._get_param("include", []):
        self._include_in_response(ecs_responses.DESCRIBE_TASKS_TAGS)
    else:
        self._exclude_from_response(ecs_responses.DESCRIBE_TASKS_TAGS)
    found_ids = {t.id for t in tasks}
    failures = [
        {"arn": arn, "reason": "MISSING"} for arn in wanted if arn.split("/")[-1] not in found_ids
    ]
    return ecs_responses.ActionResult({"tasks": tasks, "failures": failures})


def _paginated(operation: str, key: str) -> Any:
    original = _original[operation]

    def handler(self: Any) -> Any:
        result = original(self)
        items = result.result[key]
        page, next_token = _page(self, items, operation)
        result.result[key] = page
        if next_token:
            result.result["nextToken"] = next_token
        return result

    handler.__doc__ = f"P6: {operation} paginates at maxResults with nextToken."
    return handler


def _sd_list_services(self: Any) -> str:
    """P9: Cloud Map ListServices with the NAMESPACE_ID filter and pagination."""
    params = json.loads(self.body or "{}")
    services = list(self.servicediscovery_backend.list_services())
    for criterion in params.get("Filters") or []:
        if criterion.get("Name") == "NAMESPACE_ID":
            wanted = set(criterion.get("Values") or [])
            services = [s for s in services if s.namespace_id in wanted]
    size = int(params.get("MaxResults") or 100)
    token = params.get("NextToken")
    start = int(json.loads(base64.b64decode(token))["offset"]) if token else 0
    answer: dict[str, Any] = {"Services": [s.to_json() for s in services[start:start + size]]}
    if start + size < len(services):
        answer["NextToken"] = base64.b64encode(json.dumps({"offset": start + size}).encode()).decode()
    return json.dumps(answer)


def _sd_create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
    """P14: the namespace of DnsConfig.NamespaceId when none is given at the top level."""
    dns_config = kwargs.get("dns_config") or {}
    if not kwargs.get("namespace_id") and dns_config.get("NamespaceId"):
        kwargs["namespace_id"] = dns_config["NamespaceId"]
    return _original["sd_create_service"](self, *args, **kwargs)


def _service_init(self: Any, *args: Any, **kwargs: Any) -> None:
    """P10: no networkConfiguration unless one was given."""
    _original["service_init"](self, *args, **kwargs)
    if not self.network_configuration:
        self.network_configuration = None


def _start_daemon_tasks(backend: Any, cluster_name: str, service: Any, instance_ids: list[str]) -> None:
    """P11: the daemon's task on each of `instance_ids` that doesn't run one yet."""
    group = f"service:{service.name}"
    running = {t.container_instance_arn.split("/")[-1] for t in backend.tasks.get(cluster_name, {}).values()
               if t.group == group and t.last_status == "RUNNING" and t.container_instance_arn}
    missing = [i for i in instance_ids if i not in running]
    if missing and service.task_definition:
        backend.start_task(cluster_name, service.task_definition, missing, {},
                           f"ecs-svc/{abs(hash(service.arn)) % 10**19}", group=group)


def _create_service(self: Any, cluster_str: str, service_name: str, *args: Any, **kwargs: Any) -> Any:
    service = _original["create_service"](self, cluster_str, service_name, *args, **kwargs)
    if service.scheduling_strategy == "DAEMON":
        cluster = self._get_cluster(cluster_str)
        _start_daemon_tasks(self, cluster.name, service, list(self.container_instances.get(cluster.name, {})))
    return service


def _register_container_instance(self: Any, cluster_str: str, ec2_instance_id: str) -> Any:
    instance = _original["register_container_instance"](self, cluster_str, ec2_instance_id)
    cluster_name = cluster_str.split("/")[-1]
    instance_id = instance.container_instance_arn.split("/")[-1]
    for service in list(self.services.values()):
        if service.cluster_name == cluster_name and service.scheduling_strategy == "DAEMON" \
                and service.status == "ACTIVE":
            _start_daemon_tasks(self, cluster_name, service, [instance_id])
    return instance


def _register_container_instance_response(self: Any) -> Any:
    """P20: the registration's attributes are the container instance's."""
    answer = _original["register_container_instance_response"](self)
    attributes = self._get_param("attributes") or []
    if attributes:
        instance = answer.result["containerInstance"]  # type: ignore[index]
        for attribute in attributes:
            instance.attributes[attribute["name"]] = attribute.get("value")
    return answer


def _terminate_instances(self: Any, instance_ids: list[str]) -> Any:
    """P20: the container instances of terminated EC2 instances stop their tasks and leave."""
    terminated = _original["terminate_instances"](self, instance_ids)
    ecs = ecs_models.ecs_backends[self.account_id][self.region_name]
    gone = {instance.id for instance, _ in terminated}
    for cluster_name, instances in list(ecs.container_instances.items()):
        for instance_id, instance in list(instances.items()):
            if instance.ec2_instance_id not in gone:
                continue
            for task in list(ecs.tasks.get(cluster_name, {}).values()):
                if task.container_instance_arn == instance.container_instance_arn and task.desired_status != "STOPPED":
                    _stop_task_publishing(ecs, cluster_name, task.task_arn,
                                          f"Host EC2 (instance {instance.ec2_instance_id}) terminated.")
            if cluster_name != "orphaned":
                ecs.deregister_container_instance(cluster_name, instance_id, True)
    return terminated


def _create_service_response(self: Any) -> Any:
    """P12: keep the settings moto drops."""
    result = _original["create_service_response"](self)
    service = result.result["service"]
    service.availability_zone_rebalancing = self._get_param("availabilityZoneRebalancing") or "DISABLED"
    service.enable_ecs_managed_tags = bool(self._get_param("enableECSManagedTags", False))
    service.placement_constraints = self._get_param("placementConstraints") or []
    service.placement_strategy = self._get_param("placementStrategy") or []
    return result


def _rule_description(self: Any) -> str | None:
    """P15: the description of a CIDR rule or of a referenced-group rule."""
    return self.ip_range.get("Description") or self.source_group.get("Description")


TASK_STATE_CHANGE = "ECS Task State Change"


def _iso(moment: datetime) -> str:
    """An ISO timestamp as ECS events carry them: `2026-11-30T17:00:00.123Z`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _task_event_detail(task: Any, version: int, now: datetime) -> dict[str, Any]:
    """P16: the task as the documented task state change event's `detail` carries it."""
    created = getattr(task, "_fidelity_created_at", now)
    cluster_name = task.cluster_name
    containers = []
    for container in task.containers:
        item: dict[str, Any] = {
            "containerArn": f"arn:aws:ecs:{task.region_name}:{task._account_id}:container/"
                            f"{cluster_name}/{task.id}/{abs(hash((task.id, container.name))) % 10**12:012d}",
            "lastStatus": "RUNNING" if task.last_status == "RUNNING" else task.last_status,
            "name": container.name,
            "image": container.image,
            "taskArn": task.task_arn,
            "cpu": str(container.cpu or 0),
        }
        if container.memory is not None:
            item["memory"] = str(container.memory)
        if getattr(container, "network_interfaces", None):
            item["networkInterfaces"] = container.network_interfaces
        if getattr(container, "network_bindings", None):
            item["networkBindings"] = container.network_bindings
        containers.append(item)
    detail: dict[str, Any] = {
        "attachments": [
            {**a, "type": "eni" if a.get("type") == "ElasticNetworkInterface" else a.get("type")}
            for a in task.attachments
        ],
        "availabilityZone": getattr(task, "availability_zone", None),
        "clusterArn": task.cluster_arn,
        "containers": containers,
        "createdAt": _iso(created),
        "launchType": task.launch_type or "EC2",
        "desiredStatus": task.desired_status,
        "group": task.group,
        "lastStatus": task.last_status,
        "overrides": {"containerOverrides": [{"name": c.name} for c in task.containers]},
        "connectivity": "CONNECTED",
        "connectivityAt": _iso(created),
        "startedBy": task.started_by or None,
        "updatedAt": _iso(now),
        "taskArn": task.task_arn,
        "taskDefinitionArn": task.task_definition_arn,
        "version": version,
        "containerInstanceArn": task.container_instance_arn,
        "platformVersion": task.platform_version if task.launch_type == "FARGATE" else None,
    }
    if task.last_status == "RUNNING":
        detail["startedAt"] = _iso(getattr(task, "_fidelity_started_at", now))
    if task.last_status == "STOPPED":
        detail["stoppedAt"] = _iso(now)
        detail["stoppedReason"] = task.stopped_reason or "Task stopped by user"
        detail["stopCode"] = "UserInitiated"
    return {k: v for k, v in detail.items() if v is not None}


def _publish_changes(backend: Any, tasks: list[Any]) -> None:
    """P16: one event per change of each task's state, with the task's next version. A task
    created RUNNING (moto starts every task RUNNING) is announced PENDING first, as ECS does."""
    versions = backend.__dict__.setdefault("_fidelity_task_states", {})
    now = datetime.now(timezone.utc)
    entries = []
    for task in tasks:
        if not isinstance(task, ecs_models.Task):
            continue
        state = (task.last_status, task.desired_status, task.container_instance_arn)
        previous = versions.get(task.task_arn)
        if previous is not None and previous[0] == state:
            continue
        version = previous[1] if previous is not None else 0
        announced = []
        if previous is None:
            task._fidelity_created_at = now
            if task.last_status == "RUNNING":
                actual = task.last_status
                task.last_status = "PENDING"
                version += 1
                announced.append(_task_event_detail(task, version, now))
                task.last_status = actual
        if task.last_status == "RUNNING":
            task._fidelity_started_at = now
        version += 1
        announced.append(_task_event_detail(task, version, now))
        versions[task.task_arn] = (state, version)
        task.version = version
        entries.extend(
            {"Source": "aws.ecs", "DetailType": TASK_STATE_CHANGE, "Detail": json.dumps(detail),
             "Resources": [task.task_arn]}
            for detail in announced
        )
    if not entries:
        return
    events = events_backends[backend.account_id][backend.region_name]
    for start in range(0, len(entries), 10):
        events.put_events(entries[start:start + 10])


def _publishing(operation: str) -> Any:
    original = _original[operation]

    def handler(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        _publish_changes(self, result if isinstance(result, list) else [result])
        return result

    handler.__doc__ = f"P16: {operation} publishes the task state changes it makes."
    return handler


def _stop_task_publishing(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
    task = _stop_task(self, cluster_str, task_str, reason)
    _publish_changes(self, [task])
    return task


def _describe_tasks_publishing(self: Any, cluster_str: str, tasks: list[str]) -> list[Any]:
    """P7, and P16 for the transitions moto's state manager advances on DescribeTasks."""
    found = _describe_tasks(self, cluster_str, tasks)
    _publish_changes(self, found)
    return found


_placement = threading.local()  # the RunTask request's placement, from the response to the backend


def _run_task_response(self: Any) -> Any:
    """P19: the placement of the request reaches the backend; unplaced tasks are failures."""
    _placement.constraints = self._get_param("placementConstraints") or []
    _placement.strategy = self._get_param("placementStrategy") or []
    _placement.failures = []
    try:
        answer = _original["run_task_response"](self)
    finally:
        _placement.constraints, _placement.strategy = [], []
    answer.result["failures"] = _placement.failures  # type: ignore[index]
    return answer


def _attribute_test(expression: str, attributes: dict[str, Any]) -> bool:
    """One memberOf clause on `attribute:<name>`: ==, !=, in [..], not_in [..]."""
    found = re.fullmatch(r"\s*attribute:([\w.-]+)\s*(==|!=|in|not_in)\s*(.+?)\s*", expression)
    if found is None:
        raise InvalidParameterException(f"the test bed's emulator models memberOf expressions on attribute:<name> "
                                        f"only, joined by 'and'; not {expression!r}")
    name, operator, operand = found.groups()
    values = {v.strip() for v in operand.strip("[]").split(",")} if operator in ("in", "not_in") else {operand}
    present = attributes.get(name)
    return (present in values) == (operator in ("==", "in"))


def _eligible(backend: Any, cluster_name: str, instance: Any, group: str, constraints: list[dict[str, Any]]) -> bool:
    attributes = dict(instance.attributes)
    for constraint in constraints:
        if constraint.get("type") == "memberOf":
            clauses = re.split(r"\s+and\s+", constraint.get("expression", ""))
            if not all(_attribute_test(clause, attributes) for clause in clauses):
                return False
        elif constraint.get("type") == "distinctInstance":
            if any(t.group == group and t.desired_status == "RUNNING"
                   and t.container_instance_arn == instance.container_instance_arn
                   for t in backend.tasks.get(cluster_name, {}).values()):
                return False
    return True


def _spread_key(backend: Any, cluster_name: str, group: str, strategy: list[dict[str, Any]]) -> Any:
    """The order in which instances take the next task: fewest tasks of the group in the
    instance's value of the first spread field first."""
    spread = next((s.get("field", "") for s in strategy if s.get("type") == "spread"), None)
    if spread is None:
        return lambda instance: 0

    def value(instance: Any) -> Any:
        if spread.lower() == "instanceid":
            return instance.container_instance_arn
        return instance.attributes.get(spread.removeprefix("attribute:"))

    def key(instance: Any) -> int:
        mine = value(instance)
        return sum(1 for t in backend.tasks.get(cluster_name, {}).values()
                   if t.group == group and t.desired_status == "RUNNING" and t.container_instance_arn
                   and value(backend.container_instances[cluster_name][t.container_instance_arn.split("/")[-1]]) == mine)
    return key


_run_task_publishing = _publishing("run_task")


def _run_task(self: Any, cluster_str: str, task_definition_str: str, count: int, *args: Any, **kwargs: Any) -> Any:
    """P19, then P16 (publishing)."""
    launch_type = args[3] if len(args) > 3 else kwargs.get("launch_type")
    group = (args[5] if len(args) > 5 else kwargs.get("group")) or None
    definition = self.describe_task_definition(task_definition_str)
    if launch_type == "FARGATE" and "FARGATE" not in (definition.requires_compatibilities or []):
        raise InvalidParameterException("Task definition does not support launch_type FARGATE.")
    constraints = getattr(_placement, "constraints", [])
    strategy = getattr(_placement, "strategy", [])
    cluster = self._get_cluster(cluster_str)
    if launch_type == "FARGATE" or not (constraints or strategy) or cluster.name not in self.container_instances:
        return _run_task_publishing(self, cluster_str, task_definition_str, count, *args, **kwargs)
    group = group or f"family:{definition.family}"
    everyone = self.container_instances[cluster.name]
    placed: list[Any] = []
    try:
        for _ in range(count):
            eligible = [i for i in everyone.values() if i.status == "ACTIVE"
                        and _eligible(self, cluster.name, i, group, constraints)]
            eligible.sort(key=_spread_key(self, cluster.name, group, strategy))
            task = []
            for instance in eligible:  # moto places on the first of these that has room
                self.container_instances[cluster.name] = {instance.container_instance_arn.split("/")[-1]: instance}
                task = _run_task_publishing(self, cluster_str, task_definition_str, 1, *args, **kwargs)
                self.container_instances[cluster.name] = everyone
                if task:
                    break
            if not task:
                reason = "MemberOf placement constraint unsatisfied." if eligible == [] else "RESOURCE:MEMORY"
                getattr(_placement, "failures", []).append({"arn": cluster.arn, "reason": reason})
            placed += task
    finally:
        self.container_instances[cluster.name] = everyone
    return placed


def _queue_attributes(self: Any) -> dict[str, Any]:
    """P17: JSON attributes as AWS returns them, without moto's spaces."""
    result = _original["queue_attributes"].fget(self)
    for key in ("RedrivePolicy", "Policy"):
        if isinstance(result.get(key), str):
            result[key] = json.dumps(json.loads(result[key]), separators=(",", ":"))
    return result


def set_task_status(body: dict[str, Any]) -> dict[str, Any]:
    """P8: set a task's lastStatus, e.g. to PENDING; `{account?, region?, cluster, task, lastStatus,
    unplaced?}`. With `unplaced`, the task also loses its container instance (not placed yet)."""
    account = body.get("account", "123456789012")
    backend = ecs_models.ecs_backends[account][body.get("region", "us-east-1")]
    cluster = backend._get_cluster(body["cluster"])
    wanted = body["task"].split("/")[-1]
    for arn, task in backend.tasks.get(cluster.name, {}).items():
        if arn.split("/")[-1] == wanted:
            task.last_status = body["lastStatus"]
            if body.get("unplaced"):
                task.container_instance_arn = None
            _publish_changes(backend, [task])
            return {"taskArn": task.task_arn, "lastStatus": task.last_status}
    raise KeyError(f"no task {body['task']} in cluster {cluster.name}")


def apply() -> None:
    """Install every patch. Idempotent."""
    backend_cls = ecs_models.EC2ContainerServiceBackend
    response_cls = ecs_responses.EC2ContainerServiceResponse
    ecs_models.Task.__init__ = _task_init
    backend_cls._calculate_task_resource_requirements = staticmethod(_calculate_requirements)
    backend_cls.register_task_definition = _register_task_definition
    EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = (
        '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
        '"account": "<account>", "time": <time>, "region": "<region>", "resources": <resources>, '
        '"detail": <detail>}'
    )
    sqs_models.Queue.attributes = property(_queue_attributes)
    backend_cls.stop_task = _stop_task_publishing
    backend_cls.describe_tasks = _describe_tasks_publishing
    backend_cls.run_task = _run_task
    response_cls.run_task = _run_task_response
    backend_cls.start_task = _publishing("start_task")
    response_cls.list_tasks = _list_tasks_response
    response_cls.describe_tasks = _describe_tasks_response
    response_cls.list_clusters = _paginated("list_clusters", "clusterArns")
    response_cls.list_services = _paginated("list_services", "serviceArns")
    response_cls.list_container_instances = _paginated(
        "list_container_instances", "containerInstanceArns"
    )
    sd_responses.ServiceDiscoveryResponse.list_services = _sd_list_services
    sd_models.ServiceDiscoveryBackend.create_service = _sd_create_service
    ecs_models.Service.__init__ = _service_init
    backend_cls.create_service = _create_service
    response_cls.create_service = _create_service_response
    backend_cls.register_container_instance = _register_container_instance
    response_cls.register_container_instance = _register_container_instance_response
    ec2_instances.InstanceBackend.terminate_instances = _terminate_instances
    ec2_security_groups.SecurityGroupRule.description = property(_rule_description)
