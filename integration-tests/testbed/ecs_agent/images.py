"""The image table: each image the stack uses, as the test bed's ECS agent runs it.

A row says what the published image carries (default `USER`, `ENTRYPOINT`, `CMD`, `VOLUME`
paths and their owners, whether it has a shell, its `/etc/passwd` names) and which local files
stand in for the image's programs. Every row cites the Dockerfile it was read from; for the
project's own images (`services/*/Dockerfile`, the example app's) the row *is* read from the
Dockerfile at run time, so a change there changes what the agent runs.

An image with no local program (Grafana, cAdvisor, the CloudWatch and statsd exporters) has a
row with `program=None`: the agent reports it by name and does not run it.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[3]
AGENT_DIR = Path(__file__).resolve().parent

# The /etc/passwd and /etc/group names of the base images the rows use (uid, gid).
DISTROLESS_USERS = {"root": (0, 0), "nonroot": (65532, 65532), "nobody": (65534, 65534)}
BUSYBOX_USERS = {"root": (0, 0), "nobody": (65534, 65534), "nogroup": (65534, 65534)}
DEBIAN_USERS = {"root": (0, 0), "nobody": (65534, 65534), "nogroup": (65534, 65534)}


class ImageError(RuntimeError):
    """An image's row is wrong or its user can't be resolved; the message names the image."""


@dataclass(frozen=True)
class Image:
    """What a container of this image starts as, and where its programs come from locally."""

    name: str
    source: str  # the Dockerfile this row was read from (a path in this repository or a URL)
    user: str = "root"
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir: str = "/"
    # VOLUME paths and the (uid, gid) that owns them in the image.
    volumes: dict[str, tuple[int, int]] = field(default_factory=dict)
    has_shell: bool = True
    users: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(BUSYBOX_USERS))
    env: dict[str, str] = field(default_factory=dict)
    # Image path -> local file bound there. None: there is no local program; not run.
    program: dict[str, Path] | None = None
    # (listen flag, advertise flag) of a gossip listener that, listening on all addresses with
    # no address to advertise, advertises the host's private address: Alertmanager's memberlist,
    # through go-sockaddr's GetPrivateIP. On AWS that is the ENI's (awsvpc), the instance's
    # (host) or the container's bridge address (bridge). The test bed's addresses are loopback,
    # which GetPrivateIP skips, so the agent passes the address it would have found.
    gossip_flags: tuple[str, str] | None = None

    @property
    def runnable(self) -> bool:
        return self.program is not None

    def with_private_address(self, argv: list[str], address: str) -> list[str]:
        """`argv` with the advertise flag a gossip listener on all addresses would have found
        (see `gossip_flags`); unchanged for any other image or command."""
        if self.gossip_flags is None:
            return argv
        listen, advertise = self.gossip_flags
        given = [arg.split("=", 1)[1] for arg in argv if arg.startswith(f"{listen}=")]
        if not given or any(arg == advertise or arg.startswith(f"{advertise}=") for arg in argv):
            return argv
        host, _, port = given[-1].rpartition(":")
        if not port or host not in ("", "0.0.0.0"):  # no listener, or one bound to an address of its own
            return argv
        return [*argv, f"{advertise}={address}:{port}"]

    def resolve_user(self, user: str | None) -> tuple[int, int]:
        """(uid, gid) of a container definition's `user`, or the image's default user. Names are
        looked up in the image's own /etc/passwd, as Docker does."""
        spec = user or self.user
        name, _, group = spec.partition(":")
        uid, gid = self._id(name, spec)
        if group:
            gid = self._id(group, spec)[1]
        return uid, gid

    def _id(self, name: str, spec: str) -> tuple[int, int]:
        if name.isdigit():
            return int(name), int(name)
        if name in self.users:
            return self.users[name]
        raise ImageError(f"image {self.name}: user {spec!r} is not in the image's /etc/passwd "
                         f"({', '.join(sorted(self.users))}); use a numeric uid or one of those names")


def _json_or_shell(value: str) -> tuple[str, ...]:
    value = value.strip()
    if value.startswith("["):
        return tuple(json.loads(value))
    return ("/bin/sh", "-c", value)


