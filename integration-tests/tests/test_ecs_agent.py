"""The test bed's ECS agent (`ecs_agent/`): it catches each class of failure that ECS would show,
on small task definitions made for that purpose, and it applies ECS's rules for users, volumes,
start order, health, networking, secrets and the image's entrypoint.

Each failure test has a twin that differs only in the fix, so the test can tell the two apart.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

import pytest
import requests
from dnslib import DNSRecord

from testbed.agent_tasks import APP, DISCOVERER, PROMETHEUS, RELOADER, app, box, run, settled, stopped
from testbed.ecs_agent import Agent
from testbed.ecs_agent.images import lookup, repository
from testbed.harness import Emulator, wait_until
from testbed.network import PLAN
from testbed.seed import Estate

pytestmark = pytest.mark.ecs_agent

# --- the failure classes of a real account ---------------------------------------------------

def reloader_one_pass(directory: str) -> list[dict[str, str]]:
    return [{"name": "CONFIG_SOURCE", "value": "ssm"},
            {"name": "SOURCE_PROMETHEUS_CONFIG_FILE_PATH", "value": "/agent/prometheus/config.yml"},
            {"name": "CONFIG_FILE_DIR", "value": f"{directory}/"},
            {"name": "CONFIG_RELOAD_FREQUENCY", "value": "0"},
            {"name": "RELOADER_LISTEN", "value": "off"}]


@pytest.mark.parametrize("path, user, fails", [("/config", None, True), ("/config", "0", False),
                                               ("/etc/config", None, False)],
                         ids=["nonroot-elsewhere", "root-elsewhere", "nonroot-at-image-volume"])
def test_a_non_root_writer_cannot_write_a_bind_mount_volume(estate: Estate, agent: Agent, path: str,
                                                            user: str | None, fails: bool) -> None:
    """The reloader runs as its image's nonroot; a bind volume is root:root 0755 unless mounted at
    the path its image declares as a VOLUME (/etc/config, owned by nonroot)."""
    estate.ssm_parameter("/agent/prometheus/config.yml", "global:\n  scrape_interval: 30s\n")
    writer = {"name": "config-init", "image": RELOADER, "memory": 64, "essential": True,
              "environment": reloader_one_pass(path),
              "mountPoints": [{"sourceVolume": "config", "containerPath": path}]}
    if user:
        writer["user"] = user
    task = run(estate, agent, "bind-writer", [writer], volumes=[{"name": "config"}])
    assert task.wait(stopped, 30), task.describe()
    container = task.container("config-init")
    assert task.volume_owners["config"] == ((65532, 65532, 0o755) if path == "/etc/config" else (0, 0, 0o755))
    if fails:
        assert container.exit_code != 0, task.describe()
        assert "ermission denied" in container.log_tail(2000), container.log_tail(2000)
        assert task.stopped_reason.startswith("Essential container in task exited")
    else:
        assert container.exit_code == 0, task.describe()
        assert (task.volumes["config"] / "config.yml").exists()


PROMETHEUS_ON_EBS = {"name": "prometheus", "image": PROMETHEUS, "memory": 256,
                     "command": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
                                 "--web.listen-address=:9090"],
                     "mountPoints": [{"sourceVolume": "data", "containerPath": "/prometheus"}]}


@pytest.mark.parametrize("user, fails", [(None, True), ("65534", False)], ids=["no-user", "user-nobody"])
def test_prometheus_without_user_cannot_write_its_ebs_volume(estate: Estate, agent: Agent, user: str | None,
                                                             fails: bool) -> None:
    container = {**PROMETHEUS_ON_EBS, **({"user": user} if user else {})}
    task = run(estate, agent, "prometheus-ebs", [container], volumes=[{"name": "data", "configuredAtLaunch": True}])
    if fails:
        assert task.wait(stopped, 30), task.describe()
        assert task.volume_owners["data"] == (0, 0, 0o755)
        assert "permission denied" in task.container("prometheus").log_tail(3000).lower(), task.describe()
        assert task.stopped_reason.startswith("Essential container in task exited")
    else:
        assert task.volume_owners["data"] == (0, 0, 0o775)
        assert task.wait(lambda t: (t.volumes["data"] / "wal").exists(), 30), task.describe()
        assert task.status == "RUNNING", task.describe()


@pytest.mark.parametrize("exit_code", [3, 0])
def test_a_success_dependency_that_fails_keeps_its_dependents_from_starting(estate: Estate, agent: Agent,
                                                                             exit_code: int) -> None:
    task = run(estate, agent, "success-dependency", [
        box("init", f"exit {exit_code}", essential=False),
        app(dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]),
    ])
    settled(task)
    if exit_code:
        assert task.container("app").status == "NOT_STARTED", task.describe()
        assert "SUCCESS not met: it exited with 3" in task.container("app").reason
        assert task.wait(stopped, 10) and "Essential container app can't start" in task.stopped_reason
    else:
        assert task.container("app").status == "RUNNING", task.describe()
        assert task.status == "RUNNING"


@pytest.mark.parametrize("image, healthy", [(DISCOVERER, False), (APP, True)], ids=["distroless", "with-shell"])
def test_a_shell_health_check_fails_in_an_image_without_a_shell(estate: Estate, agent: Agent, image: str,
                                                                healthy: bool) -> None:
    check = {"command": ["CMD-SHELL", "exit 0"], "interval": 10, "timeout": 5, "retries": 2, "startPeriod": 0}
    container: dict[str, Any] = {"name": "checked", "image": image, "memory": 64, "essential": False,
                                 "healthCheck": check}
    if image == DISCOVERER:
        container["command"] = ["--listen", "0.0.0.0:9001", "--output-dir", "/tmp", "--interval", "30s"]
    task = run(estate, agent, "shell-check", [container, box("keep", "sleep 600")])
    wanted = "HEALTHY" if healthy else "UNHEALTHY"
    assert task.wait(lambda t: t.container("checked").health == wanted, 30), task.describe()
    if not healthy:
        assert "/bin/sh" in task.container("checked").last_health_output, task.describe()
        assert task.container("checked").status == "RUNNING"  # the program runs; only its check fails


@pytest.mark.parametrize("essential", [True, False])
def test_an_essential_container_that_exits_stops_the_task(estate: Estate, agent: Agent, essential: bool) -> None:
    task = run(estate, agent, "essential-exit", [box("short", "sleep 0.5; exit 2", essential=essential), app()])
    assert task.wait(lambda t: t.container("short").status == "STOPPED", 20), task.describe()
    if essential:
        assert task.wait(stopped, 20), task.describe()
        assert task.stopped_reason == "Essential container in task exited: short (exited with 2)"
        assert task.container("app").status == "STOPPED"
        described = estate.ecs.describe_tasks(cluster="agent", tasks=[task.arn])["tasks"][0]
        assert described["lastStatus"] == "STOPPED" and described["desiredStatus"] == "STOPPED"
        assert described["stoppedReason"].startswith("Essential container in task exited")
        assert estate.ecs.list_tasks(cluster="agent")["taskArns"] == []
    else:
        time.sleep(1)
        assert task.status == "RUNNING" and task.container("app").status == "RUNNING", task.describe()


# --- ECS's rules -------------------------------------------------------------------------------


def test_dependency_conditions_order_the_start(estate: Estate, agent: Agent) -> None:
    healthy = {"command": ["CMD", "true"], "interval": 20, "timeout": 5, "retries": 2}
    task = run(estate, agent, "ordering", [
        box("first", "sleep 600", essential=False, healthCheck=healthy),
        box("after-start", "sleep 600", essential=False, dependsOn=[{"containerName": "first", "condition": "START"}]),
        box("once", "exit 1", essential=False),
        box("after-complete", "sleep 600", essential=False,
            dependsOn=[{"containerName": "once", "condition": "COMPLETE"}]),
        app(dependsOn=[{"containerName": "first", "condition": "HEALTHY"}]),
    ])
    settled(task)
    by_name = {c.name: c for c in task.containers}
    assert all(c.status == "RUNNING" for n, c in by_name.items() if n != "once"), task.describe()
    assert by_name["after-start"].started_at >= by_name["first"].started_at
    assert by_name["after-complete"].started_at >= by_name["once"].started_at
    # HEALTHY waited for the first check (interval 20 s x 0.05 = 1 s after the start).
    assert by_name["app"].started_at - by_name["first"].started_at >= 0.9


def test_volumes_take_their_owner_from_the_image_volume_the_ebs_user_and_mount_flags(estate: Estate,
                                                                                       agent: Agent) -> None:
    as_nobody = "touch /prometheus/in-image-volume && touch /ebs/by-group && id -u > /prometheus/uid"
    as_root = "touch /rw/ok && if touch /ro/x; then exit 10; fi"
    task = run(estate, agent, "volumes", [
        {"name": "nobody", "image": PROMETHEUS, "memory": 64, "essential": False, "user": "nobody",
         "entryPoint": ["sh", "-c", as_nobody],
         "mountPoints": [{"sourceVolume": "image-volume", "containerPath": "/prometheus"},
                         {"sourceVolume": "ebs", "containerPath": "/ebs"}]},
        box("root", as_root, essential=False,
            mountPoints=[{"sourceVolume": "plain", "containerPath": "/rw"},
                         {"sourceVolume": "plain", "containerPath": "/ro", "readOnly": True}]),
        box("keep", "sleep 600"),
    ], volumes=[{"name": "image-volume"}, {"name": "ebs", "configuredAtLaunch": True}, {"name": "plain"}])
    assert task.wait(lambda t: all(t.container(n).status == "STOPPED" for n in ("nobody", "root")), 30), \
        task.describe()
    assert task.container("nobody").exit_code == 0, task.describe()
    assert task.container("root").exit_code == 0, task.describe()
    assert "Read-only file system" in task.container("root").log_tail()
    assert task.volume_owners == {"image-volume": (65534, 65534, 0o755), "ebs": (0, 0, 0o775),
                                  "plain": (0, 0, 0o755)}
    assert (task.volumes["image-volume"] / "uid").read_text().strip() == "65534"
    assert (task.volumes["plain"] / "ok").exists() and not (task.volumes["plain"] / "x").exists()


@pytest.mark.parametrize("read_only", [True, False])
def test_a_read_only_root_filesystem_leaves_only_the_volumes_writable(estate: Estate, agent: Agent,
                                                                      read_only: bool) -> None:
    script = "touch /data/ok || exit 3; if touch /root-file; then exit 10; fi; exit 0"
    task = run(estate, agent, "read-only-root", [
        box("writer", script, essential=False, readonlyRootFilesystem=read_only,
            mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}]),
        box("keep", "sleep 600"),
    ], volumes=[{"name": "data"}])
    assert task.wait(lambda t: t.container("writer").status == "STOPPED", 20), task.describe()
    assert task.container("writer").exit_code == (0 if read_only else 10), task.describe()
    assert (task.volumes["data"] / "ok").exists()
    if read_only:
        assert "Read-only file system" in task.container("writer").log_tail()


def test_awsvpc_containers_share_localhost_and_answer_on_their_eni(estate: Estate, agent: Agent) -> None:
    task = run(estate, agent, "awsvpc", [
        app(),
        box("client", "for i in $(seq 50); do wget -q -O /dev/null http://localhost:8080/metrics && exit 0; "
                      "sleep 0.2; done; exit 1", essential=False),
    ])
    assert task.wait(lambda t: t.container("client").status == "STOPPED", 30), task.describe()
    assert task.container("client").exit_code == 0, task.describe()
    eni = task.eni
    assert PLAN.in_vpc(eni)
    answer = wait_until(lambda: requests.get(f"http://{eni}:8080/metrics", timeout=2), 20, "the app on its ENI")
    assert "example_app_requests_total" in answer.text


def test_a_task_resolves_the_cloud_map_names_of_its_vpc(estate: Estate, agent: Agent) -> None:
    """Route 53 answers a private DNS namespace's names to every task in its VPC (vpc_dns.py):
    a registered instance is found by its service's name, a deregistered one no longer is, and a
    name outside the namespaces is not found at all."""
    namespace = estate.cloudmap_namespace("agent.local", vpc=estate.vpc)
    service = estate.cloudmap_service(namespace, "peers", dns_ttl=10)
    address = PLAN.address(16, 200)
    estate.cloudmap_instance(service, "peer-1", {"AWS_INSTANCE_IPV4": address, "AWS_INSTANCE_PORT": "9094"})
    lookup_loop = ("import socket, sys, time\n"
                   "for name in sys.argv[1:]:\n"
                   "    try: print(name, sorted(socket.gethostbyname_ex(name)[2]), flush=True)\n"
                   "    except socket.gaierror as error: print(name, 'not found', error.errno, flush=True)\n"
                   "time.sleep(60)\n")
    task = run(estate, agent, "resolver", [app(entryPoint=["python3", "-c", lookup_loop],
                                               command=["peers.agent.local", "elsewhere.example.com"])])
    log = task.container("app").log
    assert log is not None
    lines = wait_until(lambda: (text := log.read_text()).count("\n") >= 2 and text.splitlines(), 20,
                       "the two lookups:\n" + task.describe())
    assert lines[0] == f"peers.agent.local ['{address}']", lines
    assert lines[1].startswith("elsewhere.example.com not found"), lines
    estate.client("servicediscovery").deregister_instance(ServiceId=service, InstanceId="peer-1")
    time.sleep(1.1)  # the resolver's view of the namespaces is a second old at most
    answer = DNSRecord.parse(DNSRecord.question("peers.agent.local").send(agent.dns.address, 53, timeout=5))
    assert answer.header.rcode == 0 and not answer.rr, answer


def test_a_bridge_task_answers_on_its_dynamic_host_port_and_a_host_task_on_the_instance(estate: Estate,
                                                                                        agent: Agent) -> None:
    bridge = run(estate, agent, "bridge", [app()], network="bridge")
    binding = bridge.description["containers"][0]["networkBindings"][0]
    assert binding["containerPort"] == 8080 and binding["hostPort"] >= 32768
    instance = agent.instances[bridge.description["containerInstanceArn"]]
    answer = wait_until(lambda: requests.get(f"http://{instance.address}:{binding['hostPort']}/metrics", timeout=2),
                        20, "the bridge app on its host port")
    assert answer.status_code == 200
    # Nothing answers on the container port of the instance: only the mapped host port.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{instance.address}:8080/metrics", timeout=2)

    host = run(estate, agent, "host", [app(command=["9555"], portMappings=[{"containerPort": 9555}])], network="host")
    host_instance = agent.instances[host.description["containerInstanceArn"]]
    answer = wait_until(lambda: requests.get(f"http://{host_instance.address}:9555/metrics", timeout=2), 20,
                        "the host-mode app on the instance's address")
    assert answer.status_code == 200


def test_environment_and_secrets_from_ssm_and_secrets_manager(estate: Estate, agent: Agent) -> None:
    estate.ssm_parameter("/agent/plain", "from-ssm", kind="SecureString")
    secret = estate.client("secretsmanager").create_secret(Name="agent-json", SecretString='{"password": "pw1"}')
    parameter_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/agent/plain"
    script = 'test "$PLAIN" = set && test "$FROM_SSM" = from-ssm && test "$PASSWORD" = pw1 && test -n "$AWS_ENDPOINT_URL"'
    task = run(estate, agent, "secrets", [
        box("check", script, essential=False, environment=[{"name": "PLAIN", "value": "set"}],
            secrets=[{"name": "FROM_SSM", "valueFrom": parameter_arn},
                     {"name": "PASSWORD", "valueFrom": f"{secret['ARN']}:password::"}]),
        box("keep", "sleep 600"),
    ])
    assert task.wait(lambda t: t.container("check").status == "STOPPED", 20), task.describe()
    assert task.container("check").exit_code == 0, task.describe()


@pytest.mark.parametrize("exists", [False, True], ids=["missing", "present"])
def test_a_missing_secret_of_any_container_fails_the_task_before_anything_starts(estate: Estate, agent: Agent,
                                                                                  exists: bool) -> None:
    """ECS fetches every container's secrets for the task: a missing one, even on a container
    that isn't essential, stops the task with ResourceInitializationError, and nothing runs."""
    if exists:
        estate.ssm_parameter("/agent/optional", "here")
    task = run(estate, agent, "missing-secret", [
        box("optional", "exit 0", essential=False,
            secrets=[{"name": "OPTIONAL", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/agent/optional"}]),
        box("keep", "sleep 600"),
    ])
    if exists:
        assert task.wait(lambda t: t.container("keep").status == "RUNNING", 20), task.describe()
        return
    assert task.wait(stopped, 10), task.describe()
    assert task.stopped_reason.startswith("ResourceInitializationError: unable to pull secrets"), task.stopped_reason
    assert "/agent/optional" in task.stopped_reason
    assert all(c.process is None for c in task.containers), task.describe()
    described = estate.ecs.describe_tasks(cluster="agent", tasks=[task.arn])["tasks"][0]
    assert described["stoppedReason"].startswith("ResourceInitializationError")


def test_command_is_appended_to_the_image_entrypoint(estate: Estate, agent: Agent) -> None:
    image = lookup(APP)
    assert image.entrypoint == ("python3", "/app/example_app.py") and image.cmd == ("8080",)
    task = run(estate, agent, "entrypoint", [app(command=["8081", "8082"])])
    eni = task.eni
    for port in (8081, 8082):
        wait_until(lambda: requests.get(f"http://{eni}:{port}/metrics", timeout=2).ok, 20, f"port {port}")
    assert task.container("app").spec is not None and task.container("app").spec.uid == 65534


def test_services_are_run_to_their_desired_count_and_unknown_images_are_reported(estate: Estate,
                                                                                    agent: Agent) -> None:
    estate.container_instance("agent")
    definition = estate.task_definition("replicas", [app()], network_mode="bridge")
    estate.service("agent", "replicas", definition, desired_count=2)
    grafana = estate.task_definition("grafana", [{"name": "grafana", "image": "docker.io/grafana/grafana-oss:11.2.0",
                                                  "memory": 64}], network_mode="bridge")
    estate.service("agent", "grafana", grafana, desired_count=1)
    agent.sync()
    agent.sync()
    replicas = [t for t in agent.tasks.values() if t.family == "replicas"]
    assert len(replicas) == 2, "\n".join(t.describe() for t in replicas)
    assert all(t.wait(lambda x: x.status == "RUNNING", 20) for t in replicas), [t.describe() for t in replicas]
    assert agent.not_run() == ["grafana/grafana (docker.io/grafana/grafana-oss:11.2.0)"]
    assert len(estate.ecs.list_tasks(cluster="agent", serviceName="replicas")["taskArns"]) == 2


def test_the_image_table_reads_the_project_dockerfiles() -> None:
    for image, binary, volume in ((DISCOVERER, "ecs-discoverer", "/etc/ecs-sd"),
                                  (RELOADER, "config-reloader", "/etc/config")):
        row = lookup(image)
        assert row.source == f"services/{binary}/Dockerfile"
        assert row.user == "nonroot:nonroot" and row.resolve_user(None) == (65532, 65532)
        assert row.entrypoint == (f"/usr/local/bin/{binary}",) and not row.has_shell
        assert row.volumes == {volume: (65532, 65532)}
    assert repository("quay.io/prometheus/prometheus:v2.53.2") == "prometheus/prometheus"
    assert lookup(PROMETHEUS).volumes == {"/prometheus": (65534, 65534)}
    assert not lookup("gcr.io/cadvisor/cadvisor:v0.49.1").runnable
    # Alertmanager's gossip advertises the address GetPrivateIP finds on AWS, which the test bed's
    # loopback addresses hide from it: only when it listens on all addresses and advertises none.
    alertmanager = lookup("quay.io/prometheus/alertmanager:v0.27.0")
    clustered = ["--cluster.listen-address=0.0.0.0:9094", "--cluster.peer=am.local:9094"]
    assert alertmanager.with_private_address(clustered, "127.0.16.9")[-1] == "--cluster.advertise-address=127.0.16.9:9094"
    for unchanged in (["--cluster.listen-address="], [*clustered, "--cluster.advertise-address=10.0.0.1:9094"]):
        assert alertmanager.with_private_address(unchanged, "127.0.16.9") == unchanged
    assert lookup(PROMETHEUS).with_private_address(clustered, "127.0.16.9") == clustered


def test_stop_leaves_no_namespace_mount_or_process(estate: Estate, emulator: Emulator) -> None:
    estate.cluster("agent")
    agent = Agent(emulator.endpoint, estate.client, emulator.env, stop_grace=5)
    task = run(estate, agent, "cleanup", [app()])
    assert task.wait(lambda t: t.status == "RUNNING", 20)
    pid = task.container("app").process.pid  # type: ignore[union-attr]
    agent.stop()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"ecsa-{os.getpid()}-" not in netns  # this process's; another worker's agent may be running
    assert str(agent.sandbox.root) not in open("/proc/self/mountinfo").read()
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0


# --- start-up, stopping and the fields of a definition ----------------------------------------

@pytest.mark.parametrize("condition", ["HEALTHY", "START"])
def test_a_dependency_never_met_is_given_up_after_the_start_timeout(estate: Estate, agent: Agent,
                                                                    condition: str) -> None:
    """HEALTHY on a container without a health check can never be met: ECS gives up after
    `startTimeout` and stops the task; until then the waiting container counts as a failure."""
    task = run(estate, agent, "start-timeout", [
        box("sidecar", "sleep 600", essential=False),
        app(dependsOn=[{"containerName": "sidecar", "condition": condition}], startTimeout=3),
    ])
    if condition == "START":
        assert task.wait(lambda t: t.container("app").status == "RUNNING", 20), task.describe()
        assert not agent.failures()
        return
    assert task.wait(lambda t: t.container("sidecar").status == "RUNNING", 20), task.describe()
    assert [f["container"] for f in agent.failures()] == ["app"], agent.failures()  # still PENDING
    assert task.wait(stopped, 20), task.describe()
    assert task.container("app").status == "NOT_STARTED"
    assert "has timed out after 3 s (startTimeout)" in task.container("app").reason
    assert task.stopped_reason.startswith("Essential container app can't start")


@pytest.mark.parametrize("user", ["no-such-user", "root"])
def test_a_container_that_cant_start_stops_the_task_and_no_later_container_outlives_it(estate: Estate, agent: Agent,
                                                                                       user: str) -> None:
    """The first container can't start (its user isn't in the image): the task stops, and the
    container after it is not started behind the stopped task's back."""
    task = run(estate, agent, "no-leak", [box("first", "sleep 600", user=user), box("second", "sleep 600")])
    second = task.container("second")
    if user == "root":
        assert task.wait(lambda t: second.status == "RUNNING", 20), task.describe()
        return
    assert task.wait(stopped, 20), task.describe()
    time.sleep(1)  # a pass of the task's loop would have started it
    assert second.process is None or second.process.poll() is not None, task.describe()
    task.stop()
    assert second.process is None or second.process.poll() is not None


def test_environment_files_ulimits_and_stop_timeout_are_applied(estate: Estate, agent: Agent) -> None:
    estate.s3_object("agent-env", "app.env", "# comment\nFROM_FILE=file\nOVERRIDDEN=file\n")
    script = ('test "$FROM_FILE" = file && test "$OVERRIDDEN" = environment && test "$(ulimit -n)" = 1234 '
              '|| exit 5; trap "" TERM; while true; do sleep 1; done')
    task = run(estate, agent, "fields", [
        box("app", script, environmentFiles=[{"value": "arn:aws:s3:::agent-env/app.env", "type": "s3"}],
            environment=[{"name": "OVERRIDDEN", "value": "environment"}],
            ulimits=[{"name": "nofile", "softLimit": 1234, "hardLimit": 2048}], stopTimeout=1),
    ])
    assert task.wait(lambda t: t.container("app").status == "RUNNING", 20), task.describe()
    time.sleep(1)
    assert task.container("app").status == "RUNNING", task.describe()  # the checks passed: no exit 5
    started = time.monotonic()
    task.stop()
    assert time.monotonic() - started < 4, "SIGKILL after stopTimeout (1 s), not the agent's 5 s"
    assert not agent.not_modelled()


@pytest.mark.parametrize("fields", [{"linuxParameters": {"initProcessEnabled": True}}, {}], ids=["linux", "none"])
def test_a_field_the_agent_does_not_model_is_reported(estate: Estate, agent: Agent, fields: dict[str, Any]) -> None:
    task = run(estate, agent, "unmodelled", [box("app", "sleep 600", **fields)])
    assert task.wait(lambda t: t.status == "RUNNING", 20), task.describe()
    assert agent.not_modelled() == (["unmodelled/app: linuxParameters"] if fields else [])


def test_two_users_both_write_an_ebs_volume(estate: Estate, agent: Agent) -> None:
    """ECS keeps an EBS volume root:root with group write and gives each container with a
    `user` the root group: two containers with different users both write it."""
    task = run(estate, agent, "ebs-users", [
        box("one", "touch /data/one", essential=False, user="65534",
            mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}]),
        box("two", "touch /data/two", essential=False, user="1000:1000",
            mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}]),
        box("keep", "sleep 600"),
    ], volumes=[{"name": "data", "configuredAtLaunch": True}])
    assert task.wait(lambda t: all(t.container(n).status == "STOPPED" for n in ("one", "two")), 20), task.describe()
    assert task.volume_owners["data"] == (0, 0, 0o775)
    assert [task.container(n).exit_code for n in ("one", "two")] == [0, 0], task.describe()


@pytest.mark.parametrize("in_service", [False, True], ids=["standalone", "service"])
def test_an_unhealthy_essential_container_stops_a_service_task_only(estate: Estate, agent: Agent,
                                                                    in_service: bool) -> None:
    """ECS: a standalone task goes on whatever its health; a service's task that turns UNHEALTHY
    is stopped (and replaced by the scheduler)."""
    check = {"command": ["CMD", "false"], "interval": 10, "timeout": 5, "retries": 2}
    definition = [box("checked", "sleep 600", healthCheck=check)]
    if in_service:
        estate.container_instance("agent")
        arn = estate.task_definition("unhealthy", definition, network_mode="bridge")
        estate.service("agent", "unhealthy", arn, desired_count=1)
        agent.sync()
        task = agent.task("unhealthy")
    else:
        task = run(estate, agent, "unhealthy", definition, network="bridge")
    assert task.wait(lambda t: t.container("checked").health == "UNHEALTHY", 20), task.describe()
    if in_service:
        assert task.wait(stopped, 10), task.describe()
        assert task.stopped_reason.startswith("Task failed container health checks")
    else:
        time.sleep(1)
        assert task.status == "RUNNING", task.describe()
