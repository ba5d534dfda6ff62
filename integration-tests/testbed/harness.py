"""Processes of the test bed: the AWS emulator, Prometheus, node-exporter and the project's binaries.

Each runs on a free loopback port, is bounded in time, and is torn down by `stop()` (which the
pytest fixtures and the demo always call, also when a test fails). `ManagedProcess` is also a
context manager, and a finalizer kills the process if its owner forgot.

By default two emulators run side by side, each serving what it emulates best (issue 17):
LocalStack for LOCALSTACK_SERVICES, and moto with the fidelity layer for everything else
(MOTO_SERVICES), which must stay together because they reference one another. Every process gets the split as the SDKs'
per-service endpoint variables (`AWS_ENDPOINT_URL_<SERVICE>`), Terraform as its provider's
`endpoints`. `EMULATORS=moto` runs everything on moto, for a machine where LocalStack can't be
installed; the run's summary then says so.

Set `AWS_ENDPOINT_URL` to use an external emulator (a LocalStack Pro or moto container, say)
instead of starting the embedded ones; the harness then only resets it between tests.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

import requests
import yaml

# The embedded emulators' address (network.py): outside every VPC the test bed seeds, so the ECS
# agent's task namespaces reach it through their veth as they would reach AWS's endpoints, and
# test processes in the root namespace reach it on `lo`.
from testbed.network import EMULATOR_HOST

ROOT = Path(__file__).resolve().parents[2]
# integration-tests/: on the PYTHONPATH of the test bed's own processes (the emulators), which
# import the `testbed` package.
TESTS_DIR = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
ACCOUNT = "123456789012"

# Credentials for the emulators. The metadata endpoint is disabled so that no SDK ever reaches
# for 169.254.169.254: every network call of the test bed stays on loopback. The access key is
# the account ID because LocalStack takes a 12-digit key as the caller's account (anything else
# is account 000000000000), and moto's account is 123456789012 whatever the key: so ARNs made by
# either emulator name the same account, as they would in one AWS account.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": ACCOUNT,
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


class Routed(NamedTuple):
    """A service LocalStack serves: its name for a reader, the suffix of the SDKs' per-service
    endpoint variable (AWS_ENDPOINT_URL_<SUFFIX>, the service ID in capitals), and the Terraform
    provider's `endpoints` key."""

    name: str
    env_suffix: str
    terraform_key: str


# The one place that decides the split: what LocalStack serves when it runs beside moto, by
# boto3 name; moto serves everything else, MOTO_SERVICES by name.
LOCALSTACK_SERVICES = {
    "ssm": Routed("SSM", "SSM", "ssm"),
    "s3": Routed("S3", "S3", "s3"),
    "iam": Routed("IAM", "IAM", "iam"),
    "sts": Routed("STS", "STS", "sts"),
    "kms": Routed("KMS", "KMS", "kms"),
    "secretsmanager": Routed("Secrets Manager", "SECRETS_MANAGER", "secretsmanager"),
    "logs": Routed("CloudWatch Logs", "CLOUDWATCH_LOGS", "cloudwatchlogs"),
}
# EventBridge and SQS stay on moto: its ECS (fidelity patch P16) publishes task state changes to
# its own EventBridge in-process, so the rule and the queue must live beside it.
MOTO_SERVICES = ("ECS", "EC2", "Cloud Map", "Auto Scaling", "AMP", "EventBridge", "SQS")


def describe_split(localstack: bool) -> dict[str, str]:
    """Which emulator serves what, by emulator, for a reader (the run's header, the demo)."""
    if not localstack:
        return {"moto": ", ".join(MOTO_SERVICES + tuple(s.name for s in LOCALSTACK_SERVICES.values()))}
    return {"moto": ", ".join(MOTO_SERVICES), "LocalStack": ", ".join(s.name for s in LOCALSTACK_SERVICES.values())}


LOCALSTACK_PYTHON = ROOT / ".tools" / "localstack" / "bin" / "python"


def localstack_wanted() -> bool:
    """LocalStack runs beside moto unless `EMULATORS=moto` says not to."""
    choice = os.environ.get("EMULATORS", "moto,localstack").replace(" ", "")
    if choice not in ("moto", "moto,localstack", "localstack,moto"):
        raise StartError(f"EMULATORS={choice!r}: give 'moto,localstack' (the default) or 'moto' (moto alone)")
    return "localstack" in choice