def read_dockerfile(path: Path) -> dict[str, object]:
    """The final stage of a Dockerfile: FROM, USER, ENTRYPOINT, CMD, VOLUME, WORKDIR, ENV, and
    the owner (`--chown`) of each COPY destination, as CHOWN."""
    stage: dict[str, object] = {}
    lines = path.read_text().replace("\\\n", " ").splitlines()
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage = {"FROM": rest.split()[0]}
        elif keyword in ("ENTRYPOINT", "CMD"):
            stage[keyword] = _json_or_shell(rest)
        elif keyword == "VOLUME":
            rest = rest.strip()
            stage.setdefault("VOLUME", [])
            stage["VOLUME"] += json.loads(rest) if rest.startswith("[") else rest.split()  # type: ignore[operator]
        elif keyword == "COPY":
            words = rest.split()
            owner = next((w.split("=", 1)[1] for w in words if w.startswith("--chown=")), None)
            if owner:
                chowned = dict(stage.get("CHOWN", {}))  # type: ignore[arg-type]
                chowned[words[-1].rstrip("/")] = owner
                stage["CHOWN"] = chowned
        elif keyword == "USER":
            stage["USER"] = rest.strip()
        elif keyword == "WORKDIR":
            stage["WORKDIR"] = rest.strip()
        elif keyword == "ENV":
            env = dict(stage.get("ENV", {}))  # type: ignore[arg-type]
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
            stage["ENV"] = env
    return stage


def _base(from_image: str) -> tuple[bool, dict[str, tuple[int, int]]]:
    """(has_shell, users) of the base images the project's Dockerfiles use."""
    if from_image.startswith("gcr.io/distroless/"):
        return (":debug" in from_image), dict(DISTROLESS_USERS)
    if "busybox" in from_image:
        return True, dict(BUSYBOX_USERS)
    if from_image.startswith(("debian", "python")):
        return True, dict(DEBIAN_USERS)
    raise ImageError(f"base image {from_image} is not known to the agent's image table "
                     f"(integration-tests/testbed/ecs_agent/images.py, _base): add its shell and users")


def from_dockerfile(name: str, dockerfile: Path, program: dict[str, Path]) -> Image:
    """A row of one of the project's own images, read from its Dockerfile."""
    stage = read_dockerfile(dockerfile)
    if "FROM" not in stage:
        raise ImageError(f"{dockerfile}: no FROM line")
    has_shell, users = _base(str(stage["FROM"]))
    user = str(stage.get("USER", "root"))
    chowned: dict[str, str] = dict(stage.get("CHOWN", {}))  # type: ignore[arg-type]
    owners = Image(name=name, source="", users=users)
    # A VOLUME path is owned by root unless a COPY --chown made it.
    volumes = {path: owners.resolve_user(chowned[path]) if path in chowned else (0, 0)
               for path in stage.get("VOLUME", [])}  # type: ignore[union-attr]
    return Image(name=name, source=str(dockerfile.relative_to(ROOT)), user=user,
                 entrypoint=tuple(stage.get("ENTRYPOINT", ())),  # type: ignore[arg-type]
                 cmd=tuple(stage.get("CMD", ())),  # type: ignore[arg-type]
                 workdir=str(stage.get("WORKDIR", "/")), volumes=volumes, has_shell=has_shell,
                 users=users, env=dict(stage.get("ENV", {})), program=program)  # type: ignore[arg-type]


def _service_binary(name: str) -> Path:
    from testbed.harness import StartError, service_binary  # the one dev-profile build of tests and demo

    try:
        return service_binary(name)
    except StartError as error:
        raise ImageError(str(error)) from error


def _debian(path: str, package: str) -> Path:
    found = Path(path)
    if not found.exists():
        raise ImageError(f"{path} is missing: run `make deps` (Debian package {package})")
    return found


# Images by repository name (registry and tag stripped). Functions, so a missing binary is
# reported when an image of that kind is run, not when the table is read.
def _ecs_discoverer() -> Image:
    return from_dockerfile("ecs-discoverer", ROOT / "services/ecs-discoverer/Dockerfile",
                           {"/usr/local/bin/ecs-discoverer": _service_binary("ecs-discoverer")})


def _config_reloader() -> Image:
    return from_dockerfile("config-reloader", ROOT / "services/config-reloader/Dockerfile",
                           {"/usr/local/bin/config-reloader": _service_binary("config-reloader")})


def _example_app() -> Image:
    return from_dockerfile("example-app", AGENT_DIR / "example-app.Dockerfile",
                           {"/app/example_app.py": AGENT_DIR / "example_app.py"})


def _prometheus() -> Image:
    # https://github.com/prometheus/prometheus/blob/v2.53.2/Dockerfile: busybox base, /prometheus
    # chowned to nobody, USER nobody, VOLUME /prometheus, WORKDIR /prometheus.
    return Image(name="prometheus", source="https://github.com/prometheus/prometheus/blob/v2.53.2/Dockerfile",
                 user="nobody", entrypoint=("/bin/prometheus",),
                 cmd=("--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
                      "--web.console.libraries=/usr/share/prometheus/console_libraries",
                      "--web.console.templates=/usr/share/prometheus/consoles"),
                 workdir="/prometheus", volumes={"/prometheus": (65534, 65534)},
                 program={"/bin/prometheus": _debian("/usr/bin/prometheus", "prometheus"),
                          "/bin/promtool": _debian("/usr/bin/promtool", "prometheus")})


