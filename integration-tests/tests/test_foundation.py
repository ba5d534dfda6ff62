"""The foundation: both binaries start against the emulator, serve /health and /metrics, stop on
SIGTERM with exit 0, refuse bad configuration, and a real Prometheus scrapes them and node-exporter."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from testbed.harness import Emulator, NodeExporter, Service, free_port, service_binary, wait_until


def discoverer(emulator: Emulator, tmp_path: Path, *args: str) -> Service:
    port = free_port()
    return Service("ecs-discoverer", ["--listen", f"127.0.0.1:{port}", *args],
                   env=emulator.env, listen_port=port, log_dir=tmp_path)


def reloader(emulator: Emulator, tmp_path: Path) -> Service:
    port = free_port()
    env = {**emulator.env, "CONFIG_SOURCE": "ssm", "SOURCE_PROMETHEUS_CONFIG_FILE_PATH": "/prometheus/main",
           "CONFIG_FILE_DIR": str(tmp_path / "config"), "RELOADER_LISTEN": f"127.0.0.1:{port}"}
    (tmp_path / "config").mkdir(exist_ok=True)
    return Service("config-reloader", [], env=env, listen_port=port, log_dir=tmp_path)


def test_binaries_serve_health_and_metrics_and_stop_on_sigterm(emulator: Emulator, tmp_path: Path) -> None:
    for service, prefix in ((discoverer(emulator, tmp_path), "ecs_sd"), (reloader(emulator, tmp_path), "config_reloader")):
        try:
            assert service.get("/health").status_code == 200
            metrics = service.get("/metrics")
            assert metrics.status_code == 200
            assert f'{prefix}_build_info{{version="0.1.0"}} 1' in metrics.text
        finally:
            started = time.monotonic()
            code = service.stop(timeout=10)
        assert code == 0, service.process.log()
        assert time.monotonic() - started < 5, "SIGTERM took too long"


def test_sigterm_with_the_server_off_still_exits_zero(emulator: Emulator, tmp_path: Path) -> None:
    process = subprocess.Popen([str(service_binary("ecs-discoverer")), "--listen", "off"],
                               env={**emulator.env, "PATH": "/usr/bin:/bin"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def run_and_fail(binary: str, args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([str(service_binary(binary)), *args], env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode != 0
    return done.stderr


def test_bad_configuration_is_refused_with_the_fix(emulator: Emulator) -> None:
    base = {**emulator.env, "PATH": "/usr/bin:/bin"}
    err = run_and_fail("config-reloader", [], {**base, "CONFIG_SOURCE": "foo",
                                               "SOURCE_PROMETHEUS_CONFIG_FILE_PATH": "/p"})
    assert "'foo'" in err and "ssm" in err and "s3" in err
    err = run_and_fail("config-reloader", [], {**base, "CONFIG_SOURCE": "ssm",
                                               "SOURCE_PROMETHEUS_CONFIG_FILE_PATH": "s3://b/k"})
    assert "CONFIG_SOURCE=s3" in err
    err = run_and_fail("config-reloader", [], {**base, "CONFIG_SOURCE": "ssm",
                                               "SOURCE_PROMETHEUS_CONFIG_FILE_PATH": "/p",
                                               "CONFIG_RELOAD_FREQUENCY": "-1"})
    assert "'-1'" in err and ">= 0" in err
    err = run_and_fail("ecs-discoverer", ["--interval", "never"], base)
    assert "'never'" in err and "30s" in err


def test_prometheus_scrapes_the_services_and_node_exporter(emulator: Emulator, tmp_path: Path,
                                                             node_exporter: NodeExporter,
                                                             prometheus_factory) -> None:
    services = [discoverer(emulator, tmp_path), reloader(emulator, tmp_path)]
    try:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": "stack", "static_configs": [{"targets": [f"127.0.0.1:{s.port}" for s in services]}]},
                {"job_name": "node", "static_configs": [{"targets": [node_exporter.address]}]},
            ],
        }
        prometheus = prometheus_factory(config=config)

        def all_up() -> list[dict]:
            targets = prometheus.active_targets()
            return targets if len(targets) == 3 and all(t["health"] == "up" for t in targets) else []

        targets = wait_until(all_up, 30, "Prometheus to scrape 3 targets as up")
        assert {t["labels"]["job"] for t in targets} == {"stack", "node"}
        build = prometheus.api("query", query="ecs_sd_build_info")["result"]
        assert build and build[0]["value"][1] == "1"
    finally:
        for service in services:
            service.stop()