@dataclass(frozen=True)
class Endpoints:
    """Where each AWS service is served: `moto` for all, except LOCALSTACK_SERVICES at
    `localstack` when one runs."""

    moto: str
    localstack: str | None = None

    def of(self, service: str) -> str:
        return self.localstack if self.localstack and service in LOCALSTACK_SERVICES else self.moto

    @property
    def env(self) -> dict[str, str]:
        env = {"AWS_ENDPOINT_URL": self.moto}
        if self.localstack:
            env.update({f"AWS_ENDPOINT_URL_{suffix}": self.localstack
                        for _, suffix, _ in LOCALSTACK_SERVICES.values()})
        return env

    @property
    def terraform(self) -> dict[str, str]:
        """The Terraform provider's endpoints LocalStack serves (the rest default to moto)."""
        if not self.localstack:
            return {}
        return {route.terraform_key: self.localstack for route in LOCALSTACK_SERVICES.values()}


class StartError(RuntimeError):
    """A process of the test bed did not come up; the message carries its log tail."""


def free_port_on(*hosts: str) -> int:
    """A port free on every one of `hosts`."""
    for _ in range(100):
        port = free_port(hosts[0])
        try:
            for host in hosts[1:]:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind((host, port))
        except OSError:
            continue
        return port
    raise StartError(f"no port free on all of {hosts}")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy; raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - polling: any failure means "not yet"
            last_error = error
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


def metric_samples(text: str, name: str) -> Iterator[tuple[dict[str, str], float]]:
    """(labels, value) of every sample of metric `name` in a Prometheus text exposition."""
    for match in re.finditer(rf"^{name}(?:\{{([^}}]*)\}})? (\S+)$", text, re.MULTILINE):
        yield dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or "")), float(match.group(2))


def prometheus_api(url: str, path: str, **params: Any) -> Any:
    """The data of a Prometheus HTTP API answer (`<url>/api/v1/<path>`)."""
    answer = requests.get(f"{url}/api/v1/{path}", params=params, timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(v for found, v in metric_samples(text, name) if all(found.get(k) == w for k, w in labels.items()))


def metric_by(text: str, name: str, label: str) -> dict[str, float]:
    """The samples of `name` summed by the value of `label`."""
    out: dict[str, float] = {}
    for found, value in metric_samples(text, name):
        out[found.get(label, "")] = out.get(found.get(label, ""), 0) + value
    return out


def metrics_after_next_cycle(read_metrics: Callable[[], str], timeout: float = 30) -> str:
    """ecs-discoverer's /metrics, read just after its next cycle ends (in the pause before the one
    after), so no cycle's API calls are half counted."""
    start = metric_sum(read_metrics(), "ecs_sd_cycles_total")

    def next_cycle() -> str | None:
        text = read_metrics()
        return text if metric_sum(text, "ecs_sd_cycles_total") > start else None

    return wait_until(next_cycle, timeout, "the next discovery cycle", interval=0.05)


def http_ok(url: str) -> bool:
    return requests.get(url, timeout=2).status_code == 200


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


class ManagedProcess:
    """A child process with a log file, stopped with SIGTERM (then SIGKILL) at teardown."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None,
                 cwd: Path | None = None, log_dir: Path | None = None):
        self.name = name
        self.argv = argv
        log_dir = log_dir or Path(tempfile.mkdtemp(prefix=f"{name}-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        full_env = {**os.environ, **(env or {})}
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=full_env, cwd=cwd, start_new_session=True)
        self._finalizer = weakref.finalize(self, _kill, self.proc)

    def log(self, tail: int = 4000) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_bytes()[-tail:].decode(errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, check: Callable[[], Any], timeout: float = 30) -> None:
        def ready() -> Any:
            if not self.running():
                raise StartError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            return check()
        try:
            wait_until(ready, timeout, f"{self.name} to be ready")
        except TimeoutError as error:
            self.stop()
            raise StartError(f"{error}\n--- {self.name} log ---\n{self.log()}") from error
        except StartError:
            self.stop()
            raise

    def signal(self, sig: int) -> None:
        if self.running():
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, wait, then SIGKILL. Returns the exit code."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> "ManagedProcess":
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()


class LocalStack:
    """LocalStack's community runtime as a local process on `EMULATOR_HOST` (no Docker, no account
    token), from its own venv (`make deps` installs it in .tools/localstack).

    It has no state-reset API, so `reset()` restarts it on the same port, and only when it has
    answered an AWS request since it started: most tests never touch it."""

    def __init__(self, log_dir: Path | None = None):
        if not LOCALSTACK_PYTHON.exists():
            raise StartError(f"{LOCALSTACK_PYTHON} is missing: run `make deps` (or EMULATORS=moto to run "
                             "everything on moto)")
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="localstack-"))
        self.port = free_port_on(EMULATOR_HOST, "127.0.0.1")
        self.endpoint = f"http://{EMULATOR_HOST}:{self.port}"
        self.process: ManagedProcess | None = None
        self.starts = 0
        self.start()

    def start(self) -> None:
        self.starts += 1
        self.state = state = Path(tempfile.mkdtemp(prefix="localstack-state-"))
        self.process = ManagedProcess("localstack", [str(LOCALSTACK_PYTHON), "-m", "testbed.emulator.localstack_py311"], env={
            "PYTHONPATH": str(TESTS_DIR),
            # On the host, not in the container it assumes; on loopback, off port 53, quiet, and
            # with no certificate download or analytics: the test bed reaches no network.
            "OVERRIDE_IN_DOCKER": "0", "GATEWAY_SERVER": "hypercorn",
            # Also on 127.0.0.1: its services call one another at localhost:<port> (SSM calls KMS).
            "GATEWAY_LISTEN": f"{EMULATOR_HOST}:{self.port},127.0.0.1:{self.port}", "DNS_ADDRESS": "0",
            "DISABLE_EVENTS": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1", "FILESYSTEM_ROOT": str(state), "TMPDIR": str(state),
        }, log_dir=self.log_dir / f"run-{self.starts}")
        self.process.wait_ready(lambda: http_ok(f"{self.endpoint}/_localstack/health"), timeout=60)

    def used(self) -> bool:
        """Whether it answered an AWS request since it started (it logs one line per request)."""
        return self.process is not None and "localstack.request.aws" in self.process.log(tail=10**9)

    def reset(self) -> None:
        if self.used():
            self.kill()  # its state is thrown away: no graceful shutdown to wait for
            self.start()

    def running(self) -> bool:
        return self.process is not None and self.process.running()

    def kill(self) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGKILL: its state is thrown away, so a graceful shutdown (up to the 10 s of
        ManagedProcess.stop once it has served requests) buys nothing."""
        if self.process is not None:
            self.process.proc.kill()
            self.process.stop()
            shutil.rmtree(self.state, ignore_errors=True)