def _node_exporter() -> Image:
    # https://github.com/prometheus/node_exporter/blob/v1.8.2/Dockerfile: busybox base, USER nobody.
    return Image(name="node-exporter", source="https://github.com/prometheus/node_exporter/blob/v1.8.2/Dockerfile",
                 user="nobody", entrypoint=("/bin/node_exporter",),
                 program={"/bin/node_exporter": _debian("/usr/bin/prometheus-node-exporter",
                                                         "prometheus-node-exporter")})


def _alertmanager() -> Image:
    # https://github.com/prometheus/alertmanager/blob/v0.27.0/Dockerfile: busybox base,
    # /alertmanager chowned to nobody, USER nobody, VOLUME /alertmanager, WORKDIR /alertmanager.
    return Image(name="alertmanager", source="https://github.com/prometheus/alertmanager/blob/v0.27.0/Dockerfile",
                 user="nobody", entrypoint=("/bin/alertmanager",),
                 cmd=("--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"),
                 workdir="/alertmanager", volumes={"/alertmanager": (65534, 65534)},
                 gossip_flags=("--cluster.listen-address", "--cluster.advertise-address"),
                 program={"/bin/alertmanager": _debian("/usr/bin/prometheus-alertmanager",
                                                        "prometheus-alertmanager")})


def _busybox() -> Image:
    # https://github.com/docker-library/busybox/blob/master/latest/glibc/Dockerfile: FROM scratch,
    # the busybox tree, CMD ["sh"], root. Its programs are the host's shell tools.
    return Image(name="busybox", source="https://github.com/docker-library/busybox/blob/master/latest/glibc/Dockerfile",
                 cmd=("sh",), program={})


def _not_run(name: str, source: str, user: str = "root") -> Callable[[], Image]:
    return lambda: Image(name=name, source=source, user=user, program=None)


TABLE: dict[str, Callable[[], Image]] = {
    "ecs-discoverer": _ecs_discoverer,
    "config-reloader": _config_reloader,
    "example-app": _example_app,
    "prometheus/prometheus": _prometheus,
    "prom/prometheus": _prometheus,
    "prometheus/node-exporter": _node_exporter,
    "prom/node-exporter": _node_exporter,
    "prometheus/alertmanager": _alertmanager,
    "prom/alertmanager": _alertmanager,
    "busybox": _busybox,
    "docker/library/busybox": _busybox,
    # No local program on this machine: reported by name, not run.
    "grafana/grafana-oss": _not_run("grafana", "https://github.com/grafana/grafana/blob/v11.2.0/Dockerfile",
                                    user="472"),
    "grafana/grafana": _not_run("grafana", "https://github.com/grafana/grafana/blob/v11.2.0/Dockerfile",
                                user="472"),
    "cadvisor/cadvisor": _not_run("cadvisor", "https://github.com/google/cadvisor/blob/v0.49.1/deploy/Dockerfile"),
    "prometheus/cloudwatch-exporter": _not_run(
        "cloudwatch-exporter", "https://github.com/prometheus/cloudwatch_exporter/blob/v0.16.0/Dockerfile",
        user="65534"),
    "prometheus/statsd-exporter": _not_run(
        "statsd-exporter", "https://github.com/prometheus/statsd_exporter/blob/v0.27.1/Dockerfile",
        user="nobody"),
}


def repository(image: str) -> str:
    """`quay.io/prometheus/prometheus:v2.53.2` -> `prometheus/prometheus`; an ECR image of ours
    (`<account>.dkr.ecr.<region>.amazonaws.com/ecs-discoverer:0.1.0`) -> `ecs-discoverer`."""
    without_tag = re.sub(r"(@sha256:[0-9a-f]+|:[^/:]+)$", "", image)
    parts = without_tag.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # the registry host
    return "/".join(parts)


def lookup(image: str) -> Image:
    """The row of `image`; an image not in the table is an error that names it."""
    name = repository(image)
    for key in (name, name.split("/", 1)[-1]):
        if key in TABLE:
            return TABLE[key]()
    raise ImageError(f"image {image} is not in the test bed's image table "
                     f"(integration-tests/testbed/ecs_agent/images.py, TABLE): add a row with its Dockerfile's "
                     f"USER, ENTRYPOINT, CMD and VOLUME, and a local program (or none)")
