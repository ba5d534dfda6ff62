"""Both services when AWS misbehaves or clients do (issues 15 and 18): an endpoint that accepts
and never answers, a client that sends half a request, a total outage, an unknown cluster for
`explain`, no region. Each runs the real binary; each failed before its fix."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from testbed.seed import Estate
from testbed.harness import Emulator, ManagedProcess, Service, free_port, http_ok, metric_sum, service_binary, wait_until


class BlackHole:
    """A TCP endpoint that accepts connections and never answers."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.server.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


def env_for(endpoint: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "PATH": "/usr/bin:/bin"}


def stop_within(process: subprocess.Popen, seconds: float) -> tuple[int, float]:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=seconds + 10)
    finally:
        if process.poll() is None:
            process.kill()
    return code, time.monotonic() - started


def test_sigterm_mid_cycle_against_a_black_hole_exits_zero_within_5s(black_hole: BlackHole) -> None:
    process = subprocess.Popen([str(service_binary("ecs-discoverer")), "--clusters", "c1", "--listen", "off",
                                "--api-timeout", "5m"],
                               env=env_for(black_hole.url), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_until(lambda: black_hole.held, 10, "the discoverer to call the endpoint")
    code, took = stop_within(process, 5)
    assert code == 0 and took < 5, (code, took, process.stdout.read().decode()[-2000:] if process.stdout else "")


def test_once_against_a_black_hole_fails_within_its_api_timeout(black_hole: BlackHole) -> None:
    started = time.monotonic()
    done = subprocess.run([str(service_binary("ecs-discoverer")), "--once", "--clusters", "c1", "--listen", "off",
                           "--api-timeout", "2s"],
                          env=env_for(black_hole.url), capture_output=True, text=True, timeout=60)
    took = time.monotonic() - started
    assert done.returncode != 0 and took < 15, (done.returncode, took, done.stderr[-2000:])
    assert "c1" in done.stderr and "discovery failed" in done.stderr, done.stderr[-2000:]


def test_a_client_sending_half_a_request_does_not_hold_sigterm(emulator: Emulator, tmp_path: Path) -> None:
    port = free_port()
    discoverer = Service("ecs-discoverer", ["--listen", f"127.0.0.1:{port}", "--clusters", "nope"],
                         env=emulator.env, listen_port=port, log_dir=tmp_path)
    half = socket.create_connection(("127.0.0.1", port))
    try:
        half.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # no blank line: the request never ends
        time.sleep(0.5)
        code, took = stop_within(discoverer.process.proc, 5)
    finally:
        half.close()
    assert code == 0 and took < 5, (code, took, discoverer.process.log()[-2000:])


def test_300_idle_connections_under_256_file_handles_leave_discovery_working(emulator: Emulator,
                                                                            tmp_path: Path) -> None:
    """A flood of idle clients against a process with ECS's common file-handle limit: before the
    connection bound, each one took a file handle, and the AWS calls then failed with `Too many
    open files`."""
    Estate.of(emulator).ecs.create_cluster(clusterName="fd-limit")
    port = free_port()
    process = ManagedProcess("ecs-discoverer", [
        "prlimit", "--nofile=256:256", "--", str(service_binary("ecs-discoverer")),
        "--listen", f"127.0.0.1:{port}", "--clusters", "fd-limit", "--interval", "1s"],
        env=emulator.env, log_dir=tmp_path)
    process.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/health"), timeout=30)
    idle = []
    try:
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(6)
    finally:
        for connection in idle:
            connection.close()
    def metrics_text() -> str:
        answer = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        answer.raise_for_status()
        return answer.text

    metrics = wait_until(metrics_text, 30, "/metrics")
    try:
        assert metric_sum(metrics, "ecs_sd_cycles_total", result="failure") == 0, process.log()
        assert metric_sum(metrics, "ecs_sd_cycles_total", result="success") >= 5, metrics
        assert "Too many open files" not in process.log(100_000), process.log()
    finally:
        process.stop()


def test_a_total_outage_counts_failure_and_freezes_the_success_timestamp(emulator: Emulator, tmp_path: Path) -> None:
    """Every call refused (an unknown cluster stands in for access denied: the same non-retryable
    client error on every cluster call)."""
    port = free_port()
    discoverer = Service("ecs-discoverer", ["--listen", f"127.0.0.1:{port}", "--clusters", "nope,gone",
                                            "--interval", "1s"],
                         env=emulator.env, listen_port=port, log_dir=tmp_path)
    try:
        def failed_twice() -> str | None:
            text = discoverer.metrics()
            return text if metric_sum(text, "ecs_sd_cycles_total", result="failure") >= 2 else None

        metrics = wait_until(failed_twice, 30, "two failed cycles")
        assert metric_sum(metrics, "ecs_sd_cycles_total", result="partial") == 0, metrics
        assert metric_sum(metrics, "ecs_sd_cycles_total", result="success") == 0, metrics
        assert metric_sum(metrics, "ecs_sd_last_success_timestamp_seconds") == 0, metrics
    finally:
        discoverer.stop()


def test_explain_exits_non_zero_when_no_cluster_refreshed(emulator: Emulator) -> None:
    done = subprocess.run([str(service_binary("ecs-discoverer")), "explain", "--clusters", "nope"],
                          env={**emulator.env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, done.stdout + done.stderr
    assert "nope" in done.stderr, done.stderr


@pytest.mark.parametrize("binary,args", [("ecs-discoverer", ["--once", "--listen", "off", "--clusters", "c1"]),
                                         ("config-reloader", [])])
def test_no_region_is_refused_with_the_variable_to_set(binary: str, args: list[str], tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
           "CONFIG_SOURCE": "ssm", "SOURCE_PROMETHEUS_CONFIG_FILE_PATH": "/p/config.yml",
           "CONFIG_FILE_DIR": str(tmp_path), "CONFIG_RELOAD_FREQUENCY": "0", "RELOADER_LISTEN": "off"}
    done = subprocess.run([str(service_binary(binary)), *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "AWS_REGION" in done.stderr, done.stderr[-2000:]


def test_reloader_once_mode_stops_on_sigterm_while_a_call_hangs(black_hole: BlackHole, tmp_path: Path) -> None:
    env = {**env_for(black_hole.url), "CONFIG_SOURCE": "ssm", "SOURCE_PROMETHEUS_CONFIG_FILE_PATH": "/p/config.yml",
           "CONFIG_FILE_DIR": str(tmp_path), "CONFIG_RELOAD_FREQUENCY": "0", "RELOADER_LISTEN": "off"}
    process = subprocess.Popen([str(service_binary("config-reloader"))], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_until(lambda: black_hole.held, 10, "the reloader to call the endpoint")
    code, took = stop_within(process, 5)
    assert code == 0 and took < 5, (code, took, process.stdout.read().decode()[-2000:] if process.stdout else "")
    assert not list(tmp_path.iterdir()), "nothing may be written by an interrupted pass"