class Emulator:
    """moto's server with the fidelity layer and, unless `EMULATORS=moto`, LocalStack beside it
    (see the module's docstring); or an external endpoint from AWS_ENDPOINT_URL for everything."""

    def __init__(self, log_dir: Path | None = None, endpoint: str | None = None,
                 embedded: bool = False, extra_env: dict[str, str] | None = None,
                 localstack: bool | None = None):
        """`embedded=True` always starts the embedded emulator (a test that kills it needs one).
        `localstack=None` follows `EMULATORS`."""
        self.process: ManagedProcess | None = None
        self.localstack: LocalStack | None = None
        self.log_dir = log_dir
        self.extra_env = extra_env or {}
        external = None if embedded else endpoint or os.environ.get("AWS_ENDPOINT_URL")
        if external:
            self.endpoint = external.rstrip("/")
            self.external = True
            self.reset()
        else:
            self.port = free_port(EMULATOR_HOST)
            self.endpoint = f"http://{EMULATOR_HOST}:{self.port}"
            self.external = False
            if localstack_wanted() if localstack is None else localstack:
                self.localstack = LocalStack(log_dir=(log_dir or Path(tempfile.mkdtemp())) / "localstack")
            self.start()

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(self.endpoint, self.localstack.endpoint if self.localstack else None)

    def start(self) -> None:
        """Start the embedded emulators on their ports (again, after `kill`: with no resources)."""
        if self.localstack is not None and not self.localstack.running():
            self.localstack.start()
        self.process = ManagedProcess(
            "emulator",
            [sys.executable, "-m", "testbed.emulator.server", "--host", EMULATOR_HOST, "--port", str(self.port)],
            # AWS managed IAM policies exist, so Terraform can attach them (e.g. the ECS
            # instance role's AmazonEC2ContainerServiceforEC2Role).
            env={**AWS_ENV, "PYTHONPATH": str(TESTS_DIR), "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
                 **self.extra_env},
            cwd=TESTS_DIR, log_dir=self.log_dir,
        )
        self.process.wait_ready(lambda: http_ok(f"{self.endpoint}/moto-api/"), timeout=60)
        self.reset()

    def kill(self) -> None:
        """SIGKILL the embedded emulators, as a crash or a network cut would leave AWS."""
        if self.process is not None:
            self.process.proc.kill()
            self.process.stop()
        if self.localstack is not None:
            self.localstack.kill()

    @property
    def env(self) -> dict[str, str]:
        """Environment for a process that should talk to the emulators."""
        return {**AWS_ENV, **self.endpoints.env}

    def reset(self) -> None:
        """Forget every resource, then re-apply the documented workaround for moto's state
        machine: a task would otherwise advance towards STOPPED on every DescribeTasks."""
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=30).raise_for_status()
        requests.post(
            f"{self.endpoint}/moto-api/state-manager/set-transition",
            json={"model_name": "ecs::task",
                  "transition": {"progression": "manual", "times": 1_000_000_000}},
            timeout=10,
        ).raise_for_status()
        if self.localstack is not None:
            self.localstack.reset()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self.localstack is not None:
            self.localstack.stop()


