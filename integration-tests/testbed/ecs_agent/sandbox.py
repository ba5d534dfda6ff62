"""The host side of the test bed's ECS agent: network namespaces, container file systems, and
the processes that are a container's main program and its health check.

Every "host" (an EC2 container instance, an awsvpc task's ENI, a bridge-mode container) is a
network namespace with one address, joined to the root namespace by a veth pair. The root
namespace routes between them: it holds a /32 route for each address in its `local` table, so
a loopback address of the estate's VPC (testbed/network.py) reaches that namespace instead of the
root's `lo`. Inside a namespace, `lo` keeps only 127.0.0.1/32 (the task's own localhost) and
everything else goes out through `eth0`, so a task reaches the other hosts, the AWS emulator
(127.1.0.1, outside every VPC the test bed seeds) and loopback-bound test processes.

A container's file system is an overlay of the host's root, with its image's programs bound at
the image's paths, its volumes bound at their `containerPath` (read-only where the mount says
so), and, for an image without a shell, the host's shells hidden by overlay whiteouts. As
Docker gives a container that isn't privileged, `/dev` is a tmpfs with only the harmless
devices, and `/sys` and `/proc/sys` are read-only: a root container changes nothing of the
machine through them. Its process runs in a private mount namespace, as the container's user
(setpriv), in its image's working directory.

Each EC2 container instance has a root of its own in the agent's tmpfs (`instance_root`): its
`host.sourcePath` volumes live there (created when missing, root:root 0755, as the Docker
daemon does), so two instances, or an instance and its replacement, never share one; its
`/proc` and `/sys` are the machine's, read-only. An EBS volume has its data in the tmpfs too
(`ebs_volume`), mounted in the root of the instance it is attached to, so it is the one thing
that follows a replacement instance. As root, nothing of this leaves a trace on the host: the
namespaces and the agent's tmpfs go away at `cleanup()`.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import shlex
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..network import PLAN

NETNS_PREFIX = "ecsa-"
_HOST_NUMBERS = itertools.count(1)  # unique per process, across sandboxes: names of namespaces and veths
SHELLS = ("/usr/bin/sh", "/usr/bin/dash", "/usr/bin/bash", "/usr/bin/rbash")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


class SandboxError(RuntimeError):
    """The host can't run the agent's containers (not root, a command missing, a mount failed)."""


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise SandboxError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


class Forwarding:
    """`net.ipv4.ip_forward`, which every running sandbox needs on, shared by the sandboxes of
    all processes (the test workers run agents side by side): the first to hold it saves the
    host's value and turns it on, the last to let go restores it. The holders live in a file
    under /run, changed under an flock; a holder whose process is gone no longer counts."""

    STATE = Path("/run/ecs-testbed-forwarding.json")
    LOCK = Path("/run/ecs-testbed-forwarding.lock")

    @classmethod
    def hold(cls, holder: str) -> None:
        with cls._locked() as state:
            if not state["holders"]:
                state["original"] = _sysctl("net.ipv4.ip_forward")
            state["holders"].append(holder)
            _sysctl("net.ipv4.ip_forward", "1")

    @classmethod
    def release(cls, holder: str) -> None:
        with cls._locked() as state:
            state["holders"] = [h for h in state["holders"] if h != holder]
            if not state["holders"] and state.get("original") is not None:
                _sysctl("net.ipv4.ip_forward", state["original"])
                state["original"] = None

    @classmethod
    @contextlib.contextmanager
    def _locked(cls) -> Iterator[dict]:
        with open(cls.LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = json.loads(cls.STATE.read_text()) if cls.STATE.exists() else {}
                alive = [h for h in state.get("holders", []) if Path(f"/proc/{h.split('-')[0]}").exists()]
                state = {"original": state.get("original"), "holders": alive}
                yield state
                cls.STATE.write_text(json.dumps(state))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def require_root() -> None:
    if os.geteuid() != 0:
        raise SandboxError("the test bed's ECS agent needs root (network and mount namespaces, setpriv): "
                           "run the tests as root, as CI does")


def _sysctl(key: str, value: str | None = None, netns: str | None = None) -> str:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    if value is None:
        return run(*prefix, "sysctl", "-n", key).stdout.strip()
    run(*prefix, "sysctl", "-qw", f"{key}={value}")
    return value


def _as_user(spec: "ContainerSpec", workdir: str | None = None) -> list[str]:
    """The prefix that runs a program as the container's user, with exactly its environment
    (and in its working directory): the container's process and its health checks alike."""
    chdir = ["-C", workdir] if workdir else []
    groups = [f"--groups={','.join(map(str, spec.groups))}"] if spec.groups else ["--clear-groups"]
    return ["setpriv", f"--reuid={spec.uid}", f"--regid={spec.gid}", *groups,
            "env", "-i", *chdir, *[f"{k}={v}" for k, v in spec.env.items()]]


