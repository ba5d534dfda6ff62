"""The test bed's ECS agent and its EC2 instances: host paths belong to one instance, an EBS
volume follows its attachment, and no container writes outside the agent's own tree.

Each test that shows a failure has a twin that differs only in the fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from testbed.agent_tasks import CLUSTER, EBS_BOOT_SCRIPT, EBS_DEVICE, EBS_MOUNT_POINT, box, start_on, stopped
from testbed.ecs_agent import Agent, TaskRun
from testbed.seed import Estate, Instance

pytestmark = pytest.mark.ecs_agent


def reader(path: str) -> dict:
    """A container that exits 0 when `path` (in its host volume at /data) exists, 1 when not."""
    return box("reader", f"test -e /data/{path}")


def exited(task: TaskRun) -> int | None:
    assert task.wait(stopped, 20), task.describe()
    return task.container("reader").exit_code


def host_volume(source_path: str) -> list[dict]:
    return [{"name": "data", "host": {"sourcePath": source_path}}]


MOUNT = [{"sourceVolume": "data", "containerPath": "/data"}]


def write_then_read(estate: Estate, agent: Agent, source_path: str, writer_on: Instance,
                    reader_on: Instance) -> int | None:
    writer = start_on(estate, agent, "writer", [box("writer", "echo here > /data/planted; sleep 600",
                                                    mountPoints=MOUNT)], writer_on.container_instance_arn,
                      volumes=host_volume(source_path))
    planted = agent.instance_roots[writer_on.container_instance_arn] / source_path.strip("/") / "planted"
    assert writer.wait(lambda t: planted.exists(), 20), writer.describe()
    read = start_on(estate, agent, "reader", [{**reader("planted"), "mountPoints": MOUNT}],
                    reader_on.container_instance_arn, volumes=host_volume(source_path))
    return exited(read)


@pytest.mark.parametrize("same_instance", [True, False], ids=["same-instance", "other-instance"])
def test_a_host_path_belongs_to_one_instance(estate: Estate, agent: Agent, same_instance: bool) -> None:
    """A file a task writes to a host path is seen by a task on the same instance, and not by a
    task on another instance (the path does not exist on this machine: the agent creates it, as
    the Docker daemon does)."""
    source_path = "/var/lib/ecs-testbed-shared"
    one = estate.container_instance(CLUSTER)
    other = one if same_instance else estate.container_instance(CLUSTER, subnet_index=1)
    assert write_then_read(estate, agent, source_path, one, other) == (0 if same_instance else 1)
    assert not Path(source_path).exists(), "the host path was made on the CI machine"


def test_a_replacement_instance_starts_with_empty_host_paths_and_its_ebs_volume_follows(estate: Estate,
                                                                                       agent: Agent) -> None:
    """An instance is replaced (deregistered, a new one registered in its zone): its host paths
    are gone, while the EBS volume it had attached, attached to the replacement and mounted by its
    boot script, still holds what was written on it."""
    old = estate.container_instance(CLUSTER, user_data=EBS_BOOT_SCRIPT)
    volume = estate.ec2.create_volume(AvailabilityZone=old.availability_zone, Size=8)["VolumeId"]
    estate.ec2.attach_volume(VolumeId=volume, InstanceId=old.ec2_instance_id, Device=EBS_DEVICE)
    for source_path in (EBS_MOUNT_POINT, "/var/lib/plain"):
        writer = start_on(estate, agent, "writer", [box("writer", "echo here > /data/planted; sleep 600",
                                                        mountPoints=MOUNT)], old.container_instance_arn,
                          volumes=host_volume(source_path))
        assert writer.wait(lambda t: (agent.instance_roots[old.container_instance_arn] / source_path.strip("/")
                                      / "planted").exists(), 20), writer.describe()
        estate.stop_task(CLUSTER, writer.arn)  # the instance goes away, and its tasks with it
        agent.sync()
        assert writer.wait(stopped, 20), writer.describe()
    estate.ec2.detach_volume(VolumeId=volume, InstanceId=old.ec2_instance_id, Device=EBS_DEVICE)
    estate.ecs.deregister_container_instance(cluster=CLUSTER, containerInstance=old.container_instance_arn, force=True)
    replacement = estate.container_instance(CLUSTER, user_data=EBS_BOOT_SCRIPT)
    estate.ec2.attach_volume(VolumeId=volume, InstanceId=replacement.ec2_instance_id, Device=EBS_DEVICE)
    found = {}
    for source_path in (EBS_MOUNT_POINT, "/var/lib/plain"):
        read = start_on(estate, agent, f"reader-{len(found)}", [{**reader("planted"), "mountPoints": MOUNT}],
                        replacement.container_instance_arn, volumes=host_volume(source_path))
        found[source_path] = exited(read)
    assert found == {EBS_MOUNT_POINT: 0, "/var/lib/plain": 1}


def test_no_container_writes_outside_the_agents_tree(estate: Estate, agent: Agent) -> None:
    """A root container with the instance's `/` and `/etc` as host volumes, as node-exporter and
    cAdvisor mount them: what it writes lands in the instance's root, and the machine's kernel
    settings, /sys and devices are out of its reach, as Docker keeps them from a container that
    isn't privileged."""
    marker = f"ecs-testbed-planted-{os.getpid()}"
    domainname = Path("/proc/sys/kernel/domainname").read_text()
    script = "; ".join([
        f"echo x > /host/etc/{marker} || exit 11",
        f"echo x > /hostetc/{marker}-etc || exit 12",
        "if echo planted > /proc/sys/kernel/domainname; then exit 13; fi",
        "if touch /sys/kernel/planted; then exit 14; fi",
        "if ls /dev/sd* /dev/nvme* /dev/vd* 2>/dev/null | grep -q .; then exit 15; fi",
        "test -r /host/proc/stat || exit 16",
        "if echo 1 > /host/proc/sys/kernel/domainname; then exit 17; fi",
        "echo x > /tmp/in-overlay || exit 18",
    ])
    instance = estate.container_instance(CLUSTER)
    task = start_on(estate, agent, "containment", [
        box("root", script, user="0", mountPoints=[{"sourceVolume": "root", "containerPath": "/host"},
                                                   {"sourceVolume": "etc", "containerPath": "/hostetc"}])],
        instance.container_instance_arn,
        volumes=[{"name": "root", "host": {"sourcePath": "/"}}, {"name": "etc", "host": {"sourcePath": "/etc"}}])
    assert task.wait(stopped, 20), task.describe()
    assert task.container("root").exit_code == 0, task.describe()
    root = agent.instance_roots[instance.container_instance_arn]
    assert (root / "etc" / marker).exists() and (root / "etc" / f"{marker}-etc").exists()
    assert not Path("/etc", marker).exists() and not Path("/etc", f"{marker}-etc").exists()
    assert not Path("/tmp/in-overlay").exists()
    assert Path("/proc/sys/kernel/domainname").read_text() == domainname


@pytest.mark.parametrize("spread", [False, True], ids=["no-strategy", "spread-by-zone"])
def test_a_service_spread_by_zone_runs_a_task_in_each_zone(estate: Estate, agent: Agent, spread: bool) -> None:
    """The scheduler passes the service's placement to RunTask (fidelity P19): spread by
    ecs.availability-zone puts two replicas in two zones; without it both land on one instance."""
    zones = {estate.container_instance(CLUSTER, subnet_index=i).availability_zone for i in (0, 1)}
    definition = estate.task_definition("spread", [box("app", "sleep 600")], network_mode="bridge")
    strategy = [{"type": "spread", "field": "attribute:ecs.availability-zone"}] if spread else []
    estate.ecs.create_service(cluster=CLUSTER, serviceName="spread", taskDefinition=definition, desiredCount=2,
                              launchType="EC2", placementStrategy=strategy)
    agent.sync()
    placed = estate.ecs.describe_tasks(cluster=CLUSTER, tasks=estate.ecs.list_tasks(
        cluster=CLUSTER, serviceName="spread")["taskArns"])["tasks"]
    assert len(placed) == 2
    assert len({t["availabilityZone"] for t in placed}) == (len(zones) if spread else 1)