def find_binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if found:
            return found
    return None


class Prometheus:
    """A real Prometheus on a free loopback port, with --web.enable-lifecycle."""

    def __init__(self, config: dict[str, Any] | None = None, config_path: Path | None = None,
                 workdir: Path | None = None, retention: str = "1h", port: int | None = None):
        binary = find_binary("prometheus")
        if binary is None:
            raise StartError("prometheus is not installed: run `make deps` (Debian package prometheus)")
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="prometheus-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = config_path or self.workdir / "prometheus.yml"
        if config is not None:
            self.config_path.write_text(yaml.safe_dump(config))
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = ManagedProcess(
            "prometheus",
            [binary, f"--config.file={self.config_path}",
             f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--storage.tsdb.retention.time={retention}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             "--web.enable-lifecycle", "--log.level=info"],
            log_dir=self.workdir,
        )
        self.process.wait_ready(lambda: http_ok(f"{self.url}/-/ready"), timeout=60)

    def api(self, path: str, **params: Any) -> Any:
        return prometheus_api(self.url, path, **params)

    def active_targets(self) -> list[dict[str, Any]]:
        return self.api("targets", state="active")["activeTargets"]

    def loaded_config(self) -> str:
        return self.api("status/config")["yaml"]

    def reload(self) -> None:
        requests.post(f"{self.url}/-/reload", timeout=10).raise_for_status()

    def stop(self) -> None:
        self.process.stop()


class NodeExporter:
    """prometheus-node-exporter on a loopback address of the seeded estate (see network.py)."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, log_dir: Path | None = None):
        binary = find_binary("prometheus-node-exporter", "node_exporter")
        if binary is None:
            raise StartError("prometheus-node-exporter is not installed: run `make deps`")
        self.port = port or free_port(host)
        self.address = f"{host}:{self.port}"
        self.process = ManagedProcess(
            "node-exporter",
            [binary, f"--web.listen-address={self.address}",
             "--collector.disable-defaults", "--collector.cpu", "--collector.meminfo",
             "--collector.filesystem", "--collector.loadavg", "--collector.netdev"],
            log_dir=log_dir,
        )
        self.process.wait_ready(lambda: http_ok(f"http://{self.address}/metrics"), timeout=30)

    def stop(self) -> None:
        self.process.stop()


def cargo_target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def service_binary(name: str) -> Path:
    """The project's binary, built by `make build` (the one dev profile for tests and demo)."""
    path = cargo_target_dir() / "debug" / name
    if not path.exists():
        raise StartError(f"{path} is missing: run `make build` first")
    return path


class Service:
    """One of the project's binaries, run against the emulator."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], listen_port: int | None,
                 log_dir: Path | None = None, wait_health: bool = True):
        self.port = listen_port
        self.url = f"http://127.0.0.1:{listen_port}" if listen_port else None
        self.process = ManagedProcess(name, [str(service_binary(name)), *args], env=env, log_dir=log_dir)
        if wait_health and self.url:
            self.process.wait_ready(lambda: http_ok(f"{self.url}/health"), timeout=30)

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.url}{path}", timeout=10)

    def metrics(self) -> str:
        return self.get("/metrics").text

    def stop(self, timeout: float = 10) -> int | None:
        return self.process.stop(timeout=timeout)