@dataclass
class Host:
    """A network namespace with one address, routed from the root namespace."""

    name: str
    address: str
    veth: str

    def create(self) -> None:
        run("ip", "netns", "add", self.name)
        run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.name)
        _sysctl(f"net.ipv4.conf.{self.veth}.route_localnet", "1")
        _sysctl(f"net.ipv4.conf.{self.veth}.proxy_arp", "1")
        run("ip", "link", "set", self.veth, "up")
        run("ip", "route", "add", f"{self.address}/32", "dev", self.veth, "table", "local")
        inside = ("ip", "-n", self.name)
        run(*inside, "link", "set", "lo", "up")
        run(*inside, "link", "set", "eth0", "up")
        _sysctl("net.ipv4.conf.eth0.route_localnet", "1", netns=self.name)
        _sysctl("net.ipv4.conf.eth0.proxy_arp", "1", netns=self.name)
        run(*inside, "addr", "del", "127.0.0.1/8", "dev", "lo")
        run(*inside, "addr", "add", "127.0.0.1/32", "dev", "lo")
        run(*inside, "addr", "add", f"{self.address}/32", "dev", "eth0")
        run(*inside, "route", "add", "default", "dev", "eth0")

    def delete(self) -> None:
        run("ip", "netns", "del", self.name, check=False)
        run("ip", "link", "del", self.veth, check=False)


@dataclass
class Mount:
    source: Path
    target: str
    read_only: bool = False


@dataclass
class ContainerSpec:
    """Everything needed to start one container's process."""

    key: str  # unique per container of the agent (task id + container name)
    netns: str
    argv: list[str]
    env: dict[str, str]
    uid: int
    gid: int
    workdir: str
    programs: dict[str, Path] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    hide_shells: bool = False
    read_only_root: bool = False
    groups: list[int] = field(default_factory=list)  # supplementary groups
    ulimits: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (soft, hard)
    resolv_conf: str = ""  # /etc/resolv.conf in the container, or the host's when empty


