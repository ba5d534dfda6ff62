"""Each patch of the emulator fidelity layer (emulator/fidelity.py), shown through the public API."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from botocore.exceptions import ClientError

from testbed.seed import Estate, container


def describe(estate: Estate, cluster: str, tasks: list[str]) -> list[dict]:
    return estate.ecs.describe_tasks(cluster=cluster, tasks=tasks)["tasks"]


def test_p1_every_container_of_a_multi_container_task_is_described(estate: Estate) -> None:
    estate.cluster("c1")
    estate.container_instance("c1")
    family = estate.task_definition("three", [container("app", ports=[8080]),
                                              container("sidecar", ports=[9100]),
                                              container("log-router")])
    [task] = describe(estate, "c1", estate.run_tasks("c1", family))
    assert [c["name"] for c in task["containers"]] == ["app", "sidecar", "log-router"]


def test_p2_bridge_task_with_two_dynamic_ports_gets_two_distinct_host_ports(estate: Estate) -> None:
    estate.cluster("c1")
    estate.container_instance("c1")
    family = estate.task_definition("dyn", [container("app", ports=[8080, 9090])])
    [task] = describe(estate, "c1", estate.run_tasks("c1", family))
    bindings = task["containers"][0]["networkBindings"]
    assert sorted(b["containerPort"] for b in bindings) == [8080, 9090]
    host_ports = [b["hostPort"] for b in bindings]
    assert len(set(host_ports)) == 2
    assert all(32768 <= port <= 60999 for port in host_ports)


def test_p2_host_mode_binds_the_container_port_and_fixed_bridge_ports_stay(estate: Estate) -> None:
    estate.cluster("c1")
    estate.container_instance("c1")
    host = estate.task_definition("host", [container("exporter", ports=[9100])], network_mode="host")
    fixed = estate.task_definition("fixed", [container("app", ports=[(8080, 18080)])])
    [host_task] = describe(estate, "c1", estate.run_tasks("c1", host))
    [fixed_task] = describe(estate, "c1", estate.run_tasks("c1", fixed))
    assert host_task["containers"][0]["networkBindings"][0]["hostPort"] == 9100
    assert fixed_task["containers"][0]["networkBindings"][0]["hostPort"] == 18080


def test_p3_several_dynamic_port_tasks_share_an_instance_and_ports_are_freed(estate: Estate) -> None:
    estate.cluster("c1")
    estate.container_instance("c1")
    family = estate.task_definition("dyn", [container("app", ports=[8080])])
    arns = estate.run_tasks("c1", family, count=3)
    ports = {t["containers"][0]["networkBindings"][0]["hostPort"] for t in describe(estate, "c1", arns)}
    assert len(ports) == 3
    stopped = describe(estate, "c1", [arns[0]])[0]["containers"][0]["networkBindings"][0]["hostPort"]
    estate.stop_task("c1", arns[0])
    [again] = describe(estate, "c1", estate.run_tasks("c1", family))
    assert again["containers"][0]["networkBindings"][0]["hostPort"] == stopped


def test_p4_awsvpc_port_mapping_without_host_port_gets_the_container_port(estate: Estate) -> None:
    arn = estate.task_definition("vpc", [container("app", ports=[8080])], network_mode="awsvpc")
    mapping = estate.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"][
        "containerDefinitions"][0]["portMappings"][0]
    assert mapping["hostPort"] == 8080


def test_p5_awsvpc_task_eni_has_an_address_of_its_subnet(estate: Estate) -> None:
    estate.cluster("c1")
    family = estate.task_definition("vpc", [container("app", ports=[8080]), container("side")],
                                    network_mode="awsvpc", fargate=True)
    [task] = describe(estate, "c1", estate.run_tasks("c1", family, fargate=True, subnet_index=1))
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    subnet = estate.ec2.describe_subnets(SubnetIds=[details["subnetId"]])["Subnets"][0]
    address = details["privateIPv4Address"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet["CidrBlock"])
    assert task["availabilityZone"] == subnet["AvailabilityZone"]
    assert [c["networkInterfaces"][0]["privateIpv4Address"] for c in task["containers"]] == [address] * 2


def test_p6_list_tasks_matches_the_cluster_exactly(estate: Estate) -> None:
    for name in ("east", "us-east"):
        estate.cluster(name)
        estate.container_instance(name)
    family = estate.task_definition("app", [container("app")])
    east = estate.run_tasks("east", family, count=2)
    us_east = estate.run_tasks("us-east", family, count=1)
    assert sorted(estate.ecs.list_tasks(cluster="east")["taskArns"]) == sorted(east)
    assert estate.ecs.list_tasks(cluster="us-east")["taskArns"] == us_east
    assert [t["taskArn"] for t in describe(estate, "east", us_east)] == []


def test_p6_list_tasks_paginates_at_max_results(estate: Estate) -> None:
    estate.cluster("c1")
    estate.container_instance("c1")
    family = estate.task_definition("app", [container("app")])
    arns = estate.run_tasks("c1", family, count=5)
    pages, token = [], None
    while True:
        kwargs = {"cluster": "c1", "maxResults": 2, **({"nextToken": token} if token else {})}
        page = estate.ecs.list_tasks(**kwargs)
        pages.append(page["taskArns"])
        token = page.get("nextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(sum(pages, [])) == sorted(arns)
    with pytest.raises(ClientError):
        estate.ecs.list_tasks(cluster="c1", maxResults=101)


def test_p6_list_tasks_filters_by_service_and_defaults_to_running(estate: Estate) -> None:
    estate.cluster("c1")
    estate.container_instance("c1")
    family = estate.task_definition("app", [container("app")])
    estate.service("c1", "web", family, desired_count=0)
    web = estate.run_tasks("c1", family, count=2, service="web")
    standalone = estate.run_tasks("c1", family)
    assert sorted(estate.ecs.list_tasks(cluster="c1", serviceName="web")["taskArns"]) == sorted(web)
    estate.stop_task("c1", standalone[0])
    assert sorted(estate.ecs.list_tasks(cluster="c1")["taskArns"]) == sorted(web)
    assert estate.ecs.list_tasks(cluster="c1", desiredStatus="STOPPED")["taskArns"] == standalone


def test_p6_list_clusters_paginates(estate: Estate) -> None:
    for index in range(3):
        estate.cluster(f"c{index}")
    first = estate.ecs.list_clusters(maxResults=2)
    second = estate.ecs.list_clusters(maxResults=2, nextToken=first["nextToken"])
    assert len(first["clusterArns"]) == 2 and len(second["clusterArns"]) == 1
    assert "nextToken" not in second


def test_p7_describe_tasks_reports_unknown_tasks_as_missing(estate: Estate) -> None:
    estate.cluster("c1")
    unknown = "arn:aws:ecs:us-east-1:123456789012:task/c1/0123456789abcdef"
    answer = estate.ecs.describe_tasks(cluster="c1", tasks=[unknown])
    assert answer["tasks"] == []
    assert answer["failures"] == [{"arn": unknown, "reason": "MISSING"}]


def test_p8_task_status_hook_and_describe_does_not_advance_state(estate: Estate) -> None:
    estate.cluster("c1")
    estate.container_instance("c1")
    family = estate.task_definition("app", [container("app")])
    [arn] = estate.run_tasks("c1", family)
    for _ in range(5):  # the harness's manual transition keeps RUNNING tasks RUNNING
        assert describe(estate, "c1", [arn])[0]["lastStatus"] == "RUNNING"
    estate.set_task_status("c1", arn, "PENDING")
    assert describe(estate, "c1", [arn])[0]["lastStatus"] == "PENDING"
    estate.set_task_status("c1", arn, "PENDING", unplaced=True)
    assert "containerInstanceArn" not in describe(estate, "c1", [arn])[0]


def test_p9_cloudmap_list_services_filters_by_namespace_and_paginates(estate: Estate) -> None:
    first, second = estate.cloudmap_namespace("one.local"), estate.cloudmap_namespace("two.local")
    for index in range(3):
        estate.cloudmap_service(first, f"svc-{index}")
    estate.cloudmap_service(second, "other")
    sd = estate.client("servicediscovery")
    only = [{"Name": "NAMESPACE_ID", "Values": [first], "Condition": "EQ"}]
    page = sd.list_services(Filters=only, MaxResults=2)
    assert len(page["Services"]) == 2 and page["NextToken"]
    rest = sd.list_services(Filters=only, MaxResults=2, NextToken=page["NextToken"])
    names = {s["Name"] for s in page["Services"] + rest["Services"]}
    assert names == {"svc-0", "svc-1", "svc-2"} and "NextToken" not in rest


def test_p10_a_service_without_network_configuration_is_described_without_one(estate: Estate) -> None:
    estate.cluster("c")
    definition = estate.task_definition("daemon", [container("d", ports=[9100])], network_mode="host")
    estate.ecs.create_service(cluster="c", serviceName="d", taskDefinition=definition, schedulingStrategy="DAEMON")
    [service] = estate.ecs.describe_services(cluster="c", services=["d"])["services"]
    assert "networkConfiguration" not in service


def test_p11_daemon_services_run_a_task_on_every_container_instance(estate: Estate) -> None:
    estate.cluster("c")
    first = estate.container_instance("c")
    definition = estate.task_definition("daemon", [container("d", ports=[9100])], network_mode="host")
    estate.ecs.create_service(cluster="c", serviceName="d", taskDefinition=definition, schedulingStrategy="DAEMON")
    second = estate.container_instance("c")  # registers after the service exists
    arns = estate.ecs.list_tasks(cluster="c", serviceName="d")["taskArns"]
    tasks = estate.ecs.describe_tasks(cluster="c", tasks=arns)["tasks"]
    assert sorted(t["containerInstanceArn"] for t in tasks) == sorted(
        [first.container_instance_arn, second.container_instance_arn])
    assert {t["group"] for t in tasks} == {"service:d"}


def test_p12_create_service_keeps_rebalancing_and_managed_tags(estate: Estate) -> None:
    estate.cluster("c")
    definition = estate.task_definition("app", [container("a")])
    estate.ecs.create_service(cluster="c", serviceName="plain", taskDefinition=definition, desiredCount=0)
    estate.ecs.create_service(cluster="c", serviceName="tagged", taskDefinition=definition, desiredCount=0,
                              enableECSManagedTags=True, availabilityZoneRebalancing="ENABLED")
    plain, tagged = estate.ecs.describe_services(cluster="c", services=["plain", "tagged"])["services"]
    assert (plain["availabilityZoneRebalancing"], plain["enableECSManagedTags"]) == ("DISABLED", False)
    assert (tagged["availabilityZoneRebalancing"], tagged["enableECSManagedTags"]) == ("ENABLED", True)


def test_p13_a_fargate_task_whose_containers_set_no_memory_runs(estate: Estate) -> None:
    estate.cluster("c1")
    definition = {"name": "app", "image": "example-app:latest", "essential": True}
    arn = estate.ecs.register_task_definition(
        family="no-memory", containerDefinitions=[definition], networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"], cpu="256", memory="512")["taskDefinition"]["taskDefinitionArn"]
    [task] = estate.run_tasks("c1", arn, fargate=True)
    assert describe(estate, "c1", [task])[0]["lastStatus"] == "RUNNING"


def test_p14_a_cloudmap_service_with_its_namespace_in_dns_config_is_found_in_it(estate: Estate) -> None:
    sd = estate.client("servicediscovery")
    sd.create_private_dns_namespace(Name="monitoring.internal", Vpc="vpc-1")
    namespace = sd.list_namespaces()["Namespaces"][0]["Id"]
    service = sd.create_service(Name="prometheus", DnsConfig={
        "NamespaceId": namespace, "RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "SRV", "TTL": 10}]})["Service"]
    sd.register_instance(ServiceId=service["Id"], InstanceId="task-1",
                         Attributes={"AWS_INSTANCE_IPV4": "127.0.16.9", "AWS_INSTANCE_PORT": "9090"})
    listed = sd.list_services(Filters=[{"Name": "NAMESPACE_ID", "Values": [namespace]}])["Services"]
    assert [s["Name"] for s in listed] == ["prometheus"]
    found = sd.discover_instances(NamespaceName="monitoring.internal", ServiceName="prometheus")["Instances"]
    assert [i["InstanceId"] for i in found] == ["task-1"]


def test_p15_a_rule_referencing_a_group_keeps_its_description(estate: Estate) -> None:
    ec2 = estate.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    target, source = (ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc)["GroupId"]
                      for n in ("instances", "prometheus"))
    ec2.authorize_security_group_ingress(GroupId=target, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 9100, "ToPort": 9100,
        "UserIdGroupPairs": [{"GroupId": source, "Description": "Prometheus scrapes node-exporter"}]}])
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [target]}])
    [rule] = [r for r in rules["SecurityGroupRules"] if not r["IsEgress"]]
    assert rule["ReferencedGroupInfo"]["GroupId"] == source
    assert rule["Description"] == "Prometheus scrapes node-exporter"


# The documented task state change event ("Amazon ECS task state change events",
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html): the envelope
# fields of every EventBridge event, and the task fields its example `detail` shows.
DOCUMENTED_ENVELOPE = {"version", "id", "detail-type", "source", "account", "time", "region",
                       "resources", "detail"}
DOCUMENTED_DETAIL = {"attachments", "availabilityZone", "clusterArn", "containers", "createdAt",
                     "launchType", "desiredStatus", "group", "lastStatus", "overrides",
                     "connectivity", "connectivityAt", "startedAt", "updatedAt", "taskArn",
                     "taskDefinitionArn", "version"}
DOCUMENTED_CONTAINER = {"containerArn", "lastStatus", "name", "image", "taskArn", "cpu"}
ISO_TIMESTAMP = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"


def test_p16_run_and_stop_task_publish_task_state_changes_of_the_documented_shape(estate: Estate) -> None:
    import re

    estate.cluster("c1")
    other = estate.cluster("c2")
    url = estate.events_queue("task-events", clusters=[estate.ecs.describe_clusters(
        clusters=["c1"])["clusters"][0]["clusterArn"]])
    family = estate.task_definition("vpc", [container("app", ports=[8080])],
                                    network_mode="awsvpc", fargate=True)
    [arn] = estate.run_tasks("c1", family, fargate=True)
    estate.run_tasks("c2", family, fargate=True)
    started = estate.receive_events(url)
    assert [e["detail"]["lastStatus"] for e in started] == ["PENDING", "RUNNING"], \
        "PENDING then RUNNING, and nothing of c2 (the rule's pattern)"
    assert all(e["detail"]["clusterArn"] != other for e in started)
    running = started[1]
    assert DOCUMENTED_ENVELOPE <= running.keys()
    assert running["source"] == "aws.ecs" and running["detail-type"] == "ECS Task State Change"
    assert running["resources"] == [arn]
    detail = running["detail"]
    assert DOCUMENTED_DETAIL <= detail.keys(), DOCUMENTED_DETAIL - detail.keys()
    assert "tags" not in detail, "events carry no tags"
    assert DOCUMENTED_CONTAINER <= detail["containers"][0].keys()
    for key in ("createdAt", "connectivityAt", "startedAt", "updatedAt"):
        assert re.match(ISO_TIMESTAMP, detail[key]), (key, detail[key])
    [eni] = detail["attachments"]
    assert eni["type"] == "eni"
    address = {d["name"]: d["value"] for d in eni["details"]}["privateIPv4Address"]
    assert detail["containers"][0]["networkInterfaces"][0]["privateIpv4Address"] == address
    assert [e["detail"]["version"] for e in started] == [1, 2]
    [described] = describe(estate, "c1", [arn])
    assert described["version"] == 2, "DescribeTasks gives the version of the last event"

    estate.stop_task("c1", arn)
    [stopped] = estate.receive_events(url)
    assert stopped["detail"]["lastStatus"] == "STOPPED"
    assert stopped["detail"]["desiredStatus"] == "STOPPED"
    assert stopped["detail"]["version"] == 3
    assert stopped["detail"]["stopCode"] == "UserInitiated"
    assert estate.receive_events(url, wait=0) == [], "one event per change, none repeated"


def test_p16_bridge_events_carry_the_dynamic_host_ports_and_the_hook_publishes(estate: Estate) -> None:
    estate.cluster("c1")
    instance = estate.container_instance("c1")
    url = estate.events_queue("task-events")
    family = estate.task_definition("dyn", [container("app", ports=[8080])])
    [arn] = estate.run_tasks("c1", family)
    running = estate.receive_events(url)[-1]["detail"]
    [binding] = running["containers"][0]["networkBindings"]
    assert binding["containerPort"] == 8080 and 32768 <= binding["hostPort"] <= 60999
    assert running["containerInstanceArn"] == instance.container_instance_arn
    estate.set_task_status("c1", arn, "DEACTIVATING")
    [leaving] = estate.receive_events(url)
    assert leaving["detail"]["lastStatus"] == "DEACTIVATING"
    assert leaving["detail"]["version"] == 3



def test_p17_queue_json_attributes_come_back_compact_as_aws_returns_them(estate: Estate) -> None:
    import json

    sqs = estate.client("sqs")
    dead = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sent = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 5}, separators=(",", ":"))
    url = sqs.create_queue(QueueName="main", Attributes={"RedrivePolicy": sent})["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["RedrivePolicy"] == sent


@pytest.mark.parametrize("service", ["ec2", "iam"], ids=["moto", "localstack"])
def test_a_resent_create_is_answered_with_its_first_answer_not_carried_out_twice(estate: Estate, service: str) -> None:
    """The emulators (resend_guard.py): an SDK's resend of an answered request, as the Terraform
    provider makes when an answer is lost under load, gets the first answer. Carried out twice,
    the create failed with InvalidGroup.Duplicate or EntityAlreadyExists (issue 27's flakes).
    EC2 is moto's; IAM is LocalStack's unless EMULATORS=moto."""
    client = estate.client(service)
    attempts = iter(["attempt=1; max=25", "attempt=2; max=25"])

    def as_one_invocation(request: Any, **_: Any) -> None:
        request.headers["amz-sdk-invocation-id"] = f"9b2f7a52-0d3c-4c1e-9a40-resend-{service}"
        request.headers["amz-sdk-request"] = next(attempts)

    if service == "ec2":
        vpc = client.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        client.meta.events.register("before-send.ec2.CreateSecurityGroup", as_one_invocation)
        create = lambda: client.create_security_group(GroupName="resent", Description="resent", VpcId=vpc)["GroupId"]  # noqa: E731
        listed = lambda: [g["GroupId"] for g in client.describe_security_groups(  # noqa: E731
            Filters=[{"Name": "group-name", "Values": ["resent"]}])["SecurityGroups"]]
    else:
        client.meta.events.register("before-send.iam.CreateRole", as_one_invocation)
        create = lambda: client.create_role(RoleName="resent", AssumeRolePolicyDocument="{}")["Role"]["RoleId"]  # noqa: E731
        listed = lambda: [r["RoleId"] for r in client.list_roles()["Roles"] if r["RoleName"] == "resent"]  # noqa: E731
    first = create()
    assert create() == first
    assert listed() == [first]


FARGATE = {"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512"}
ONE = {"name": "app", "image": "example-app:latest"}
REFUSALS = {
    # id: (the definition's fields, ECS's message, the twin's fields that register)
    "container-memory-over-task": ({**FARGATE, "containerDefinitions": [{**ONE, "memory": 1024}]},
                                   "The 'memory' setting for container 'app' is greater than for the task.",
                                   {**FARGATE, "containerDefinitions": [{**ONE, "memory": 512}]}),
    "fargate-size": ({**FARGATE, "memory": "4096", "containerDefinitions": [ONE]},
                     "No Fargate configuration exists for given values: 256 CPU, 4096 memory.",
                     {**FARGATE, "memory": "2048", "containerDefinitions": [ONE]}),
    "fargate-bridge": ({**FARGATE, "networkMode": "bridge", "containerDefinitions": [ONE]},
                       "Fargate only supports network mode \u2018awsvpc\u2019.",
                       {**FARGATE, "containerDefinitions": [ONE]}),
    "fargate-source-path": ({**FARGATE, "containerDefinitions": [ONE],
                             "volumes": [{"name": "v", "host": {"sourcePath": "/var/lib/x"}}]},
                            "Fargate compatible task definitions do not support sourcePath",
                            {**FARGATE, "containerDefinitions": [ONE], "volumes": [{"name": "v", "host": {}}]}),
    "undeclared-volume": ({"containerDefinitions": [{**ONE, "memory": 64, "mountPoints": [
                              {"sourceVolume": "nope", "containerPath": "/x"}]}]},
                          "Unknown volume 'nope'.",
                          {"volumes": [{"name": "nope"}], "containerDefinitions": [{**ONE, "memory": 64, "mountPoints": [
                              {"sourceVolume": "nope", "containerPath": "/x"}]}]}),
    "no-essential": ({"containerDefinitions": [{**ONE, "memory": 64, "essential": False}]},
                     "Task definition doesn't have any essential container.",
                     {"containerDefinitions": [{**ONE, "memory": 64, "essential": True}]}),
    "depends-on-nothing": ({"containerDefinitions": [{**ONE, "memory": 64, "dependsOn": [
                               {"containerName": "ghost", "condition": "START"}]}]},
                           "Cannot depend on container + 'ghost' because it does not exist",
                           {"containerDefinitions": [{**ONE, "memory": 64, "dependsOn": [
                               {"containerName": "app2", "condition": "START"}]}, {**ONE, "name": "app2", "memory": 64}]}),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
@pytest.mark.parametrize("fixed", [False, True], ids=["planted", "twin"])
def test_p18_register_task_definition_refuses_what_ecs_refuses(estate: Estate, case: str, fixed: bool) -> None:
    planted, message, twin = REFUSALS[case]
    if fixed:
        estate.ecs.register_task_definition(family=f"p18-{case}", **twin)
        return
    with pytest.raises(ClientError) as refused:
        estate.ecs.register_task_definition(family=f"p18-{case}", **planted)
    assert refused.value.response["Error"]["Code"] == "ClientException"
    assert message in refused.value.response["Error"]["Message"]


def test_p19_run_task_refuses_fargate_for_a_definition_that_is_not_fargate_compatible(estate: Estate) -> None:
    estate.cluster("p19")
    estate.network()
    ec2_only = estate.ecs.register_task_definition(
        family="p19-ec2", networkMode="awsvpc", containerDefinitions=[{**ONE, "memory": 64}],
        volumes=[{"name": "v", "host": {"sourcePath": "/var/lib/x"}}])["taskDefinition"]["taskDefinitionArn"]
    with pytest.raises(ClientError) as refused:
        estate.run_tasks("p19", ec2_only, fargate=True)
    assert "Task definition does not support launch_type FARGATE." in str(refused.value)
    fargate = estate.ecs.register_task_definition(family="p19-fargate", containerDefinitions=[ONE],
                                                  **FARGATE)["taskDefinition"]["taskDefinitionArn"]
    assert len(estate.run_tasks("p19", fargate, fargate=True)) == 1


def test_p19_run_task_places_by_zone_constraints_and_spread(estate: Estate) -> None:
    estate.cluster("p19")
    in_a = estate.container_instance("p19", subnet_index=0)
    in_b = estate.container_instance("p19", subnet_index=1)
    assert in_a.availability_zone != in_b.availability_zone
    definition = estate.task_definition("p19-zones", [{**ONE, "memory": 64}])

    def placed(**placement: Any) -> tuple[list[str], list[dict[str, Any]]]:
        answer = estate.ecs.run_task(cluster="p19", taskDefinition=definition, launchType="EC2", **placement)
        return sorted(t["availabilityZone"] for t in answer["tasks"]), answer["failures"]

    spread = [{"type": "spread", "field": "attribute:ecs.availability-zone"}]
    assert placed(count=2, placementStrategy=spread)[0] == sorted([in_a.availability_zone, in_b.availability_zone])
    only_b = [{"type": "memberOf", "expression": f"attribute:ecs.availability-zone == {in_b.availability_zone}"}]
    assert placed(count=2, placementConstraints=only_b)[0] == [in_b.availability_zone] * 2
    nowhere = [{"type": "memberOf", "expression": "attribute:ecs.availability-zone == us-east-1f"}]
    zones, failures = placed(count=1, placementConstraints=nowhere)
    assert zones == [] and [f["reason"] for f in failures] == ["MemberOf placement constraint unsatisfied."]


def test_p20_an_instance_registers_with_its_attributes_and_its_termination_stops_its_tasks(estate: Estate) -> None:
    """ECS_INSTANCE_ATTRIBUTES reach the container instance, and memberOf places by them; when
    the EC2 instance terminates, its tasks stop with ECS's reason, the container instance
    leaves the cluster, a later StopTask answers the stopped task, and its volume is free."""
    estate.cluster("p20")
    replica = estate.container_instance("p20", attributes={"prometheus-replica": "r0"})
    estate.container_instance("p20")
    described = estate.ecs.describe_container_instances(cluster="p20", containerInstances=[
        replica.container_instance_arn])["containerInstances"][0]
    assert {"name": "prometheus-replica", "value": "r0"} in described["attributes"]
    volume = estate.ec2.create_volume(AvailabilityZone=replica.availability_zone, Size=2)["VolumeId"]
    estate.ec2.attach_volume(VolumeId=volume, InstanceId=replica.ec2_instance_id, Device="/dev/xvdf")
    definition = estate.task_definition("p20", [{**ONE, "memory": 64}])
    placed = estate.ecs.run_task(cluster="p20", taskDefinition=definition, launchType="EC2", count=2,
                                 placementConstraints=[{"type": "memberOf",
                                                        "expression": "attribute:prometheus-replica == r0"}])["tasks"]
    assert {t["containerInstanceArn"] for t in placed} == {replica.container_instance_arn}

    estate.ec2.terminate_instances(InstanceIds=[replica.ec2_instance_id])
    tasks = estate.ecs.describe_tasks(cluster="p20", tasks=[t["taskArn"] for t in placed])["tasks"]
    assert {(t["lastStatus"], t["stoppedReason"]) for t in tasks} == {
        ("STOPPED", f"Host EC2 (instance {replica.ec2_instance_id}) terminated.")}
    assert replica.container_instance_arn not in estate.ecs.list_container_instances(cluster="p20")["containerInstanceArns"]
    again = estate.ecs.stop_task(cluster="p20", task=placed[0]["taskArn"], reason="the agent reports it")["task"]
    assert again["lastStatus"] == "STOPPED"
    assert estate.ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["State"] == "available"
