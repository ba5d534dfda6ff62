"""The twin of test_stack_e2e.py's durability tests: the storage choice named for what it costs.
With `prometheus_storage = "fargate-ebs-lost-with-task"` (the design before the durable
default), the agent gives each new task a new ECS-managed EBS volume, so the replacement of a
stopped Prometheus task starts with no history at all. The same stop keeps it with the default
"instance-ebs" (test_a_stopped_prometheus_task_is_replaced_with_its_history)."""

from __future__ import annotations

from typing import Iterator

import pytest

from testbed.ecs_agent import Agent
from testbed.harness import Emulator
from testbed.seed import Estate
from testbed.terraform_stack import (AppliedStack, missing, replaced_stack_prometheus, samples_at, scraped_moment,
                                     stack_prometheus)

if missing():
    pytest.skip(f"the storage twin did not run: {missing()}", allow_module_level=True)

pytestmark = pytest.mark.ecs_agent


@pytest.fixture(scope="module")
def fargate_stack(fresh_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppliedStack, Agent]]:
    stack = AppliedStack(fresh_emulator, tmp_path_factory.mktemp("stack-fargate"), {
        "prometheus_storage": "fargate-ebs-lost-with-task", "prometheus_replicas": 1,
        "enable_grafana": False, "enable_alertmanager": False}).apply()
    stack.boot_instances()
    agent = Agent(fresh_emulator.endpoint, Estate.of(fresh_emulator).client, fresh_emulator.env, stop_grace=5)
    try:
        agent.run_in_background()
        yield stack, agent
    finally:
        agent.stop()
    assert not agent.errors, "the agent reported errors:\n" + "\n".join(agent.errors)


def test_a_stopped_fargate_prometheus_task_is_replaced_without_its_history(
        fargate_stack: tuple[AppliedStack, Agent]) -> None:
    stack, agent = fargate_stack
    task, url = stack_prometheus(agent, replica=0)
    assert "data" in task.volumes
    before = scraped_moment(url)
    stack.client("ecs").stop_task(cluster=stack.output()["cluster_name"], task=task.arn, reason="stopped by the twin")
    assert task.wait(lambda t: t.status == "STOPPED", 60), task.describe()
    new_task, new_url = replaced_stack_prometheus(agent, task, replica=0)
    assert new_task.volumes["data"] != task.volumes["data"]
    assert samples_at(new_url, before) == [], "a Fargate task's replacement kept history it can't have"
