"""Seeding helpers that build realistic estates in the emulator with boto3.

An `Estate` wraps the clients of one emulator endpoint. Its network is a loopback VPC (network.py), so
every address the emulator hands out (EC2 private IPs, task ENIs) is a loopback address. Prometheus
can then scrape what is discovered without a packet leaving the machine, and a real process (say
node-exporter) listening on such an address is a real target.

The emulator's quirks that a seeder must respect are handled here:
  - awsvpc RunTask needs a VPC with DNS hostnames enabled;
  - FARGATE task definitions need `memory` on each container;
  - Cloud Map's data-plane calls (DiscoverInstances) go to a `data-` prefixed host, which an
    emulator endpoint can't resolve, so the host prefix is turned off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

from testbed.harness import AWS_ENV, REGION, Emulator, Endpoints
from testbed.network import PLAN


def container(name: str, *, image: str = "public.ecr.aws/docker/library/busybox:latest",
              ports: list[int | tuple[int, int]] | None = None, env: dict[str, str] | None = None,
              labels: dict[str, str] | None = None, memory: int = 128,
              essential: bool = True) -> dict[str, Any]:
    """A container definition. A port is `containerPort` (hostPort left out, i.e. dynamic in
    bridge mode) or `(containerPort, hostPort)`."""
    mappings = []
    for port in ports or []:
        if isinstance(port, tuple):
            mappings.append({"containerPort": port[0], "hostPort": port[1], "protocol": "tcp"})
        else:
            mappings.append({"containerPort": port, "protocol": "tcp"})
    definition: dict[str, Any] = {"name": name, "image": image, "memory": memory,
                                  "essential": essential, "portMappings": mappings}
    if env:
        definition["environment"] = [{"name": k, "value": v} for k, v in env.items()]
    if labels:
        definition["dockerLabels"] = dict(labels)
    return definition


def tag_list(tags: dict[str, str] | None, key: str = "key", value: str = "value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in (tags or {}).items()]


def register_container_instance(ecs: Any, cluster: str, ec2_instance_id: str,
                                attributes: dict[str, str] | None = None) -> dict[str, Any]:
    """What the ECS agent does when it starts on an instance: register it with the cluster and
    the attributes of ECS_INSTANCE_ATTRIBUTES."""
    return ecs.register_container_instance(
        cluster=cluster, instanceIdentityDocument=json.dumps({"instanceId": ec2_instance_id}),
        attributes=tag_list(attributes, "name", "value"))["containerInstance"]


@dataclass
class Instance:
    container_instance_arn: str
    ec2_instance_id: str
    private_ip: str
    availability_zone: str


@dataclass
class Estate:
    """Seeds an estate through boto3. `endpoint` is moto's (the fidelity hooks are there);
    `routes`, when given, sends each service to the emulator that serves it."""

    endpoint: str
    region: str = REGION
    subnets: list[str] = field(default_factory=list)
    security_group: str = ""
    vpc: str = ""
    routes: Endpoints | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, emulator: Emulator) -> "Estate":
        return cls(emulator.endpoint, routes=emulator.endpoints)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            config = Config(retries={"max_attempts": 2},
                            inject_host_prefix=service != "servicediscovery",
                            s3={"addressing_style": "path"})
            endpoint = self.routes.of(service) if self.routes else self.endpoint
            self._clients[service] = boto3.client(
                service, endpoint_url=endpoint, region_name=self.region,
                aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"], config=config)
        return self._clients[service]

    @property
    def ecs(self) -> Any:
        return self.client("ecs")

    @property
    def ec2(self) -> Any:
        return self.client("ec2")

    # --- network -------------------------------------------------------------------------
    def network(self, subnet_count: int = 2) -> None:
        """The worker's loopback VPC (network.PLAN) with DNS hostnames and one /20 subnet per
        availability zone."""
        vpc = self.ec2.create_vpc(CidrBlock=PLAN.vpc_cidr)["Vpc"]["VpcId"]
        self.ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        self.ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
        for index in range(subnet_count):
            zone = f"{self.region}{'abcdef'[index]}"
            subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock=PLAN.subnet_cidr(index),
                                            AvailabilityZone=zone)
            self.subnets.append(subnet["Subnet"]["SubnetId"])
        group = self.ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)
        self.security_group = group["GroupId"]
        self.vpc = vpc

    # --- ECS -----------------------------------------------------------------------------
    def cluster(self, name: str, tags: dict[str, str] | None = None) -> str:
        kwargs: dict[str, Any] = {"clusterName": name}
        if tags:
            kwargs["tags"] = tag_list(tags)
        return self.ecs.create_cluster(**kwargs)["cluster"]["clusterArn"]

    def container_instance(self, cluster: str, subnet_index: int = 0, private_ip: str | None = None,
                           security_groups: list[str] | None = None, user_data: str | None = None,
                           attributes: dict[str, str] | None = None) -> Instance:
        """An EC2 instance in one of the estate's subnets (in the VPC's default security group
        unless `security_groups`, booting `user_data`), registered with the cluster (with
        `attributes`, as ECS_INSTANCE_ATTRIBUTES sends them)."""
        if not self.subnets:
            self.network()
        kwargs: dict[str, Any] = {"ImageId": "ami-12c6146b", "MinCount": 1, "MaxCount": 1,
                                  "InstanceType": "t3.medium", "SubnetId": self.subnets[subnet_index]}
        if private_ip:
            kwargs["PrivateIpAddress"] = private_ip
        if security_groups:
            kwargs["SecurityGroupIds"] = security_groups
        if user_data:
            kwargs["UserData"] = user_data
        ec2_instance = self.ec2.run_instances(**kwargs)["Instances"][0]
        registered = register_container_instance(self.ecs, cluster, ec2_instance["InstanceId"], attributes)
        return Instance(registered["containerInstanceArn"], ec2_instance["InstanceId"],
                        ec2_instance["PrivateIpAddress"], ec2_instance["Placement"]["AvailabilityZone"])

    def task_definition(self, family: str, containers: list[dict[str, Any]],
                        network_mode: str = "bridge", fargate: bool = False,
                        tags: dict[str, str] | None = None) -> str:
        kwargs: dict[str, Any] = {"family": family, "containerDefinitions": containers,
                                  "networkMode": network_mode}
        if fargate:
            kwargs.update(requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
        if tags:
            kwargs["tags"] = tag_list(tags)
        return self.ecs.register_task_definition(**kwargs)["taskDefinition"]["taskDefinitionArn"]

    def service(self, cluster: str, name: str, task_definition: str, desired_count: int = 1,
                tags: dict[str, str] | None = None, network: bool = False) -> str:
        kwargs: dict[str, Any] = {"cluster": cluster, "serviceName": name,
                                  "taskDefinition": task_definition, "desiredCount": desired_count}
        if tags:
            kwargs["tags"] = tag_list(tags)
        if network:
            kwargs["networkConfiguration"] = self._awsvpc()
        return self.ecs.create_service(**kwargs)["service"]["serviceArn"]

    def _awsvpc(self, subnet_index: int = 0) -> dict[str, Any]:
        if not self.subnets:
            self.network()
        return {"awsvpcConfiguration": {"subnets": [self.subnets[subnet_index]],
                                        "securityGroups": [self.security_group],
                                        "assignPublicIp": "DISABLED"}}

    def run_tasks(self, cluster: str, task_definition: str, count: int = 1, *,
                  service: str | None = None, fargate: bool = False, awsvpc: bool = False,
                  subnet_index: int = 0, tags: dict[str, str] | None = None) -> list[str]:
        """Start tasks. With `service`, they carry the group and startedBy that ECS gives the
        tasks of that service, so ListTasks(serviceName=...) finds them."""
        kwargs: dict[str, Any] = {"cluster": cluster, "taskDefinition": task_definition, "count": count,
                                  "launchType": "FARGATE" if fargate else "EC2"}
        if service:
            kwargs.update(group=f"service:{service}", startedBy=f"ecs-svc/{abs(hash(service)) % 10**19}")
        if fargate or awsvpc:
            kwargs["networkConfiguration"] = self._awsvpc(subnet_index)
        if tags:
            kwargs["tags"] = tag_list(tags)
            kwargs["enableECSManagedTags"] = False
        tasks = self.ecs.run_task(**kwargs)["tasks"]
        if len(tasks) != count:
            raise RuntimeError(f"the emulator placed {len(tasks)} of {count} tasks of {task_definition}")
        return [task["taskArn"] for task in tasks]

    def stop_task(self, cluster: str, task: str) -> None:
        self.ecs.stop_task(cluster=cluster, task=task, reason="stopped by test")

    def set_task_status(self, cluster: str, task: str, status: str, unplaced: bool = False) -> None:
        """Fidelity hook P8: e.g. put a task back to PENDING (`unplaced`: with no container instance)."""
        answer = requests.post(f"{self.endpoint}/_fidelity/ecs/task-status", timeout=10,
                               json={"cluster": cluster, "task": task, "lastStatus": status,
                                     "region": self.region, "unplaced": unplaced})
        answer.raise_for_status()

    # --- EventBridge and SQS ---------------------------------------------------------------
    def events_queue(self, name: str, clusters: list[str] | None = None) -> str:
        """A queue that receives the ECS task state changes (of `clusters`' ARNs, or all)
        through a rule on the default bus, as the stack wires it. Returns the queue URL."""
        sqs, events = self.client("sqs"), self.client("events")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        pattern: dict[str, Any] = {"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"]}
        if clusters:
            pattern["detail"] = {"clusterArn": clusters}
        events.put_rule(Name=f"{name}-rule", EventPattern=json.dumps(pattern))
        events.put_targets(Rule=f"{name}-rule", Targets=[{"Id": "queue", "Arn": arn}])
        return url

    def receive_events(self, url: str, wait: int = 1) -> list[dict[str, Any]]:
        """The events waiting on the queue (deleted once read)."""
        sqs = self.client("sqs")
        found: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=wait).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            wait = 0

    # --- Cloud Map -----------------------------------------------------------------------
    def cloudmap_namespace(self, name: str, vpc: str | None = None) -> str:
        """An HTTP namespace, or with `vpc` a private DNS namespace of that VPC."""
        sd = self.client("servicediscovery")
        created = sd.create_private_dns_namespace(Name=name, Vpc=vpc) if vpc else sd.create_http_namespace(Name=name)
        operation = created["OperationId"]
        namespace_id = sd.get_operation(OperationId=operation)["Operation"]["Targets"]["NAMESPACE"]
        return namespace_id

    def cloudmap_service(self, namespace_id: str, name: str, tags: dict[str, str] | None = None,
                         dns_ttl: int | None = None) -> str:
        """A service; with `dns_ttl`, A and SRV records of that TTL (a private DNS namespace)."""
        kwargs: dict[str, Any] = {"Name": name, "NamespaceId": namespace_id}
        if dns_ttl is not None:
            kwargs["DnsConfig"] = {"RoutingPolicy": "MULTIVALUE", "DnsRecords": [
                {"Type": "A", "TTL": dns_ttl}, {"Type": "SRV", "TTL": dns_ttl}]}
        if tags:
            kwargs["Tags"] = tag_list(tags, "Key", "Value")
        return self.client("servicediscovery").create_service(**kwargs)["Service"]["Id"]

    def cloudmap_instance(self, service_id: str, instance_id: str, attributes: dict[str, str]) -> None:
        self.client("servicediscovery").register_instance(
            ServiceId=service_id, InstanceId=instance_id, Attributes=attributes)

    # --- config sources ------------------------------------------------------------------
    def ssm_parameter(self, name: str, value: str, kind: str = "String", tier: str = "Standard") -> None:
        self.client("ssm").put_parameter(Name=name, Value=value, Type=kind, Tier=tier, Overwrite=True)

    def s3_object(self, bucket: str, key: str, body: str | bytes) -> None:
        s3 = self.client("s3")
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=key, Body=body)


# The placeholders of task-definitions/*.json (listed in its README) and test values for them.
PASTE_PLACEHOLDERS = {"<ACCOUNT_ID>": "123456789012", "<REGION>": "us-east-1", "<TAG>": "0.1.0",
                      "<CONFIG_BUCKET>": "config-bucket", "<GRAFANA_ADMIN_SECRET>": "grafana-admin-AbCdEf",
                      "<APP_IMAGE>": "public.ecr.aws/docker/library/busybox:latest", "<CLUSTER_NAME>": "emu",
                      "<EVENTS_QUEUE_URL>": "https://sqs.us-east-1.amazonaws.com/123456789012/ecs-task-events",
                      "<REPLICA_NAME>": "prometheus-0", "<ALERTMANAGER_PEERS>": "alertmanager.monitoring.internal"}


def pasted_definition(path: Path, **values: str) -> dict[str, Any]:
    """A copy-paste task definition with its placeholders filled (`values` by placeholder name
    without brackets, e.g. APP_IMAGE=..., over the defaults); one left unfilled fails."""
    text = path.read_text()
    for placeholder, value in {**PASTE_PLACEHOLDERS, **{f"<{k}>": v for k, v in values.items()}}.items():
        text = text.replace(placeholder, value)
    assert "<" not in text, f"{path.name} has a placeholder not listed in task-definitions/README.md"
    return json.loads(text)
