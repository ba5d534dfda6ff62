"""`make demo`: the stack on the embedded emulator, with a real Prometheus scraping what it finds.

The stack as deployed (when Terraform and its provider mirror are on the machine):
  - `terraform apply` of terraform/examples/emulator against the embedded emulator;
  - the test bed's ECS agent (integration-tests/ecs_agent) runs every task the stack declares:
    Prometheus with config-init, config-reloader and ecs-discoverer (awsvpc, its own network
    namespace), node-exporter on both container instances, cAdvisor and Grafana (reported, not
    run: no local program), plus three example apps, one per target convention;
  - the stack's own Prometheus, started by the agent from the stack's task definition with the
    stack's config from SSM, scrapes everything.
It prints the URLs and the targets with their health, and runs until Ctrl-C, which tears
everything down. Without Terraform or the mirror it says so in one line and runs the seeded
demo below instead.

The seeded demo seeds a small ECS estate whose addresses are loopback addresses (127.0.0.0/16):
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

import shutil
import signal
import sys
import time
from pathlib import Path

import requests
import yaml

from testbed.harness import ROOT, Emulator, NodeExporter, Prometheus, Service, describe_split, free_port, wait_until
from testbed.seed import Estate, container
from testbed.terraform_stack import AppliedStack, StackDown, missing, not_run_here, stack_alertmanagers, stack_prometheus

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


def deployed_demo(stopping: list[bool]) -> int:
    """The stack as deployed: Terraform, the ECS agent, the stack's own Prometheus."""
    from testbed.ecs_agent import Agent  # needs root: network and mount namespaces

    agent = None
    emulator = Emulator(log_dir=DEMO_DIR)
    try:
        print("demo: terraform apply of terraform/examples/emulator (about a minute)", flush=True)
        shutil.rmtree(DEMO_DIR / "terraform", ignore_errors=True)  # state of an earlier demo's emulator
        stack = AppliedStack(emulator, DEMO_DIR / "terraform").apply()
        instance_ips = stack.boot_instances()
        stack.add_example_apps()
        agent = Agent(emulator.endpoint, Estate.of(emulator).client, emulator.env, stop_grace=5)
        agent.run_in_background()
        print("demo: the ECS agent is running the stack's tasks", flush=True)

        try:
            _, url = stack_prometheus(agent)
            eni = url.removeprefix("http://").split(":")[0]

            def all_listed() -> list[dict]:
                targets = requests.get(f"{url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
                scraped = [t for t in targets if t["health"] != "unknown"]
                jobs = {t["labels"].get("job") for t in targets}
                return targets if len(scraped) == len(targets) and "node-exporter" in jobs else []

            targets = wait_until(all_listed, 120, "Prometheus to scrape every target once", interval=2)
        except (StackDown, TimeoutError) as error:
            print(f"\ndemo: the stack did not come up: {str(error).splitlines()[0]}\n\nWhat the ECS agent saw:")
            for failure in agent.failures()[:6]:
                print(f"  {failure['task']}/{failure['container']}: {failure['reason']} "
                      f"({failure['taskStoppedReason']})\n    {failure['log'].strip()[-300:]}")
            return 1
        replicas = stack.output()["prometheus_replicas"]
        print("\nECS monitoring stack demo: the Terraform stack, run by the test bed's ECS agent.\n")
        for index, replica in enumerate(replicas):
            _, replica_url = stack_prometheus(agent, replica=index)
            print(f"  Prometheus        {replica_url}/targets   (replica {replica['name']}, "
                  f"{replica['availability_zone']}, TSDB on {replica['volume_id']})")
        print(f"  ecs-discoverer    http://{eni}:9001/prometheus-targets  (/metrics, /health)")
        print(f"  config-reloader   http://{eni}:9533/metrics")
        for alertmanager in sorted(t.eni for t in stack_alertmanagers(agent)):
            print(f"  Alertmanager      http://{alertmanager}:9093/#/status   (one gossip cluster, peers by "
                  f"the Cloud Map name)")
        for ip in instance_ips:
            print(f"  node-exporter     http://{ip}:9100/metrics   (container instance {ip})")
        print_emulators(emulator)
        print(f"  not run here      {', '.join(agent.not_run())}")
        if agent.not_modelled():
            print(f"  not modelled      {', '.join(agent.not_modelled())}")
        print("\nDashboards: import dashboards/*.json into a Grafana with a Prometheus data source at the URL"
              " above (see dashboards/README.md).\n")
        print("Prometheus targets (/api/v1/targets):")
        for target in sorted(targets, key=lambda t: (t["labels"].get("job", ""), t["scrapeUrl"])):
            labels = target["labels"]
            print(f"  {target['health']:<7} job={labels.get('job', ''):<16} {target['scrapeUrl']}"
                  + ("   (its image is not run here)" if not_run_here(target) else ""))
        print("\nCtrl-C stops the demo and tears everything down.", flush=True)
        while not stopping:
            time.sleep(1)
        return 0
    finally:
        if agent is not None:
            agent.stop()
        emulator.stop()


def print_emulators(emulator: Emulator) -> None:
    split = describe_split(emulator.localstack is not None)
    print(f"  AWS emulator      {emulator.endpoint}  (moto: {split['moto']})")
    if emulator.localstack is not None:
        print(f"  AWS emulator      {emulator.localstack.endpoint}  (LocalStack: {split['LocalStack']})")
    print("  for the aws CLI:  " + " ".join(f"{k}={v}" for k, v in emulator.endpoints.env.items()))


def main() -> int:
    DEMO_DIR.mkdir(exist_ok=True)
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    reason = missing()
    if reason is None:
        try:
            return deployed_demo(stopping)
        except KeyboardInterrupt:
            return 0
        finally:
            print("demo: stopped")
    print(f"demo: {reason}; running the seeded demo instead of the Terraform stack")
    return seeded_demo(stopping)


def seeded_demo(stopping: list[bool]) -> int:
    sd_dir = DEMO_DIR / "file_sd"
    sd_dir.mkdir(exist_ok=True)
    config_dir = DEMO_DIR / "config"
    config_dir.mkdir(exist_ok=True)

    started: list = []
    try:
        emulator = Emulator(log_dir=DEMO_DIR)
        started.append(emulator)
        estate = Estate.of(emulator)
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
        print_emulators(emulator)
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
