"""One ECS task as the test bed's agent runs it: its volumes, its containers in dependency order,
their health checks, and the end of the task when an essential container stops.

The rules are the ones the real ECS agent applies (ECS developer guide: task definition
parameters, "Container dependency", "Bind mounts", "Amazon EBS volumes", "Health checks"):
  - a container runs as its definition's `user`, else as its image's `USER`;
  - a bind-mount volume is a fresh root:root 0755 directory, unless the image of a container
    that mounts it declares a `VOLUME` at that `containerPath`, whose owner it then takes;
  - a `configuredAtLaunch` (EBS) volume is root:root 0755; when a container that mounts it
    sets `user`, the volume gets group write (root:root 0775) and every container with a `user`
    that mounts it runs with the root group as a supplementary group, so two containers with
    different users can both write it;
  - `secrets` and `environmentFiles` are fetched for the whole task before any container
    starts: one that can't be fetched, on any container, stops the task with
    ResourceInitializationError;
  - `dependsOn` START, COMPLETE, SUCCESS and HEALTHY; a condition that can no longer be met
    leaves the container unstarted, and an essential container that can't start stops the task;
    a condition not met within the container's `startTimeout` (else the agent's default, 3
    minutes as ECS_CONTAINER_START_TIMEOUT) is given up the same way;
  - an essential container that stops stops the task ("Essential container in task exited");
  - a health check runs inside the container's view, as its user; `CMD-SHELL` needs a shell;
    an essential container that turns UNHEALTHY stops the task when it belongs to a service
    (the scheduler replaces it); a standalone task goes on, UNHEALTHY, as on ECS;
  - stopping sends SIGTERM, then SIGKILL after the container's `stopTimeout` (else the agent's);
    `ulimits` are set on the container's process;
  - a definition field the agent doesn't model (`linuxParameters`, say) is reported by name
    (`Container.not_modelled`), never dropped without a word;
  - `command` is appended to the image's `ENTRYPOINT` (an `entryPoint` replaces both);
  - `readonlyRootFilesystem` makes the container's root read-only; its volumes stay writable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .images import Image, ImageError, lookup
from .sandbox import ContainerSpec, Mount, Sandbox, SandboxError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_START_TIMEOUT = 180.0  # ECS_CONTAINER_START_TIMEOUT's default on Linux

# Container definition fields the agent applies; `dockerLabels`, which only the discoverer reads
# (through the API); and `memory`, `memoryReservation`, `cpu` and `logConfiguration`, whose
# effect (cgroup limits, the log driver) the README lists among what this machine can't show.
# Any other field is reported (`Agent.not_modelled`).
MODELLED_FIELDS = frozenset({
    "name", "image", "essential", "memory", "memoryReservation", "cpu", "portMappings", "environment",
    "environmentFiles", "secrets", "command", "entryPoint", "user", "mountPoints", "dependsOn", "healthCheck",
    "workingDirectory", "readonlyRootFilesystem", "startTimeout", "stopTimeout", "ulimits", "dockerLabels",
    "logConfiguration",
})


class TaskInitError(RuntimeError):
    """The task can't start any container (ECS: ResourceInitializationError)."""


def eni_address(description: dict[str, Any]) -> str | None:
    """The private IP of an awsvpc task's ENI, from its DescribeTasks answer; None otherwise."""
    return next((c["networkInterfaces"][0]["privateIpv4Address"] for c in description.get("containers", [])
                 if c.get("networkInterfaces")), None)


@dataclass
class Container:
    """A container of a running task and what became of it."""

    name: str
    image: str
    essential: bool
    definition: dict[str, Any]
    status: str = "PENDING"  # PENDING, RUNNING, STOPPED, NOT_RUN, NOT_STARTED
    health: str = "UNKNOWN"  # UNKNOWN, HEALTHY, UNHEALTHY (only with a healthCheck)
    exit_code: int | None = None
    reason: str = ""
    log: Path | None = None
    process: subprocess.Popen | None = None
    spec: ContainerSpec | None = None
    started_at: float = 0.0
    health_failures: int = 0
    next_check: float = 0.0
    last_health_output: str = ""
    env: dict[str, str] = field(default_factory=dict)  # secrets and environment files, fetched at init
    not_modelled: list[str] = field(default_factory=list)

    def log_tail(self, chars: int = 600) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_bytes()[-chars:].decode(errors="replace")


