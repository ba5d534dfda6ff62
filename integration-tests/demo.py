"""`make demo`: the stack on the embedded emulator, with a real Prometheus scraping what it finds.

It seeds a small ECS estate whose addresses are loopback addresses (127.0.0.0/16):
  - cluster `demo` with one EC2 container instance;
  - node-exporter, really running on that instance's address, as a host-mode daemon task marked
    with the docker-label convention (PROMETHEUS_EXPORTER_PORT);
  - ecs-discoverer and config-reloader, whose own /metrics Prometheus scrapes;
  - Prometheus's own config in SSM (`/demo/prometheus/config.yml`), written for it by the
    config-reloader, which reloads Prometheus when the parameter changes;
  - a Cloud Map namespace `demo.local` (listed in `/demo/prometheus/scrape/cloudmap`) where the
    node-exporter is registered too, so it also shows up through the reloader's cloudmap.json;
  - an example app marked with the environment convention (bridge mode, dynamic host port). No
    process listens there, so Prometheus shows it as `down`: that is expected.
Then it prints the URLs and the targets Prometheus sees, and runs until Ctrl-C, which tears
everything down.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import yaml

from harness import ROOT, Emulator, NodeExporter, Prometheus, Service, free_port, wait_until
from seed import Estate, container

DEMO_DIR = ROOT / ".demo"


def prometheus_config(sd_dir: Path, config_dir: Path, discoverer_port: int, reloader_port: int) -> dict:
    return {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "scrape_configs": [
            {"job_name": "cloudmap", "file_sd_configs": [{"files": [str(config_dir / "cloudmap.json")]}]},
            {"job_name": "ecs-file-sd", "file_sd_configs": [{"files": [str(sd_dir / "ecs_file_sd.json")]}]},
            {"job_name": "ecs-http-sd",
             "http_sd_configs": [{"url": f"http://127.0.0.1:{discoverer_port}/prometheus-targets",
                                  "refresh_interval": "5s"}],
             "relabel_configs": [{"target_label": "sd", "replacement": "http"}]},
            # Job names as in the Terraform module's config, which the dashboards and alerts use.
            {"job_name": "ecs-discoverer", "static_configs": [{"targets": [f"127.0.0.1:{discoverer_port}"]}]},
            {"job_name": "config-reloader", "static_configs": [{"targets": [f"127.0.0.1:{reloader_port}"]}]},
        ],
    }


def seed(estate: Estate, node_exporter_port: int) -> str:
    estate.cluster("demo", tags={"env": "demo"})
    instance = estate.container_instance("demo")
    node = estate.task_definition(
        "node-exporter",
        [container("node-exporter", ports=[node_exporter_port],
                   labels={"PROMETHEUS_EXPORTER_PORT": str(node_exporter_port),
                           "PROMETHEUS_EXPORTER_JOB_NAME": "node-exporter"})],
        network_mode="host")
    estate.service("demo", "node-exporter", node, desired_count=1)
    estate.run_tasks("demo", node, service="node-exporter")
    app = estate.task_definition(
        "example-app",
        [container("app", ports=[8080], env={"PROMETHEUS": "true", "PROMETHEUS_ENDPOINT": "30s:/metrics"})])
    estate.service("demo", "example-app", app, desired_count=1)
    estate.run_tasks("demo", app, service="example-app")
    return instance.private_ip


def main() -> int:
    DEMO_DIR.mkdir(exist_ok=True)
    sd_dir = DEMO_DIR / "file_sd"
    sd_dir.mkdir(exist_ok=True)
    config_dir = DEMO_DIR / "config"
    config_dir.mkdir(exist_ok=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))

    started: list = []
    try:
        emulator = Emulator(log_dir=DEMO_DIR)
        started.append(emulator)
        estate = Estate(emulator.endpoint)
        estate.network()
        node_port = free_port()
        instance_ip = seed(estate, node_port)
        namespace = estate.cloudmap_namespace("demo.local")
        estate.cloudmap_instance(estate.cloudmap_service(namespace, "node-exporter"), "node-exporter-1",
                                 {"AWS_INSTANCE_IPV4": instance_ip, "AWS_INSTANCE_PORT": str(node_port)})

        exporter = NodeExporter(host=instance_ip, port=node_port, log_dir=DEMO_DIR)
        started.append(exporter)
        discoverer_port, reloader_port = free_port(), free_port()
        discoverer = Service("ecs-discoverer",
                             ["--listen", f"127.0.0.1:{discoverer_port}", "--interval", "5s",
                              "--output-dir", str(sd_dir), "--clusters", "demo"],
                             env=emulator.env, listen_port=discoverer_port, log_dir=DEMO_DIR)
        started.append(discoverer)
        prometheus_port = free_port()
        config = prometheus_config(sd_dir, config_dir, discoverer_port, reloader_port)
        estate.ssm_parameter("/demo/prometheus/config.yml", yaml.safe_dump(config))
        estate.ssm_parameter("/demo/prometheus/scrape/cloudmap", "demo.local")
        reloader = Service("config-reloader", [],
                           env={**emulator.env, "CONFIG_SOURCE": "ssm",
                                "SOURCE_PROMETHEUS_CONFIG_FILE_PATH": "/demo/prometheus/config.yml",
                                "SOURCE_PROMETHEUS_SCRAPE_CONFIGS_PATH": "/demo/prometheus/scrape",
                                "CONFIG_FILE_DIR": str(config_dir), "CONFIG_FILE_NAME": "prometheus.yml",
                                "CONFIG_RELOAD_FREQUENCY": "5",
                                "PROMETHEUS_RELOAD_URL": f"http://127.0.0.1:{prometheus_port}/-/reload",
                                "RELOADER_LISTEN": f"127.0.0.1:{reloader_port}"},
                           listen_port=reloader_port, log_dir=DEMO_DIR)
        started.append(reloader)
        wait_until(lambda: (config_dir / "prometheus.yml").exists(), 30, "the reloader's first pass")
        prometheus = Prometheus(config_path=config_dir / "prometheus.yml", workdir=DEMO_DIR / "prometheus",
                                port=prometheus_port)
        started.append(prometheus)

        def scraped() -> list[dict]:
            """The stack's own targets and the discovered node-exporter (file_sd, http_sd, Cloud Map) up."""
            targets = prometheus.active_targets()
            wanted = [t for t in targets
                      if t["labels"]["job"] in ("ecs-discoverer", "config-reloader", "node-exporter", "cloudmap")]
            return targets if len(wanted) == 5 and all(t["health"] == "up" for t in wanted) else []

        targets = wait_until(scraped, 60, "Prometheus to scrape the demo targets")
        print("\nECS monitoring stack demo is running.\n")
        print(f"  Prometheus        {prometheus.url}/targets")
        print(f"  ecs-discoverer    http://127.0.0.1:{discoverer_port}/prometheus-targets  (/metrics, /health)")
        print(f"  config-reloader   http://127.0.0.1:{reloader_port}/metrics")
        print(f"  node-exporter     http://{exporter.address}/metrics")
        print(f"  AWS emulator      {emulator.endpoint}  (AWS_ENDPOINT_URL for the aws CLI)")
        print(f"  file_sd output    {sd_dir}")
        print(f"  reloader output   {config_dir}  (from SSM /demo/prometheus/*; change a parameter and"
              f" Prometheus reloads)")
        print("\nDashboards (no Grafana on this machine: import them into a Grafana with a Prometheus")
        print(f"data source at {prometheus.url}; see dashboards/README.md):")
        for dashboard in sorted((ROOT / "dashboards").glob("*.json")):
            print(f"  {dashboard}")
        print(f"  alert rules: {ROOT / 'dashboards' / 'alerts' / 'ecs-monitoring.rules.yml'}\n")
        print("Prometheus targets (/api/v1/targets):")
        for target in sorted(targets, key=lambda t: (t["labels"]["job"], t["scrapePool"])):
            print(f"  {target['health']:<7} job={target['labels']['job']:<14} pool={target['scrapePool']:<12} "
                  f"{target['scrapeUrl']}")
        print("  (example-app is discovered but nothing listens on its dynamic host port: down is expected)")
        print("\nCtrl-C stops the demo and tears everything down.", flush=True)
        while not stopping:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for process in reversed(started):
            process.stop()
        print("demo: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
