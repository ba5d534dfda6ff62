"""config-reloader against the emulator and a real Prometheus: the two example deployments of the
original sidecar (SSM Prometheus server, S3 one-pass exporter config), and its faults."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import yaml

from testbed.harness import Emulator, Prometheus, Service, free_port, metric_sum, service_binary, wait_until
from testbed.seed import Estate
from testbed.network import PLAN

# Cloud Map instances of the test's own, in the worker's VPC.
WEB_1, WEB_2, GRAFANA_1 = PLAN.address(16, 21), PLAN.address(16, 22), PLAN.address(32, 23)


def prometheus_config(config_dir: Path, *extra_jobs: str) -> str:
    jobs = [{"job_name": "cloudmap", "file_sd_configs": [
        {"files": [str(config_dir / "cloudmap.json")], "refresh_interval": "5s"}]}]
    jobs += [{"job_name": name, "static_configs": [{"targets": ["127.0.0.1:1"]}]} for name in extra_jobs]
    return yaml.safe_dump({"global": {"scrape_interval": "1m", "scrape_timeout": "5s"},
                           "scrape_configs": jobs})


def start_reloader(emulator: Emulator, config_dir: Path, env: dict[str, str], frequency: int = 1) -> Service:
    port = free_port()
    return Service("config-reloader", [], env={
        **emulator.env, "CONFIG_FILE_DIR": str(config_dir), "CONFIG_RELOAD_FREQUENCY": str(frequency),
        "RELOADER_LISTEN": f"127.0.0.1:{port}", **env}, listen_port=port, log_dir=config_dir.parent)


def ssm_env(reload_port: int) -> dict[str, str]:
    return {"CONFIG_SOURCE": "ssm", "SOURCE_PROMETHEUS_CONFIG_FILE_PATH": "/prometheus/config.yml",
            "SOURCE_PROMETHEUS_SCRAPE_CONFIGS_PATH": "/prometheus/scrape",
            "CONFIG_FILE_NAME": "prometheus.yml",
            "PROMETHEUS_RELOAD_URL": f"http://127.0.0.1:{reload_port}/-/reload"}


def test_ssm_example_config_changes_and_cloudmap_reach_prometheus(estate: Estate, emulator: Emulator,
                                                                   tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    estate.ssm_parameter("/prometheus/config.yml", prometheus_config(config_dir))
    estate.ssm_parameter("/prometheus/scrape/cloudmap", "apps.local,tools.local")
    addresses = {}
    for namespace, service, instance, ip in [("apps.local", "web", "web-1", WEB_1),
                                             ("apps.local", "web", "web-2", WEB_2),
                                             ("tools.local", "grafana", "grafana-1", GRAFANA_1)]:
        ns = estate.cloudmap_namespace(namespace) if namespace not in addresses else addresses[namespace]
        addresses[namespace] = ns
        service_id = addresses.get((namespace, service)) or estate.cloudmap_service(ns, service)
        addresses[(namespace, service)] = service_id
        estate.cloudmap_instance(service_id, instance, {"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "9100"})

    prometheus_port = free_port()
    reloader = start_reloader(emulator, config_dir, ssm_env(prometheus_port))
    prometheus = None
    try:
        wait_until(lambda: (config_dir / "prometheus.yml").exists(), 15, "the first pass")
        prometheus = Prometheus(config_path=config_dir / "prometheus.yml", workdir=tmp_path / "prometheus",
                                port=prometheus_port)
        expected = {f"{WEB_1}:9100", f"{WEB_2}:9100", f"{GRAFANA_1}:9100"}

        def cloudmap_targets() -> set[str]:
            return {t["discoveredLabels"]["__address__"] for t in prometheus.active_targets()
                    if t["labels"]["job"] == "cloudmap"}

        wait_until(lambda: cloudmap_targets() == expected, 30, "the Cloud Map targets in Prometheus")
        web = next(t for t in prometheus.active_targets()
                   if t["discoveredLabels"]["__address__"] == f"{WEB_1}:9100")
        assert web["discoveredLabels"]["__meta_cloudmap_namespace_name"] == "apps.local"
        assert web["discoveredLabels"]["__meta_cloudmap_service_name"] == "web"

        # A new scrape job through SSM reaches Prometheus within a cycle plus the reload.
        changed_at = time.monotonic()
        estate.ssm_parameter("/prometheus/config.yml", prometheus_config(config_dir, "added"))
        wait_until(lambda: "job_name: added" in prometheus.loaded_config(), 15, "the new job in Prometheus")
        latency = time.monotonic() - changed_at
        print(f"reload latency (SSM change -> Prometheus config): {latency:.2f}s")
        assert metric_sum(reloader.metrics(), "config_reloader_reloads_total", result="success") >= 1

        # A deregistered instance leaves within one cycle.
        estate.client("servicediscovery").deregister_instance(ServiceId=addresses[("apps.local", "web")],
                                                               InstanceId="web-2")
        wait_until(lambda: WEB_2 not in (config_dir / "cloudmap.json").read_text(), 5,
                   "the deregistered instance to leave cloudmap.json")
        wait_until(lambda: cloudmap_targets() == expected - {f"{WEB_2}:9100"}, 30,
                   "Prometheus to drop the deregistered instance")
    finally:
        if prometheus is not None:
            prometheus.stop()
        assert reloader.stop() == 0


class ReloadReceiver:
    """Stands in for Prometheus's reload endpoint: answers 200 and counts the POSTs."""

    def __init__(self) -> None:
        receiver = self
        self.posts = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                receiver.posts += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_invalid_yaml_keeps_the_old_file_and_sends_no_reload(estate: Estate, emulator: Emulator,
                                                             tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    good = prometheus_config(config_dir)
    estate.ssm_parameter("/prometheus/config.yml", good)
    receiver = ReloadReceiver()
    reloader = start_reloader(emulator, config_dir, ssm_env(receiver.port))
    try:
        target = config_dir / "prometheus.yml"
        wait_until(lambda: target.exists(), 15, "the first pass")
        wait_until(lambda: receiver.posts == 1, 10, "the first reload")
        estate.ssm_parameter("/prometheus/config.yml", "scrape_configs: [\n  - job_name: broken\n")
        wait_until(lambda: metric_sum(reloader.metrics(), "config_reloader_file_writes_total", result="invalid") >= 1,
                   10, "the invalid config to be counted")
        assert target.read_text() == good
        time.sleep(2)  # two more passes (CONFIG_RELOAD_FREQUENCY=1) that find it still invalid
        assert receiver.posts == 1, f"{receiver.posts - 1} reload(s) sent for an invalid config"
        assert "broken" not in reloader.process.log(tail=100_000)  # the content is never logged
        fixed = prometheus_config(config_dir, "fixed")
        estate.ssm_parameter("/prometheus/config.yml", fixed)
        wait_until(lambda: target.read_text() == fixed, 10, "the next valid config")
        wait_until(lambda: receiver.posts == 2, 10, "the reload for the fixed config")
    finally:
        receiver.close()
        assert reloader.stop() == 0


def test_reload_is_retried_until_prometheus_comes_back(estate: Estate, emulator: Emulator, tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    estate.ssm_parameter("/prometheus/config.yml", prometheus_config(config_dir))
    prometheus_port = free_port()
    reloader = start_reloader(emulator, config_dir, ssm_env(prometheus_port))
    prometheus = None
    try:
        wait_until(lambda: metric_sum(reloader.metrics(), "config_reloader_reloads_total", result="failure") >= 2,
                   20, "failed reloads while Prometheus is down")
        assert metric_sum(reloader.metrics(), "config_reloader_reloads_total", result="success") == 0
        prometheus = Prometheus(config_path=config_dir / "prometheus.yml", workdir=tmp_path / "prometheus",
                                port=prometheus_port)
        wait_until(lambda: metric_sum(reloader.metrics(), "config_reloader_reloads_total", result="success") >= 1,
                   40, "the reload once Prometheus is back")
    finally:
        if prometheus is not None:
            prometheus.stop()
        assert reloader.stop() == 0


def test_sigterm_ends_the_reloader_while_prometheus_never_answers_its_reload(estate: Estate, emulator: Emulator,
                                                                              tmp_path: Path) -> None:
    """A Prometheus that takes the reload's connection and never answers (a hung process) must
    not hold SIGTERM up: config-reloader exits 0 within the 5 s the contract gives, though its
    request timeout is 10 s."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    estate.ssm_parameter("/prometheus/config.yml", prometheus_config(config_dir))
    silent = socket.create_server(("127.0.0.1", 0))
    taken: list[socket.socket] = []

    def take() -> None:
        while True:
            try:
                taken.append(silent.accept()[0])
            except OSError:
                return

    threading.Thread(target=take, daemon=True).start()
    reloader = start_reloader(emulator, config_dir, ssm_env(silent.getsockname()[1]))
    try:
        wait_until(lambda: taken, 20, "the reload's connection to the silent endpoint")
        time.sleep(0.5)  # the POST is sent and waits for an answer
        started = time.monotonic()
        code = reloader.stop(timeout=5)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
        for connection in taken:
            connection.close()
    assert code == 0 and elapsed < 5, f"exit {code} after {elapsed:.1f}s"


def run_once(emulator: Emulator, config_dir: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(service_binary("config-reloader"))], capture_output=True, text=True, timeout=60,
                          env={**emulator.env, "PATH": "/usr/bin:/bin", "CONFIG_FILE_DIR": str(config_dir),
                               "CONFIG_RELOAD_FREQUENCY": "0", "RELOADER_LISTEN": "off", **env})


def test_s3_one_pass_writes_the_exporter_config_or_names_the_missing_key(estate: Estate, emulator: Emulator,
                                                                         tmp_path: Path) -> None:
    exporter_config = "region: us-east-1\nmetrics:\n  - aws_namespace: AWS/ELB\n    aws_metric_name: RequestCount\n"
    estate.s3_object("monitoring", "cloudwatch/config.yml", exporter_config)
    done = run_once(emulator, tmp_path, CONFIG_SOURCE="s3",
                    SOURCE_PROMETHEUS_CONFIG_FILE_PATH="s3://monitoring/cloudwatch/config.yml")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "config.yml").read_text() == exporter_config

    (tmp_path / "second").mkdir()
    missing = run_once(emulator, tmp_path / "second", CONFIG_SOURCE="s3",
                       SOURCE_PROMETHEUS_CONFIG_FILE_PATH="s3://monitoring/cloudwatch/missing.yml")
    assert missing.returncode != 0
    assert "s3://monitoring/cloudwatch/missing.yml" in missing.stderr


def test_s3_traversal_keys_are_refused(estate: Estate, emulator: Emulator, tmp_path: Path) -> None:
    estate.s3_object("monitoring", "prometheus.yml", "global: {}\n")
    estate.s3_object("monitoring", "scrape/jobs.json", "[]\n")
    estate.s3_object("monitoring", "scrape/../../etc/passwd", "root::0:0:root:/root:/bin/sh\n")
    config_dir = tmp_path / "deep" / "config"
    config_dir.mkdir(parents=True)
    done = run_once(emulator, config_dir, CONFIG_SOURCE="s3",
                    SOURCE_PROMETHEUS_CONFIG_FILE_PATH="s3://monitoring/prometheus.yml",
                    SOURCE_PROMETHEUS_SCRAPE_CONFIGS_PATH="s3://monitoring/scrape/")
    assert done.returncode != 0
    assert "scrape/../../etc/passwd" in done.stderr
    assert sorted(p.name for p in config_dir.iterdir()) == ["config.yml", "jobs.json"]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "deep", "deep/config", "deep/config/config.yml", "deep/config/jobs.json"]


def test_odd_s3_keys_and_an_oversized_object_are_refused_one_by_one(estate: Estate, emulator: Emulator,
                                                                     tmp_path: Path) -> None:
    """Issue 18, items 2 and 3: a key XML can't carry (NUL, ESC) is refused alone instead of failing
    the listing; a console folder object is no error; an object over the cap is refused by name and
    the others are still written."""
    estate.s3_object("monitoring", "prometheus.yml", "global: {}\n")
    estate.s3_object("monitoring", "scrape/ok.yml", "- targets: ['a:1']\n")
    estate.s3_object("monitoring", "scrape/with space+plus.yml", "- targets: ['b:1']\n")
    estate.s3_object("monitoring", "scrape/nul\x00.yml", "- targets: ['c:1']\n")
    estate.s3_object("monitoring", "scrape/esc\x1b[2J.yml", "- targets: ['d:1']\n")
    estate.s3_object("monitoring", "scrape/team/", b"")
    estate.s3_object("monitoring", "scrape/huge.yml", "# padding\n" * 500)
    done = run_once(emulator, tmp_path, CONFIG_SOURCE="s3", CONFIG_MAX_OBJECT_BYTES="2048",
                    SOURCE_PROMETHEUS_CONFIG_FILE_PATH="s3://monitoring/prometheus.yml",
                    SOURCE_PROMETHEUS_SCRAPE_CONFIGS_PATH="s3://monitoring/scrape/")
    assert done.returncode != 0, "refused keys make the pass fail, so once-mode says so"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yml", "ok.yml", "with space+plus.yml"]
    errors = done.stderr
    assert "s3://monitoring/scrape/nul\\0.yml" in errors or "nul\\u{0}.yml" in errors, errors
    assert "esc\\u{1b}[2J.yml" in errors and "\x1b" not in errors, errors
    assert "s3://monitoring/scrape/huge.yml" in errors and "2048" in errors, errors
    assert "CONFIG_MAX_OBJECT_BYTES" in errors, errors
    failed = errors[errors.index("the pass failed:"):]
    assert "team/" not in failed, "a folder object is skipped, not an error"
    assert "folder marker" in errors and "s3://monitoring/scrape/team/" in errors, "...and noted"
    assert "XML" not in errors and "ListObjectsV2" not in errors, errors


def test_a_secure_string_never_reaches_the_logs(estate: Estate, emulator: Emulator, tmp_path: Path) -> None:
    secret = "s3cr3t-" + "x" * 24
    estate.ssm_parameter("/prometheus/config.yml", f"global: {{}}\nremote_write:\n  - url: http://r\n    "
                                                   f"basic_auth: {{username: u, password: {secret}}}\n",
                         kind="SecureString")
    estate.ssm_parameter("/prometheus/scrape/token", secret, kind="SecureString")
    done = run_once(emulator, tmp_path, CONFIG_SOURCE="ssm", RUST_LOG="trace",
                    SOURCE_PROMETHEUS_CONFIG_FILE_PATH="/prometheus/config.yml",
                    SOURCE_PROMETHEUS_SCRAPE_CONFIGS_PATH="/prometheus/scrape")
    assert done.returncode == 0, done.stderr[-3000:]
    assert secret in (tmp_path / "config.yml").read_text()  # decrypted on disk
    assert (tmp_path / "token").read_text() == secret
    assert len(done.stderr) > 10_000, "trace logging was on"
    assert secret not in done.stderr and secret not in done.stdout


def test_a_dead_endpoint_keeps_the_files_then_recovers(tmp_path: Path) -> None:
    own = Emulator(log_dir=tmp_path / "emulator", embedded=True)
    reloader = None
    try:
        estate = Estate.of(own)
        estate.ssm_parameter("/prometheus/config.yml", "global: {}\n")
        estate.ssm_parameter("/prometheus/scrape/jobs.json", "[]\n")
        config_dir = tmp_path / "config"
        config_dir.mkdir()
        reloader = start_reloader(own, config_dir, {**ssm_env(free_port()), "PROMETHEUS_RELOAD_URL": ""})
        wait_until(lambda: (config_dir / "jobs.json").exists(), 15, "the first pass")
        before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in config_dir.iterdir()}
        own.kill()
        wait_until(lambda: metric_sum(reloader.metrics(), "config_reloader_fetches_total", result="error") >= 2,
                   90, "failed fetches")
        assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in config_dir.iterdir()} == before
        own.start()
        estate = Estate.of(own)
        estate.ssm_parameter("/prometheus/config.yml", "global: {scrape_interval: 15s}\n")
        wait_until(lambda: "15s" in (config_dir / "prometheus.yml").read_text(), 60, "recovery")
    finally:
        if reloader is not None:
            assert reloader.stop() == 0
        own.stop()


def test_ssm_one_pass_reads_an_advanced_parameter_or_names_the_missing_one(estate: Estate, emulator: Emulator,
                                                                           tmp_path: Path) -> None:
    big = "scrape_configs:\n" + "".join(f"  - job_name: job-{i:04d}\n" for i in range(400))
    assert len(big) > 4096
    estate.ssm_parameter("/prometheus/big.yml", big, tier="Advanced")
    done = run_once(emulator, tmp_path, CONFIG_SOURCE="ssm", SOURCE_PROMETHEUS_CONFIG_FILE_PATH="/prometheus/big.yml")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "config.yml").read_text() == big

    missing = run_once(emulator, tmp_path, CONFIG_SOURCE="ssm", SOURCE_PROMETHEUS_CONFIG_FILE_PATH="/prometheus/nope")
    assert missing.returncode != 0 and "'/prometheus/nope'" in missing.stderr
    assert (tmp_path / "config.yml").read_text() == big, "the old file stays"


def test_a_config_prometheus_refuses_is_rolled_back_and_a_restart_still_works(
        estate: Estate, emulator: Emulator, tmp_path: Path) -> None:
    """Valid YAML that Prometheus refuses: the reload gets 500, the last accepted file comes back
    and is reloaded, the refused one is kept as prometheus.yml.rejected, and a Prometheus restart
    starts on the restored file. The refused content is not written again until SSM changes."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    good = prometheus_config(config_dir, "accepted")
    estate.ssm_parameter("/prometheus/config.yml", good)
    prometheus_port = free_port()
    init = run_once(emulator, config_dir, **ssm_env(prometheus_port))  # config-init
    assert init.returncode == 0, init.stderr
    prometheus = Prometheus(config_path=config_dir / "prometheus.yml", workdir=tmp_path / "prometheus",
                            port=prometheus_port)
    reloader = start_reloader(emulator, config_dir, ssm_env(prometheus_port))
    try:
        refused = "scrape_configs: [{job_name: x, bogus_field: 1}]\n"
        estate.ssm_parameter("/prometheus/config.yml", refused)
        wait_until(lambda: metric_sum(reloader.metrics(), "config_reloader_rollbacks_total") >= 1, 20,
                   "the rollback of the refused config")
        assert (config_dir / "prometheus.yml").read_text() == good
        assert (config_dir / "prometheus.yml.rejected").read_text() == refused
        successful = lambda: requests.get(f"{prometheus.url}/metrics", timeout=5).text  # noqa: E731
        wait_until(lambda: "prometheus_config_last_reload_successful 1" in successful(), 20,
                   "Prometheus to reload the restored config")
        assert "job_name: accepted" in prometheus.loaded_config()
        log = reloader.process.log(tail=100_000)
        assert "bogus_field" in log, log[-3000:]  # Prometheus's own error text, not just "500"
        # The refused content stays out while the source is unchanged: no second rollback.
        time.sleep(3)
        assert metric_sum(reloader.metrics(), "config_reloader_rollbacks_total") == 1
        assert (config_dir / "prometheus.yml").read_text() == good
        # A restart meets a config it can start with.
        prometheus.stop()
        prometheus = Prometheus(config_path=config_dir / "prometheus.yml", workdir=tmp_path / "prometheus",
                                port=prometheus_port)
        assert "job_name: accepted" in prometheus.loaded_config()
        # A fixed source is written and loaded again.
        estate.ssm_parameter("/prometheus/config.yml", prometheus_config(config_dir, "fixed"))
        wait_until(lambda: "job_name: fixed" in prometheus.loaded_config(), 20, "the fixed config in Prometheus")
    finally:
        prometheus.stop()
        assert reloader.stop() == 0