class Sandbox:
    """The agent's state on the host: a tmpfs for file systems and volumes, the namespaces it
    made, and its hold on `ip_forward` (let go at cleanup)."""

    def __init__(self) -> None:
        require_root()
        for tool in ("ip", "unshare", "setpriv", "nsenter", "chroot"):
            if not any(Path(d, tool).exists() for d in ("/usr/bin", "/usr/sbin", "/bin", "/sbin")):
                raise SandboxError(f"{tool} is missing: install util-linux, iproute2 and coreutils")
        self.root = Path(tempfile.mkdtemp(prefix="ecs-agent-"))
        run("mount", "-t", "tmpfs", "-o", "mode=0755,size=4g", "ecs-agent", str(self.root))
        self.hosts: list[Host] = []
        self._forwarding_holder = f"{os.getpid()}-{id(self)}"
        Forwarding.hold(self._forwarding_holder)
        self._next_bridge = 0
        self._allocating = threading.Lock()  # tasks start their containers from their own threads

    @staticmethod
    def remove_stale() -> None:
        """Namespaces a crashed earlier run left behind (their process is gone)."""
        listed = run("ip", "netns", "list", check=False).stdout.split()
        for name in listed:
            owner = name.removeprefix(NETNS_PREFIX).split("-", 1)[0]
            if name.startswith(NETNS_PREFIX) and owner.isdigit() and not Path(f"/proc/{owner}").exists():
                run("ip", "netns", "del", name, check=False)

    def host(self, label: str, address: str) -> Host:
        with self._allocating:
            number = next(_HOST_NUMBERS)
            host = Host(name=f"{NETNS_PREFIX}{os.getpid()}-{number}-{label}"[:40], address=address,
                        veth=f"ea{os.getpid() % 100000}x{number}"[:15])
            self.hosts.append(host)
            host.create()
        return host

    def bridge_address(self) -> str:
        """An address for a bridge-mode container's own namespace, in the worker's bridge network:
        outside every VPC the test bed seeds, as Docker's bridge network is outside the VPC."""
        with self._allocating:
            self._next_bridge += 1
            return PLAN.bridge_address(self._next_bridge)

    def volume(self, task_id: str, name: str) -> Path:
        path = self.root / "volumes" / task_id / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def instance_root(self, label: str) -> Path:
        """The root file system of one EC2 container instance: where its host paths live. Its
        `/proc` and `/sys` are the machine's, read-only."""
        root = self.root / "instances" / label
        if root.exists():
            return root
        for part in ("proc", "sys"):
            (root / part).mkdir(parents=True)
            run("mount", "--bind", f"/{part}", str(root / part))
            run("mount", "-o", "remount,bind,ro", str(root / part))
        return root

    @staticmethod
    def host_path(instance_root: Path, source_path: str) -> Path:
        """A `host.sourcePath` on that instance; the Docker daemon creates a missing one
        (root:root 0755)."""
        path = instance_root / source_path.strip("/")
        try:
            path.mkdir(mode=0o755, parents=True, exist_ok=True)
        except OSError as error:
            raise SandboxError(f"host path {source_path} can't be created on the instance: {error}") from error
        return path

    def ebs_volume(self, volume_id: str) -> Path:
        """An EBS volume's data: the same wherever the volume is attached."""
        path = self.root / "ebs" / volume_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def mount_on_instance(self, instance_root: Path, source: Path, mount_point: str) -> None:
        """What an instance's boot script does with an attached EBS volume: mount it."""
        target = self.host_path(instance_root, mount_point)
        run("mount", "--bind", str(source), str(target))

    @staticmethod
    def owned_directory(instance_root: Path, path: str, owner: tuple[int, int], mode: int = 0o750) -> Path:
        """`install -d -o uid -g gid -m mode path` on the instance, as a boot script runs it."""
        directory = Sandbox.host_path(instance_root, path)
        os.chown(directory, *owner)
        directory.chmod(mode)
        return directory

    def logs(self, task_id: str) -> Path:
        path = self.root / "logs" / task_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def rootfs(self, spec: ContainerSpec) -> Path:
        """Upper, work and merged directories of the container's overlay; whiteouts for the
        shells of an image that has none."""
        base = self.root / "containers" / spec.key
        for part in ("upper", "work", "merged"):
            (base / part).mkdir(parents=True, exist_ok=True)
        if spec.resolv_conf:  # as Docker writes it into each container
            (base / "upper/etc").mkdir(parents=True, exist_ok=True)
            resolv = base / "upper/etc/resolv.conf"
            if resolv.is_symlink():
                resolv.unlink()
            resolv.write_text(spec.resolv_conf)
            resolv.chmod(0o644)
        if spec.hide_shells:
            (base / "upper/usr/bin").mkdir(parents=True, exist_ok=True)
            for shell in SHELLS:
                whiteout = base / "upper" / shell.lstrip("/")
                if not whiteout.exists():
                    os.mknod(whiteout, 0o600 | 0o020000, os.makedev(0, 0))
        return base

    def start_script(self, spec: ContainerSpec, base: Path) -> str:
        """The root shell script run in the container's fresh mount namespace: it builds the
        file system, then replaces itself with the container's process as its user."""
        merged = base / "merged"
        q = shlex.quote
        lines = ["set -e",
                 f"mount -t overlay overlay -o lowerdir=/,upperdir={q(str(base / 'upper'))},"
                 f"workdir={q(str(base / 'work'))} {q(str(merged))}",
                 f"mount -t proc proc {q(str(merged / 'proc'))}",
                 f"mount --bind {q(str(merged / 'proc/sys'))} {q(str(merged / 'proc/sys'))}",
                 f"mount -o remount,bind,ro {q(str(merged / 'proc/sys'))}",
                 f"mount --bind /sys {q(str(merged / 'sys'))}",
                 f"mount -o remount,bind,ro {q(str(merged / 'sys'))}",
                 *self._dev_lines(merged / "dev")]
        for path, local in spec.programs.items():
            target = str(merged) + path
            lines += [f"mkdir -p {q(os.path.dirname(target))}", f"[ -e {q(target)} ] || touch {q(target)}",
                      f"mount --bind {q(str(local))} {q(target)}"]
        for mount in spec.mounts:
            target = str(merged) + mount.target
            # --rbind: an instance's `/` brings its /proc, /sys and mounted EBS volumes along.
            lines += [f"mkdir -p {q(target)}", f"mount --rbind {q(str(mount.source))} {q(target)}"]
            if mount.read_only:
                lines.append(f"mount -o remount,bind,ro {q(target)}")
        lines.append(f"mkdir -p {q(str(merged) + spec.workdir)}")
        if spec.read_only_root:  # readonlyRootFilesystem: volumes, /proc, /dev and /sys stay as mounted
            lines.append(f"mount -o remount,bind,ro {q(str(merged))}")
        limits = ["prlimit", *[f"--{name}={soft}:{hard}" for name, (soft, hard) in spec.ulimits.items()], "--"]
        command = ["chroot", str(merged), *(limits if spec.ulimits else []), *_as_user(spec, workdir=spec.workdir),
                   *spec.argv]
        lines.append("exec " + " ".join(q(part) for part in command))
        return "\n".join(lines)

    @staticmethod
    def _dev_lines(dev: Path) -> list[str]:
        """Docker's `/dev` for a container that isn't privileged: a tmpfs with the character
        devices every program may use, a fresh /dev/shm and the /proc/self/fd links."""
        q = shlex.quote
        lines = [f"mount -t tmpfs -o mode=0755,nosuid ecs-dev {q(str(dev))}"]
        for device in DEVICES:
            lines += [f"touch {q(str(dev / device))}", f"mount --bind /dev/{device} {q(str(dev / device))}"]
        lines += [f"mkdir {q(str(dev / 'shm'))} {q(str(dev / 'pts'))}",
                  f"mount -t tmpfs -o mode=1777,nosuid,nodev,size=64m shm {q(str(dev / 'shm'))}",
                  f"ln -s /proc/self/fd {q(str(dev / 'fd'))}"]
        for number, name in enumerate(("stdin", "stdout", "stderr")):
            lines.append(f"ln -s /proc/self/fd/{number} {q(str(dev / name))}")
        return lines

    def spawn(self, spec: ContainerSpec, log: Path) -> subprocess.Popen:
        base = self.rootfs(spec)
        script = self.start_script(spec, base)
        with open(log, "ab") as out:
            return subprocess.Popen(
                ["ip", "netns", "exec", spec.netns, "unshare", "--mount", "--propagation", "private",
                 "sh", "-c", script],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def exec_in(self, pid: int, spec: ContainerSpec, argv: list[str], timeout: float) -> tuple[int, str]:
        """Run `argv` in a running container's view (its mounts, root, network and user), as a
        health check does. Returns (exit code, output); 127 when the program doesn't exist."""
        command = ["nsenter", "-t", str(pid), "-m", "-n", "-r", "-w", *_as_user(spec), *argv]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, f"timed out after {timeout}s"
        return done.returncode, (done.stdout + done.stderr)[-500:]

    def proxy(self, netns: str, listen: str, port: int, target: str, target_port: int, log: Path) -> subprocess.Popen:
        """docker-proxy's part: the instance's hostPort forwarded to the container's port."""
        here = Path(__file__).resolve().parent
        with open(log, "ab") as out:
            return subprocess.Popen(
                ["ip", "netns", "exec", netns, "python3", str(here / "proxy.py"), listen, str(port), target,
                 str(target_port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def cleanup(self) -> None:
        for host in reversed(self.hosts):
            host.delete()
        self.hosts.clear()
        Forwarding.release(self._forwarding_holder)
        run("umount", "-l", str(self.root), check=False)
        try:
            self.root.rmdir()
        except OSError:
            pass
