"""`make bench`: ecs-discoverer against prometheus-ecs-discoverer (PromED 3.3.4), side by side on
the same emulator estates, in one run.

For N = 100, 1,000 and 5,000 running tasks (several clusters, services and task-definition
revisions; bridge with dynamic ports, host, awsvpc on EC2 and Fargate; every container marked
with PROMETHEUS_TARGET=true) it measures, for each tool:
  - AWS API calls by operation for the cold and the warm cycle, from moto's request recorder
    (a cycle starts at its ListClusters call);
  - the CPU time of the tool's own threads (/proc) per cycle, from the line it logs once its AWS
    clients are built (start-up is reported on its own), its peak RSS (VmHWM), and wall time,
    which mostly measures the emulator;
  - the target addresses found, compared between the tools.
Beside them: the lower bound computed from the estate, and, derived from its source (not
measured), what Prometheus's own `aws_sd_configs` role `ecs` calls per refresh.
Then: odd task shapes (robustness), http_sd under load with wrk, the rate-limit compliance
test, and config-reloader's peak memory over a large config (bench_reloader.py). Results go to benches/results/latest.md and latest.png, and are printed.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace, field
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs

import requests

from testbed.harness import ROOT, Emulator, cargo_target_dir, free_port, metric_sum, metrics_after_next_cycle, wait_until
from testbed.seed import Estate, container
from benches.bench_reloader import reloader_binary, reloader_memory, report as reloader_report

RESULTS = Path(__file__).resolve().parent / "results"
PROMED_PYTHON = ROOT / ".tools" / "promed" / "bin" / "python"
CLUSTERS = 3
TICKS = os.sysconf("SC_CLK_TCK")
WARM_CYCLES = 5
# Each tool runs this many times per estate; the report takes the median of each figure, since
# one cold cycle is a single sample and the machine's noise is about 10%.
RUNS = 3


def machine_description() -> str:
    """The CPUs and memory a report's figures were measured on."""
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} CPUs ({cpu}), {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB"


def ours_binary() -> Path:
    path = Path(os.environ.get("BENCH_DISCOVERER", cargo_target_dir() / "release" / "ecs-discoverer"))
    if not path.exists():
        sys.exit(f"{path} is missing: `make bench` builds it (cargo build --release -p ecs-discoverer)")
    return path


# --- the estate ------------------------------------------------------------------------------


@dataclass
class EstateShape:
    tasks_per_cluster: dict[str, int] = field(default_factory=dict)
    services_per_cluster: dict[str, int] = field(default_factory=dict)
    instances_per_cluster: dict[str, int] = field(default_factory=dict)
    definitions: set[str] = field(default_factory=set)
    services_with_tasks: dict[str, int] = field(default_factory=dict)  # "cluster/service" -> tasks

    @property
    def tasks(self) -> int:
        return sum(self.tasks_per_cluster.values())


def marked(name: str, ports: list[int], **kwargs) -> dict:
    return container(name, ports=ports, env={"PROMETHEUS_TARGET": "true"}, memory=4, **kwargs)


def run_many(estate: Estate, shape: EstateShape, cluster: str, definition: str, count: int, *,
             service: str | None = None, **kwargs) -> None:
    while count > 0:
        batch = min(10, count)
        estate.run_tasks(cluster, definition, batch, service=service, **kwargs)
        count -= batch
        shape.tasks_per_cluster[cluster] = shape.tasks_per_cluster.get(cluster, 0) + batch
        if service:
            key = f"{cluster}/{service}"
            shape.services_with_tasks[key] = shape.services_with_tasks.get(key, 0) + batch


def build_estate(estate: Estate, n: int) -> EstateShape:
    """N running tasks over CLUSTERS clusters: host daemons on every instance, a quarter awsvpc
    (mostly Fargate), the rest bridge with dynamic ports; several revisions per family."""
    shape = EstateShape()
    per_cluster = n // CLUSTERS
    for c in range(CLUSTERS):
        cluster = f"bench-{c}"
        estate.cluster(cluster)
        instances = max(2, math.ceil(per_cluster / 80))
        for i in range(instances):
            estate.container_instance(cluster, subnet_index=i % 2)
        shape.instances_per_cluster[cluster] = instances
        web = [estate.task_definition("web", [marked("web", [8080])]) for _ in range(3)]
        worker = [estate.task_definition("worker", [marked("worker", [9090])]) for _ in range(2)]
        node = estate.task_definition("node", [marked("node", [9100])], network_mode="host")
        api = [estate.task_definition("api", [marked("api", [8000])], network_mode="awsvpc", fargate=True)
               for _ in range(2)]
        batch = estate.task_definition("batch", [marked("batch", [7000])], network_mode="awsvpc")
        shape.definitions |= {*web, *worker, node, *api, batch}
        for name, definition in [("web", web[-1]), ("worker", worker[-1]), ("node", node), ("api", api[-1])]:
            estate.service(cluster, name, definition, network=name == "api")
        shape.services_per_cluster[cluster] = 4

        host = instances  # one node task per instance
        awsvpc = per_cluster // 4
        fargate = awsvpc - awsvpc // 5
        bridge = per_cluster - host - awsvpc
        run_many(estate, shape, cluster, node, host, service="node")
        run_many(estate, shape, cluster, api[0], fargate // 2, service="api", fargate=True)
        run_many(estate, shape, cluster, api[1], fargate - fargate // 2, service="api", fargate=True, subnet_index=1)
        run_many(estate, shape, cluster, batch, awsvpc - fargate, awsvpc=True)  # standalone
        for index, definition in enumerate(web):
            run_many(estate, shape, cluster, definition, bridge // 2 // 3 + (index < (bridge // 2) % 3), service="web")
        for index, definition in enumerate(worker):
            run_many(estate, shape, cluster, definition, (bridge - bridge // 2) // 2 + (index < (bridge - bridge // 2) % 2),
                     service="worker")
    return shape


def lower_bound(shape: EstateShape) -> tuple[dict[str, int], dict[str, int]]:
    """(cold, warm) calls: warm = 1 ListClusters + Σ⌈tasks/100⌉ ListTasks; cold adds the distinct
    describes (per cluster where the API is per cluster)."""
    warm = {"ListClusters": 1, "ListTasks": sum(math.ceil(t / 100) for t in shape.tasks_per_cluster.values())}
    cold = dict(warm)
    cold["DescribeClusters"] = math.ceil(len(shape.tasks_per_cluster) / 100)
    cold["DescribeTasks"] = warm["ListTasks"]
    cold["DescribeTaskDefinition"] = len(shape.definitions)
    cold["DescribeContainerInstances"] = sum(math.ceil(i / 100) for i in shape.instances_per_cluster.values())
    cold["DescribeInstances"] = math.ceil(sum(shape.instances_per_cluster.values()) / 1000)
    cold["DescribeServices"] = sum(math.ceil(s / 10) for s in shape.services_per_cluster.values())
    return cold, warm


def prometheus_ecs_sd_calls(shape: EstateShape) -> dict[str, int]:
    """Derived from Prometheus's discovery/aws/ecs.go, not measured: per refresh, no cache."""
    services = shape.services_per_cluster
    return {
        "ListClusters": 1,
        "DescribeClusters": math.ceil(len(services) / 100),
        "ListServices": sum(max(1, math.ceil(s / 10)) for s in services.values()),
        "DescribeServices": sum(math.ceil(s / 10) for s in services.values()),
        "ListTasks": sum(max(1, math.ceil(t / 100)) for t in shape.services_with_tasks.values()),
        "DescribeTasks": sum(math.ceil(t / 100) for t in shape.tasks_per_cluster.values()),
        "DescribeContainerInstances": sum(math.ceil(i / 100) for i in shape.instances_per_cluster.values()),
        "DescribeInstances": sum(math.ceil(i / 1000) for i in shape.instances_per_cluster.values()),
    }


# --- running a tool --------------------------------------------------------------------------


class Recorder:
    """moto's request recorder: every AWS request the emulator receives, in order."""

    def __init__(self, endpoint: str):
        self.api = f"{endpoint}/moto-api/recorder"

    def restart(self) -> None:
        requests.post(f"{self.api}/reset-recording", timeout=10)
        requests.post(f"{self.api}/start-recording", timeout=10)

    def stop(self) -> None:
        requests.post(f"{self.api}/stop-recording", timeout=10)

    def operations(self) -> list[str]:
        text = requests.get(f"{self.api}/download-recording", timeout=60).text
        out = []
        for line in text.splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            target = {k.lower(): v for k, v in entry.get("headers", {}).items()}.get("x-amz-target")
            if target:
                out.append(target.split(".")[-1])
                continue
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode(errors="replace")
            action = parse_qs(body).get("Action")
            if action:
                out.append(action[0])
        return out


def cycles(operations: list[str]) -> list[Counter]:
    """Calls per cycle: every cycle of both tools starts with ListClusters."""
    found: list[Counter] = []
    for operation in operations:
        if operation == "ListClusters":
            found.append(Counter())
        if found:
            found[-1][operation] += 1
    return found


def cpu_seconds(pid: int) -> float:
    """user+sys of the whole process, exited threads included (/proc/PID/stat), in clock ticks
    (10 ms): warm cycles are averaged over WARM_CYCLES to get below that."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def thread_cpu_ns(pid: int) -> dict[int, int]:
    """Each live thread's CPU time in nanoseconds (/proc/PID/task/TID/schedstat)."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found[int(task.name)] = int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


@dataclass
class CpuReading:
    ticks: float
    threads: dict[int, int]


def read_cpu(pid: int) -> CpuReading:
    return CpuReading(cpu_seconds(pid), thread_cpu_ns(pid))


def cpu_between(start: CpuReading, end: CpuReading) -> float:
    """CPU seconds between two readings: to the nanosecond when no thread exited in between
    (a thread that ends takes its schedstat with it), else from the clock ticks."""
    if set(start.threads) <= set(end.threads):
        return (sum(end.threads.values()) - sum(start.threads.values())) / 1e9
    return end.ticks - start.ticks


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


@dataclass
class Run:
    tool: str
    cold_calls: Counter
    warm_calls: Counter
    startup_cpu: float
    cold_cpu: float
    warm_cpu: float
    cold_wall: float
    warm_wall: float
    rss_mib: float
    targets: set[str]
    error: str = ""


TOOLS = {
    "ecs-discoverer": {
        "end": "discovery cycle",
        "start": "ecs-discoverer starting",  # logged once its AWS clients are built
    },
    "prometheus-ecs-discoverer": {
        "end": "Finished discovery round",
        "start": "Start new discovery round",  # logged once its boto3 clients are built
    },
}


def median_run(runs: list[Run]) -> Run:
    """The median of each measured figure over runs of one tool on one estate; the calls and
    targets of the first run (the bench checks they agree). A failed run is returned as such."""
    failed = [run for run in runs if run.error]
    if failed:
        return failed[0]
    first = runs[0]
    for run in runs[1:]:
        if (run.cold_calls, run.warm_calls, run.targets) != (first.cold_calls, first.warm_calls, first.targets):
            return replace(first, error=f"runs disagree on calls or targets: {run.cold_calls} vs {first.cold_calls}")

    def median(figure: str) -> float:
        return statistics.median(getattr(run, figure) for run in runs)

    return replace(first, **{figure: median(figure) for figure in
                             ("startup_cpu", "cold_cpu", "warm_cpu", "cold_wall", "warm_wall", "rss_mib")})


def command(tool: str, output: Path, emulator: Emulator, interval: int = 2) -> tuple[list[str], dict[str, str]]:
    """How to run `tool` on the emulator, writing file_sd into `output` every `interval` seconds."""
    env = {**emulator.env, "PATH": "/usr/bin:/bin"}
    if tool == "ecs-discoverer":
        return ([str(ours_binary()), "--interval", f"{interval}s", "--output-dir", str(output), "--listen", "off",
                 "--log-format", "json"], env)
    return ([str(PROMED_PYTHON), "-m", "prometheus_ecs_discoverer.main"],
            {**env, "PROMED_INTERVAL": str(interval), "PROMED_OUTPUT_DIRECTORY": str(output), "PROMED_LOG_JSON": "true",
             "PROMED_PROMETHEUS_START_HTTP_SERVER": "false", "PROMED_MARKER_TYPE": "environment",
             "PROMED_MARKER": "PROMETHEUS_TARGET"})


def file_targets(output: Path) -> set[str]:
    found = set()
    for name in ("tasks.json", "15s-tasks.json", "30s-tasks.json", "1m-tasks.json", "5m-tasks.json"):
        path = output / name
        if path.exists() and path.stat().st_size:
            found |= {t for g in json.loads(path.read_text()) for t in g["targets"]}
    return found


def reported_durations(log_path: Path, marker: str) -> list[float]:
    """Each cycle's wall time as the tool itself logs it (ours: duration_ms; PromED: duration s)."""
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        if marker not in line or not line.startswith("{"):
            continue
        record = json.loads(line)
        if "duration_ms" in record:
            found.append(record["duration_ms"] / 1000)
        elif "duration" in record.get("record", {}).get("extra", {}):
            found.append(float(record["record"]["extra"]["duration"]))
    return found + [math.nan] * (2 + WARM_CYCLES)


def failure_reason(log_path: Path, error: Exception) -> str:
    """The exception a crashed tool died with, else the harness's error."""
    lines = [l for l in log_path.read_text(errors="replace").splitlines() if re.search(r"\w+Error\b", l)]
    for line in reversed(lines):
        match = re.search(r"(\w+Error: [^\\\"]*)", line)
        if match:
            return match.group(1)[:200]
    return str(error).splitlines()[0][:200]


def run_tool(tool: str, emulator: Emulator, workdir: Path, timeout: float) -> Run:
    output = workdir / tool
    output.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{tool}.log"
    recorder = Recorder(emulator.endpoint)
    recorder.restart()
    argv, env = command(tool, output, emulator)
    markers = TOOLS[tool]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        def count(marker: str) -> int:
            return sum(marker in line for line in log_path.read_text(errors="replace").splitlines())

        def wait_for(marker: str, n: int, poll: float = 0.01) -> tuple[CpuReading, float]:
            deadline = time.monotonic() + timeout
            while count(marker) < n:
                if proc.poll() is not None:
                    raise RuntimeError(f"{tool} exited with {proc.returncode}: "
                                       f"{log_path.read_text(errors='replace')[-1500:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{tool}: no '{marker}' #{n} within {timeout}s")
                time.sleep(poll)
            return read_cpu(proc.pid), time.monotonic()

        # The cycle runs on right after the start marker, so that one is polled every 1 ms: what
        # the tool does between its marker and the reading counts as start-up, not as the cycle.
        started, _ = wait_for(markers["start"], 1, poll=0.001)
        cold_end, _ = wait_for(markers["end"], 1)
        warm_end, _ = wait_for(markers["end"], 1 + WARM_CYCLES)
        rss = peak_rss_mib(proc.pid)
        calls = cycles(recorder.operations())
        durations = reported_durations(log_path, markers["end"])
        warm_calls = calls[1:1 + WARM_CYCLES]
        if any(c != warm_calls[0] for c in warm_calls):
            raise RuntimeError(f"{tool}: warm cycles differ in calls: {warm_calls}")
        return Run(tool, calls[0], warm_calls[0] if warm_calls else Counter(), max(started.ticks, sum(started.threads.values()) / 1e9),
                   cpu_between(started, cold_end), cpu_between(cold_end, warm_end) / WARM_CYCLES, durations[0],
                   sum(durations[1:1 + WARM_CYCLES]) / WARM_CYCLES, rss, file_targets(output))
    except RuntimeError as error:
        return Run(tool, Counter(), Counter(), math.nan, math.nan, math.nan, math.nan, math.nan, math.nan,
                   file_targets(output), error=failure_reason(log_path, error))
    finally:
        recorder.stop()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


# --- robustness ------------------------------------------------------------------------------


def odd_shapes() -> dict[str, callable]:
    def port_range(estate: Estate) -> None:
        definition = estate.ecs.register_task_definition(
            family="ranged", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "ranged", "image": "busybox", "memory": 4,
                                   "environment": [{"name": "PROMETHEUS_TARGET", "value": "true"}],
                                   "portMappings": [{"containerPortRange": "9000-9001", "protocol": "tcp"}]}],
        )["taskDefinition"]["taskDefinitionArn"]
        estate.run_tasks("bench-0", definition, fargate=True)

    def pending_unplaced(estate: Estate) -> None:
        definition = estate.task_definition("late", [marked("late", [8080])])
        [arn] = estate.run_tasks("bench-0", definition)
        estate.set_task_status("bench-0", arn, "PENDING", unplaced=True)

    def no_bindings(estate: Estate) -> None:
        definition = estate.task_definition("quiet", [marked("quiet", [])])
        estate.run_tasks("bench-0", definition)

    return {"port mapping without hostPort (containerPortRange, awsvpc)": port_range,
            "PENDING task with no container instance": pending_unplaced,
            "container with no network bindings (bridge)": no_bindings}


# --- http_sd under load ----------------------------------------------------------------------


def http_sd_load(emulator: Emulator, workdir: Path) -> dict[str, object]:
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"error": "wrk is not installed (Debian package wrk): `make bench` installs it"}
    port = free_port()
    log = open(workdir / "load.log", "wb")
    proc = subprocess.Popen([str(ours_binary()), "--interval", "2s", "--listen", f"127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT, env={**emulator.env, "PATH": "/usr/bin:/bin"})
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(f"{url}/ready", timeout=5).status_code == 200, 300, "the first cycle")
        targets = len(requests.get(f"{url}/prometheus-targets", timeout=30).json())
        body = len(requests.get(f"{url}/prometheus-targets", timeout=30).content)

        def at_cycle_end() -> tuple[float, float]:
            text = metrics_after_next_cycle(lambda: requests.get(f"{url}/metrics", timeout=10).text, 300)
            return metric_sum(text, "ecs_sd_aws_api_calls_total"), metric_sum(text, "ecs_sd_cycles_total")

        quiet_calls, quiet_cycles = at_cycle_end()
        time.sleep(6)
        idle_calls, idle_cycles = at_cycle_end()
        rps, p99 = [], []
        for _ in range(RUNS):
            out = subprocess.run([wrk, "-t2", "-c32", "-d10s", "--latency", f"{url}/prometheus-targets"],
                                 capture_output=True, text=True, timeout=60).stdout
            rps.append(float(re.search(r"Requests/sec:\s+(\S+)", out).group(1)))
            value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()
            p99.append(float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit])
        loaded_calls, loaded_cycles = at_cycle_end()
        return {"targets": targets, "body_bytes": body, "rps": statistics.median(rps),
                "p99": f"{statistics.median(p99):.1f}ms",
                "calls_per_cycle_idle": (idle_calls - quiet_calls) / max(idle_cycles - quiet_cycles, 1),
                "calls_per_cycle_loaded": (loaded_calls - idle_calls) / max(loaded_cycles - idle_cycles, 1)}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


# --- rate-limit compliance (the mocks test, run for its report) --------------------------------


def rate_limit_report() -> str:
    done = subprocess.run(["cargo", "test", "--locked", "-p", "ecs-discoverer", "--lib", "rate_tests", "--",
                           "--nocapture"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    lines = [l for l in (done.stderr + done.stdout).splitlines() if l.startswith("rate-limit") or l.startswith("  ")]
    return "\n".join(lines) if done.returncode == 0 else f"the rate-limit test failed:\n{done.stdout[-2000:]}"


# --- report ----------------------------------------------------------------------------------


def fmt_calls(calls: Counter | dict) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(calls.items())) or "-"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and not math.isnan(a) and not math.isnan(b) else "n/a"


def verdicts(results: list[dict], robustness: list[dict]) -> list[str]:
    """The issue's targets, each marked met or not met with the figures it was judged on."""
    def mark(met: bool) -> str:
        return "**met**" if met else "**not met**"

    lines = ["| target | figures | verdict |", "|---|---|---|"]
    for phase in ("warm", "cold"):
        pairs = [(r["n"], sum(getattr(r["runs"][0], f"{phase}_calls").values()), sum(r[f"lower_{phase}"].values()))
                 for r in results]
        lines.append(f"| {phase} calls = the lower bound, at every N | "
                     + ", ".join(f"N={n}: {ours} / {bound}" for n, ours, bound in pairs)
                     + f" | {mark(all(ours == bound for _, ours, bound in pairs))} |")
    large = [r for r in results if r["n"] >= 1000]
    for phase in ("warm", "cold"):
        factors = [(r["n"], getattr(r["runs"][1], f"{phase}_cpu") / getattr(r["runs"][0], f"{phase}_cpu"))
                   for r in large if getattr(r["runs"][0], f"{phase}_cpu") > 0]
        lines.append(f"| >= 10x less {phase} CPU than PromED at N >= 1,000 | "
                     + ", ".join(f"N={n}: {f:.1f}x" for n, f in factors)
                     + f" | {mark(len(factors) == len(large) and all(f >= 10 for _, f in factors))} |")
    shares = [(r["n"], r["runs"][0].rss_mib / r["runs"][1].rss_mib) for r in large]
    lines.append("| <= 1/5 of PromED's peak RSS at N >= 1,000 | "
                 + ", ".join(f"N={n}: {share:.2f}" for n, share in shares)
                 + f" | {mark(all(share <= 0.2 for _, share in shares))} |")
    ours = [row for row in robustness if row["tool"] == "ecs-discoverer"]
    lines.append(f"| every odd shape leaves the rest discovered (ecs-discoverer) | "
                 f"{sum(row['ok'] == 'yes' for row in ours)} of {len(ours)} shapes | "
                 f"{mark(bool(ours) and all(row['ok'] == 'yes' for row in ours))} |")
    return lines


def report(results: list[dict], robustness: list[dict], load: dict, rates: str, machine: str) -> str:
    lines = ["# Benchmark: ecs-discoverer vs prometheus-ecs-discoverer 3.3.4", "",
             f"Run on {date.today().isoformat()}, {machine}. Emulator: moto (embedded, with the fidelity layer), "
             "on the same machine.", "",
             "**The emulator is slow in absolute terms and shares the CPU, so wall times mostly measure it; "
             "the ratios (calls, process CPU, memory) are the result.** CPU is the CPU time of all the tool's threads "
             "(/proc/PID/task/*/schedstat, in ns; /proc/PID/stat's 10 ms ticks if a thread ended in between). "
             "A cycle's CPU is measured from the line each tool logs once its AWS clients are built and discovery "
             "begins (ecs-discoverer: 'ecs-discoverer starting', PromED: 'Start new discovery round') to the line "
             "it logs at the end of the cycle, so both exclude process start-up, which is shown on its own; "
             f"warm figures are the mean of {WARM_CYCLES} warm cycles. Each tool runs {RUNS} times on each estate, "
             "and every CPU, memory and wall figure is the median of its runs.", ""]
    lines += ["## Targets", ""] + verdicts(results, robustness) + [
        "", "Where a cycle's CPU goes (a perf profile, and why the SDK's HTTP and JSON path sets the floor of "
        "a cold cycle): [services/ecs-discoverer/README.md](../../services/ecs-discoverer/README.md#where-the-cpu-of-a-cycle-goes).",
        ""]
    lines += ["## Calls, CPU, memory", "",
              "| N | tool | cold calls | warm calls | start-up CPU s | cold CPU s | warm CPU s | peak RSS MiB | cold / warm wall s | targets |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for run in r["runs"]:
            lines.append(f"| {r['n']} | {run.tool} | {sum(run.cold_calls.values())} | {sum(run.warm_calls.values())} | "
                         f"{run.startup_cpu:.3f} | {run.cold_cpu:.3f} | {run.warm_cpu:.3f} | {run.rss_mib:.1f} | "
                         f"{run.cold_wall:.1f} / {run.warm_wall:.1f} | {len(run.targets)} |"
                         + (f" **failed: {run.error}**" if run.error else ""))
        lines.append(f"| {r['n']} | lower bound | {sum(r['lower_cold'].values())} | {sum(r['lower_warm'].values())} | | | | | | |")
        lines.append(f"| {r['n']} | Prometheus `aws_sd_configs` ecs (derived, not measured) | "
                     f"{sum(r['prometheus'].values())} | {sum(r['prometheus'].values())} | | | | | | |")
    lines += ["", "## Ratios", "",
              "| N | calls ours/lower bound (cold, warm) | calls ours/PromED (cold, warm) | CPU ours/PromED (cold, warm) | RSS ours/PromED | CPU PromED/ours (cold, warm) |",
              "|---|---|---|---|---|---|"]
    for r in results:
        ours, peer = r["runs"]
        oc, ow = sum(ours.cold_calls.values()), sum(ours.warm_calls.values())
        pc, pw = sum(peer.cold_calls.values()), sum(peer.warm_calls.values())
        lines.append(f"| {r['n']} | {ratio(oc, sum(r['lower_cold'].values()))}, {ratio(ow, sum(r['lower_warm'].values()))} | "
                     f"{ratio(oc, pc)}, {ratio(ow, pw)} | {ratio(ours.cold_cpu, peer.cold_cpu)}, {ratio(ours.warm_cpu, peer.warm_cpu)} | "
                     f"{ratio(ours.rss_mib, peer.rss_mib)} | {ratio(peer.cold_cpu, ours.cold_cpu)}, {ratio(peer.warm_cpu, ours.warm_cpu)} |")
    lines += ["", "## Calls by operation", ""]
    for r in results:
        lines.append(f"N = {r['n']} ({r['shape']}):")
        lines.append(f"- lower bound: cold {fmt_calls(r['lower_cold'])}; warm {fmt_calls(r['lower_warm'])}")
        for run in r["runs"]:
            lines.append(f"- {run.tool}: cold {fmt_calls(run.cold_calls)}; warm {fmt_calls(run.warm_calls)}")
        lines.append(f"- Prometheus aws_sd ecs, per refresh (derived from its source, not measured): {fmt_calls(r['prometheus'])}")
        lines.append(f"- targets: {r['agreement']}")
        lines.append("")
    lines += ["## Robustness: one odd task beside a normal estate (N = 100)", "",
              "| odd shape | tool | kept discovering | targets (of the normal estate's) | note |", "|---|---|---|---|---|"]
    for row in robustness:
        lines.append(f"| {row['shape']} | {row['tool']} | {row['ok']} | {row['targets']} / {row['expected']} | {row['note']} |")
    lines += ["", "## http_sd under load (N = 5,000 estate)", ""]
    if "error" in load:
        lines.append(f"Not measured: {load['error']}")
    else:
        lines += [f"- {load['targets']} target groups, {load['body_bytes']} bytes per answer;",
                  f"- wrk, 2 threads, 32 connections, 10 s, loopback, median of {RUNS} runs: **{load['rps']:.0f} requests/s, p99 {load['p99']}**;",
                  f"- AWS calls per discovery cycle: {load['calls_per_cycle_idle']:.1f} with no poller, "
                  f"{load['calls_per_cycle_loaded']:.1f} under wrk (pollers don't cause AWS calls)."]
    lines += ["", "## Rate-limit compliance (aws-smithy-mocks, paused clock)", "", "```", rates, "```", ""]
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [r["n"] for r in results]
    figure, (calls_ax, cpu_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for index, tool in enumerate(["ecs-discoverer", "prometheus-ecs-discoverer"]):
        runs = [r["runs"][index] for r in results]
        calls_ax.plot(ns, [sum(x.cold_calls.values()) for x in runs], marker="o", label=f"{tool} cold")
        calls_ax.plot(ns, [sum(x.warm_calls.values()) for x in runs], marker="o", linestyle="--", label=f"{tool} warm")
        cpu_ax.plot(ns, [x.cold_cpu for x in runs], marker="o", label=f"{tool} cold")
        cpu_ax.plot(ns, [x.warm_cpu for x in runs], marker="o", linestyle="--", label=f"{tool} warm")
    calls_ax.plot(ns, [sum(r["lower_warm"].values()) for r in results], color="black", linestyle=":", label="lower bound warm")
    for ax, title, unit in [(calls_ax, "AWS API calls per cycle", "calls"), (cpu_ax, "process CPU per cycle", "seconds")]:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("running tasks (N)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(os.environ.get("BENCH_WORKDIR", "/tmp/ecs-bench"))
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    RESULTS.mkdir(exist_ok=True)
    ours_binary()
    reloader_binary()
    if not PROMED_PYTHON.exists():
        sys.exit(f"{PROMED_PYTHON} is missing: `make bench` installs prometheus-ecs-discoverer 3.3.4 there")
    machine = machine_description()

    emulator = Emulator(log_dir=workdir, embedded=True, localstack=False,
                        extra_env={"MOTO_RECORDER_FILEPATH": str(workdir / "recording.jsonl")})
    results, robustness, load = [], [], {}
    try:
        for n in sizes:
            emulator.reset()
            estate = Estate.of(emulator)
            estate.network()
            began = time.monotonic()
            shape = build_estate(estate, n)
            print(f"N={n}: estate of {shape.tasks} tasks built in {time.monotonic() - began:.0f}s", flush=True)
            runs = [median_run([run_tool(tool, emulator, workdir / f"n{n}-{i}", timeout=1800) for i in range(RUNS)])
                    for tool in TOOLS]
            for run in runs:
                print(f"  {run.tool}: cold {sum(run.cold_calls.values())} calls {run.cold_cpu:.2f}s CPU, "
                      f"warm {sum(run.warm_calls.values())} calls {run.warm_cpu:.2f}s CPU, {run.rss_mib:.0f} MiB, "
                      f"{len(run.targets)} targets {run.error}", flush=True)
            ours, peer = runs
            if ours.targets == peer.targets:
                agreement = f"both tools found the same {len(ours.targets)} addresses"
            else:
                agreement = (f"ours {len(ours.targets)}, PromED {len(peer.targets)}; only ours: "
                             f"{sorted(ours.targets - peer.targets)[:5]}; only PromED: {sorted(peer.targets - ours.targets)[:5]}")
            cold, warm = lower_bound(shape)
            results.append({"n": n, "runs": runs, "lower_cold": cold, "lower_warm": warm,
                            "prometheus": prometheus_ecs_sd_calls(shape), "agreement": agreement,
                            "shape": f"{len(shape.tasks_per_cluster)} clusters, {len(shape.definitions)} task definitions, "
                                     f"{sum(shape.instances_per_cluster.values())} container instances, "
                                     f"{sum(shape.services_per_cluster.values())} services"})
            if n == max(sizes):
                load = http_sd_load(emulator, workdir)
                print(f"  http_sd load: {load}", flush=True)

        for shape_name, make_odd in odd_shapes().items():
            emulator.reset()
            estate = Estate.of(emulator)
            estate.network()
            build_estate(estate, 100)
            make_odd(estate)
            for tool in TOOLS:
                run = run_tool(tool, emulator, workdir / "odd" / re.sub(r"\W+", "-", shape_name), timeout=300)
                expected = results[0]["runs"][0].targets if results and results[0]["n"] == 100 else None
                baseline = len(expected) if expected is not None else "?"
                # Kept discovering: no crash, and at least as many targets as the normal estate's.
                kept = not run.error and (expected is None or len(run.targets) >= len(expected))
                robustness.append({"shape": shape_name, "tool": tool, "ok": "yes" if kept else "no",
                                   "targets": len(run.targets), "expected": baseline,
                                   "note": run.error or ""})
                print(f"  odd shape '{shape_name}': {tool}: {'FAILED ' + run.error if run.error else 'ok'}, "
                      f"{len(run.targets)} targets", flush=True)
        reloader_rows = reloader_memory(emulator, workdir / "reloader")
    finally:
        emulator.stop()

    rates = rate_limit_report()
    text = report(results, robustness, load, rates, machine) + "\n\n" + reloader_report(reloader_rows)
    (RESULTS / "latest.md").write_text(text + "\n")
    plot(results, RESULTS / "latest.png")
    print("\n" + text)
    print(f"\nwritten: {RESULTS / 'latest.md'}, {RESULTS / 'latest.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