@dataclass
class Networking:
    """Where a task's containers live: one namespace for all (awsvpc, host) or one per container
    (bridge, with the instance's host ports proxied to it)."""

    mode: str
    task_netns: str | None = None  # awsvpc and host
    instance_netns: str | None = None  # EC2 tasks
    instance_address: str | None = None
    instance_root: Path | None = None  # EC2 tasks: where the instance's host paths live
    bridge_host: Callable[[str], Any] | None = None  # makes a namespace for a bridge container
    resolv_conf: str = ""  # every container's /etc/resolv.conf: the VPC's resolver (vpc_dns.py)


@dataclass
class TaskRun:
    cluster: str
    arn: str
    family: str
    definition: dict[str, Any]
    description: dict[str, Any]
    sandbox: Sandbox
    networking: Networking
    base_env: dict[str, str]
    secret: Callable[[str], str]
    env_file: Callable[[str], str]
    health_scale: float = 1.0
    stop_grace: float = 10.0
    start_timeout: float = DEFAULT_START_TIMEOUT
    on_stopped: Callable[["TaskRun"], None] | None = None
    containers: list[Container] = field(default_factory=list)
    status: str = "PROVISIONING"
    stopped_reason: str = ""
    volumes: dict[str, Path] = field(default_factory=dict)
    volume_owners: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)
    proxies: list[subprocess.Popen] = field(default_factory=list)
    started_at: float = 0.0
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def task_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    @property
    def eni(self) -> str | None:
        return eni_address(self.description)

    # --- set-up ----------------------------------------------------------------------------
    def prepare(self) -> None:
        """Images, users and volumes; a task that can't be prepared stops before any container
        runs, with the reason ECS would give."""
        self.containers = [Container(name=c["name"], image=c["image"], essential=c.get("essential", True),
                                     definition=c) for c in self.definition["containerDefinitions"]]
        logs = self.sandbox.logs(self.task_id)
        for container in self.containers:
            container.log = logs / f"{container.name}.log"
            try:
                image = lookup(container.image)
            except ImageError as error:
                container.status, container.reason = "NOT_RUN", str(error)
                continue
            self.images[container.name] = image
            if not image.runnable:
                container.status = "NOT_RUN"
                container.reason = f"no local program for image {image.name} ({image.source}); not run"
        for container in self.containers:
            # DescribeTaskDefinition returns unset lists as [] (volumesFrom, say): only a value counts.
            container.not_modelled = sorted(k for k, v in container.definition.items()
                                            if k not in MODELLED_FIELDS and v not in (None, "", [], {}))
            container.env = self._fetched_env(container)
        self._make_volumes()

    def _fetched_env(self, container: Container) -> dict[str, str]:
        """What the execution role fetches for a container before the task starts: its
        `environmentFiles` (S3 objects of KEY=VALUE lines), then its `secrets`."""
        env: dict[str, str] = {}
        for env_file in container.definition.get("environmentFiles", []):
            try:
                text = self.env_file(env_file["value"])
            except Exception as error:  # noqa: BLE001 - any failure to fetch is the task's
                raise TaskInitError(f"ResourceInitializationError: failed to download env files: "
                                    f"{env_file['value']}: {error}") from error
            for line in text.splitlines():
                key, sep, value = line.strip().partition("=")
                if sep and key and not key.startswith("#"):
                    env[key] = value
        for secret in container.definition.get("secrets", []):
            try:
                env[secret["name"]] = self.secret(secret["valueFrom"])
            except Exception as error:  # noqa: BLE001 - any failure to fetch is the task's
                store = "asm" if ":secretsmanager:" in secret["valueFrom"] else "ssm"
                raise TaskInitError(f"ResourceInitializationError: unable to pull secrets or registry auth: "
                                    f"execution resource retrieval failed: unable to retrieve secrets from {store}: "
                                    f"invalid {store} parameters: {secret['valueFrom']} ({error})") from error
        return env

    def _make_volumes(self) -> None:
        for volume in self.definition.get("volumes", []):
            name = volume["name"]
            host_path = (volume.get("host") or {}).get("sourcePath")
            if host_path:
                if self.networking.instance_root is None:
                    raise SandboxError(f"volume {name}: host.sourcePath {host_path} needs an EC2 container "
                                       f"instance; Fargate refuses it")
                self.volumes[name] = self.sandbox.host_path(self.networking.instance_root, host_path)
                continue
            if volume.get("dockerVolumeConfiguration") or volume.get("efsVolumeConfiguration") \
                    or volume.get("fsxWindowsFileServerVolumeConfiguration"):
                raise SandboxError(f"task {self.family}: volume {name}: only bind mounts, host paths and "
                                   f"configuredAtLaunch (EBS) volumes are emulated by the test bed's agent")
            path = self.sandbox.volume(self.task_id, name)
            uid, gid, mode = self._volume_owner(volume)
            os.chown(path, uid, gid)
            os.chmod(path, mode)
            self.volumes[name] = path
            self.volume_owners[name] = (uid, gid, mode)

    def _volume_owner(self, volume: dict[str, Any]) -> tuple[int, int, int]:
        """(uid, gid, mode) of a fresh volume, by the rules in this module's docstring."""
        mounting = [(c, m) for c in self.containers for m in c.definition.get("mountPoints", [])
                    if m.get("sourceVolume") == volume["name"] and c.name in self.images]
        if volume.get("configuredAtLaunch"):
            if any(container.definition.get("user") for container, _ in mounting):
                return 0, 0, 0o775
            return 0, 0, 0o755
        for container, mount in mounting:
            owner = self.images[container.name].volumes.get(mount["containerPath"].rstrip("/") or "/")
            if owner is not None:
                return owner[0], owner[1], 0o755
        return 0, 0, 0o755

    # --- running ---------------------------------------------------------------------------
    def start(self) -> None:
        self.status, self.started_at = "PENDING", time.monotonic()
        self._thread = threading.Thread(target=self._supervise, name=f"task-{self.task_id}", daemon=True)
        self._thread.start()

    def _supervise(self) -> None:
        try:
            while not self._stop.is_set():
                with self._lock:
                    if self._step():
                        break
                time.sleep(0.1)
        except Exception as error:  # noqa: BLE001 - any agent failure ends the task with its reason
            self._finish(f"agent error: {error}")

    def _step(self) -> bool:
        """One pass of the task's state machine; True when the task has stopped."""
        now = time.monotonic()
        for container in self.containers:
            if container.status == "RUNNING" and container.process and container.process.poll() is not None:
                container.status, container.exit_code = "STOPPED", container.process.returncode
                container.reason = f"exited with {container.exit_code}"
                if container.essential:
                    return self._finish("Essential container in task exited", exited=container)
        for container in self.containers:
            if container.status == "PENDING":
                verdict = self._dependencies(container)
                timeout = float(container.definition.get("startTimeout") or self.start_timeout)
                if verdict is None and now - self.started_at > timeout:
                    waited = [d["containerName"] for d in container.definition.get("dependsOn", [])]
                    verdict = (f"CannotStartContainerError: dependency graph: container ordering dependency "
                               f"{waited} for target [{container.name}] has timed out after {timeout:g} s "
                               f"(startTimeout)")
                if verdict is True:
                    self._start_container(container)
                    if self.status == "STOPPED":
                        return True
                elif isinstance(verdict, str):
                    container.status, container.reason = "NOT_STARTED", verdict
                    if container.essential:
                        return self._finish(f"Essential container {container.name} can't start: {verdict}")
            if container.status == "RUNNING" and container.definition.get("healthCheck") and now >= container.next_check:
                unhealthy = self._health_check(container, now) == "UNHEALTHY" and container.essential
                if unhealthy and self.description.get("group", "").startswith("service:"):
                    return self._finish("Task failed container health checks", exited=container)
        if self.status == "PENDING" and any(c.status == "RUNNING" for c in self.containers):
            self.status = "RUNNING"
        # A container that is not run here would be running on ECS: its task goes on.
        if self.containers and all(c.status in ("STOPPED", "NOT_STARTED") for c in self.containers):
            return self._finish("All containers in task stopped")
        return False

    def _dependencies(self, container: Container) -> bool | str | None:
        """True: start it; a string: it can never start (the reason); None: not yet."""
        by_name = {c.name: c for c in self.containers}
        for dependency in container.definition.get("dependsOn", []):
            other = by_name.get(dependency["containerName"])
            condition = dependency["condition"]
            if other is None:
                return f"dependsOn names no container {dependency['containerName']}"
            if other.status in ("NOT_RUN", "NOT_STARTED"):
                return f"dependency {other.name} ({condition}) did not run: {other.reason}"
            if condition == "START":
                if other.status == "PENDING":
                    return None
            elif condition == "COMPLETE":
                if other.status != "STOPPED":
                    return None
            elif condition == "SUCCESS":
                if other.status != "STOPPED":
                    return None
                if other.exit_code != 0:
                    return f"dependency {other.name} SUCCESS not met: it exited with {other.exit_code}"
            elif condition == "HEALTHY":
                if other.health == "UNHEALTHY" or other.status == "STOPPED":
                    return f"dependency {other.name} HEALTHY not met: it is {other.health}, {other.status}"
                if other.health != "HEALTHY":
                    return None
            else:
                return f"unknown dependsOn condition {condition}"
        return True

    def _start_container(self, container: Container) -> None:
        image = self.images[container.name]
        definition = container.definition
        try:
            uid, gid = image.resolve_user(definition.get("user"))
            # ECS: `environment` wins over an environment file; secrets are set last.
            secrets = {s["name"] for s in definition.get("secrets", [])}
            env = {"PATH": DEFAULT_PATH, **image.env, **self.base_env,
                   **{k: v for k, v in container.env.items() if k not in secrets},
                   **{e["name"]: e["value"] for e in definition.get("environment", [])},
                   **{k: v for k, v in container.env.items() if k in secrets}}
        except Exception as error:  # noqa: BLE001 - ECS: the container fails to start, with the reason
            container.status, container.reason = "NOT_STARTED", f"CannotStartContainerError: {error}"
            if container.essential:
                self._finish(f"Essential container {container.name} can't start: {error}")
            return
        if definition.get("entryPoint"):
            argv = list(definition["entryPoint"]) + list(definition.get("command") or [])
        else:
            argv = list(image.entrypoint) + list(definition.get("command") or image.cmd)
        if not argv:
            container.status, container.reason = "NOT_STARTED", "CannotStartContainerError: no command"
            return
        netns, address = self.networking.task_netns, self.eni or self.networking.instance_address
        if self.networking.mode == "bridge":
            netns, address = self._bridge_namespace(container)
        argv = image.with_private_address(argv, str(address))
        mounts = [Mount(self.volumes[m["sourceVolume"]], m["containerPath"], m.get("readOnly", False))
                  for m in definition.get("mountPoints", [])]
        workdir = definition.get("workingDirectory") or image.workdir
        container.spec = ContainerSpec(
            key=f"{self.task_id}-{container.name}", netns=str(netns), argv=argv, env=env, uid=uid, gid=gid,
            workdir=workdir, programs=dict(image.program or {}), mounts=mounts, hide_shells=not image.has_shell,
            read_only_root=bool(definition.get("readonlyRootFilesystem")), resolv_conf=self.networking.resolv_conf,
            groups=[0] if definition.get("user") and self._mounts_ebs(container) else [],
            ulimits={u["name"]: (int(u["softLimit"]), int(u["hardLimit"])) for u in definition.get("ulimits", [])})
        assert container.log is not None
        container.process = self.sandbox.spawn(container.spec, container.log)
        container.status, container.started_at = "RUNNING", time.monotonic()
        check = definition.get("healthCheck")
        if check:
            container.next_check = container.started_at + check.get("interval", 30) * self.health_scale

    def _mounts_ebs(self, container: Container) -> bool:
        launch = {v["name"] for v in self.definition.get("volumes", []) if v.get("configuredAtLaunch")}
        return any(m.get("sourceVolume") in launch for m in container.definition.get("mountPoints", []))

    def _bridge_namespace(self, container: Container) -> tuple[str, str]:
        """A bridge container's own namespace (name, address), and a proxy on the instance for
        each binding."""
        assert self.networking.bridge_host is not None and self.networking.instance_netns
        host = self.networking.bridge_host(container.name)
        described = {c["name"]: c for c in self.description.get("containers", [])}.get(container.name, {})
        assert container.log is not None
        for binding in described.get("networkBindings", []):
            self.proxies.append(self.sandbox.proxy(
                self.networking.instance_netns, "0.0.0.0", binding["hostPort"], host.address,
                binding["containerPort"], container.log.with_suffix(".proxy.log")))
        return host.name, host.address

    def _health_check(self, container: Container, now: float) -> str:
        check = container.definition["healthCheck"]
        command = list(check["command"])
        kind, rest = command[0], command[1:]
        argv = ["/bin/sh", "-c", " ".join(rest)] if kind == "CMD-SHELL" else rest
        assert container.process is not None and container.spec is not None
        code, output = self.sandbox.exec_in(container.process.pid, container.spec, argv,
                                            timeout=max(check.get("timeout", 5) * self.health_scale, 1.0))
        container.last_health_output = f"exit {code}: {output.strip()}"
        container.next_check = now + check.get("interval", 30) * self.health_scale
        in_start_period = now - container.started_at < check.get("startPeriod", 0) * self.health_scale
        if code == 0:
            container.health, container.health_failures = "HEALTHY", 0
        elif not in_start_period:
            container.health_failures += 1
            if container.health_failures >= check.get("retries", 3):
                container.health = "UNHEALTHY"
        return container.health

    # --- stopping --------------------------------------------------------------------------
    def _finish(self, reason: str, exited: Container | None = None) -> bool:
        if self.status == "STOPPED":
            return True
        self.stopped_reason = reason if exited is None else f"{reason}: {exited.name} ({exited.reason or exited.health})"
        self._terminate()
        self.status = "STOPPED"
        if self.on_stopped:
            self.on_stopped(self)
        return True

    def _terminate(self) -> None:
        """SIGTERM every process of the task, SIGKILL after each container's stop timeout.
        Idempotent: `stop()` calls it again, whatever state the task is in."""
        running = [c for c in self.containers if c.process and c.process.poll() is None]
        for container in running:
            _signal_group(container.process, signal.SIGTERM)
        signalled = time.monotonic()
        for container in running:
            assert container.process is not None
            grace = float(container.definition.get("stopTimeout") or self.stop_grace)
            try:
                container.process.wait(timeout=max(signalled + grace - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal_group(container.process, signal.SIGKILL)
                container.process.wait(timeout=10)
            if container.status == "RUNNING":
                container.status, container.exit_code = "STOPPED", container.process.returncode
                container.reason = f"stopped by the agent, exit {container.exit_code}"
        for proxy in self.proxies:
            _signal_group(proxy, signal.SIGTERM)
            try:
                proxy.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _signal_group(proxy, signal.SIGKILL)

    def stop(self, reason: str = "Task stopped by the test bed") -> None:
        """Stop the task (StopTask, or the end of a test) and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            self._finish(reason)
            self._terminate()

    def wait(self, predicate: Callable[["TaskRun"], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.1)
        return predicate(self)

    def container(self, name: str) -> Container:
        return next(c for c in self.containers if c.name == name)

    def summary(self) -> dict[str, Any]:
        return {
            "task": self.task_id, "family": self.family, "status": self.status, "stoppedReason": self.stopped_reason,
            "volumes": {name: {"path": str(path), "owner": self.volume_owners.get(name)} for name, path in self.volumes.items()},
            "containers": [{"name": c.name, "image": c.image, "status": c.status, "exitCode": c.exit_code,
                            "health": c.health, "reason": c.reason, "healthOutput": c.last_health_output,
                            "log": c.log_tail(300)} for c in self.containers],
        }

    def describe(self) -> str:
        return json.dumps(self.summary(), indent=2)


def _signal_group(process: subprocess.Popen | None, sig: int) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
