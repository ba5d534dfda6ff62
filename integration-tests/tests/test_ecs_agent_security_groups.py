"""The test bed's ECS agent enforces security groups: a flow the groups don't allow fails here as
it fails in a VPC, and the twin with the ingress rule added passes."""

from __future__ import annotations

from typing import Any

import pytest

from testbed.agent_tasks import CLUSTER, app, box, start_on, stopped
from testbed.ecs_agent import Agent, TaskRun
from testbed.seed import Estate

pytestmark = pytest.mark.ecs_agent


def reaches(url: str) -> str:
    """A script that exits 0 once `url` answers (within about 5 s), 1 if it never does."""
    return f"for i in $(seq 8); do timeout 1 wget -q -O /dev/null {url} && exit 0; sleep 0.3; done; exit 1"


def group(estate: Estate, name: str) -> str:
    vpc = estate.ec2.describe_subnets(SubnetIds=estate.subnets[:1])["Subnets"][0]["VpcId"]
    return estate.ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]


def allow(estate: Estate, group_id: str, source_group: str, from_port: int, to_port: int) -> None:
    estate.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": from_port, "ToPort": to_port,
        "UserIdGroupPairs": [{"GroupId": source_group}]}])


def fargate(estate: Estate, agent: Agent, family: str, containers: list[dict[str, Any]], group_id: str) -> TaskRun:
    arn = estate.ecs.register_task_definition(family=family, containerDefinitions=containers, networkMode="awsvpc",
                                              requiresCompatibilities=["FARGATE"], cpu="256",
                                              memory="512")["taskDefinition"]["taskDefinitionArn"]
    estate.ecs.run_task(cluster=CLUSTER, taskDefinition=arn, launchType="FARGATE", networkConfiguration={
        "awsvpcConfiguration": {"subnets": estate.subnets[:1], "securityGroups": [group_id]}})
    agent.sync()
    return agent.task(family)


@pytest.mark.parametrize("rule", [False, True], ids=["no-ingress-rule", "ingress-from-the-client-group"])
def test_an_awsvpc_task_answers_only_what_its_security_group_lets_in(estate: Estate, agent: Agent,
                                                                     rule: bool) -> None:
    estate.network()
    server_group, client_group = group(estate, "server"), group(estate, "client")
    if rule:
        allow(estate, server_group, client_group, 8080, 8080)
    server = fargate(estate, agent, "server", [app()], server_group)
    assert server.wait(lambda t: t.status == "RUNNING", 20), server.describe()
    client = fargate(estate, agent, "client", [box("client", reaches(f"http://{server.eni}:8080/metrics"))],
                     client_group)
    assert client.wait(stopped, 30), client.describe()
    assert client.container("client").exit_code == (0 if rule else 1), client.describe()


@pytest.mark.parametrize("rule", [False, True], ids=["no-ingress-rule", "ingress-on-the-ephemeral-ports"])
def test_a_bridge_container_is_reached_only_through_its_host_port_and_the_instances_group(estate: Estate,
                                                                                        agent: Agent,
                                                                                        rule: bool) -> None:
    estate.network()
    instances_group = group(estate, "instances")
    if rule:
        allow(estate, instances_group, instances_group, 32768, 60999)
    one = estate.container_instance(CLUSTER, security_groups=[instances_group])
    other = estate.container_instance(CLUSTER, subnet_index=1, security_groups=[instances_group])
    agent.run_in_background(interval=0.5)  # the client's own address joins the group's members on a later pass
    served = start_on(estate, agent, "served", [app()], one.container_instance_arn)
    assert served.wait(lambda t: t.status == "RUNNING", 20), served.describe()
    host_port = served.description["containers"][0]["networkBindings"][0]["hostPort"]
    container_address = served.container("app").spec.netns  # its namespace; the address is the host's
    bridge_address = next(h.address for h in agent.sandbox.hosts if h.name == container_address)
    script = (f"if timeout 2 wget -q -O /dev/null http://{bridge_address}:8080/metrics; then exit 7; fi; "
              + reaches(f"http://{one.private_ip}:{host_port}/metrics"))
    client = start_on(estate, agent, "client", [box("client", script)], other.container_instance_arn)
    assert client.wait(stopped, 30), client.describe()
    assert client.container("client").exit_code == (0 if rule else 1), client.describe()
