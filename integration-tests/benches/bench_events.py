"""`make bench`, events section (issue 16): event-driven discovery against polling, side by side in
one run on one emulator estate per size.

For N = 1,000 and 5,000 running tasks (bench.py's estate), each of three modes runs for a window of
WINDOW seconds in which 1% of the tasks are replaced every minute (a standalone awsvpc task stopped,
one started, evenly spaced):
  - `events`: ecs-discoverer reading the queue an EventBridge rule fills (fidelity patch P16), with
    a reconciling cycle every 5 minutes (the stack's default);
  - `polling`: ecs-discoverer at `--interval 30s`;
  - `PromED`: prometheus-ecs-discoverer 3.3.4 at 30 s;
  - `events-15m` (at the first size only, for a LONG_WINDOW): events with a 15 m reconcile and a 1 h
    cache TTL, the setting that keeps ECS calls under 5% of polling. Its window holds one reconcile
    and no cache refresh; the hourly refresh is added from the calls of its own first cycle, which
    described every task and service as a refresh does.
Measured for each: the latency from RunTask to the task's target in the tool's file_sd output, and
from StopTask to its removal (p50, p99); the ECS and EC2 calls the tool made in the window (moto's
request recorder, the driver's own calls left out by their user agent), per hour; the tool's CPU
per hour and peak RSS. The window holds one reconciling cycle and one task-cache refresh (both
every 5 minutes); the events modes' calls are counted per reconcile (the tool logs its cycles) and
scaled by the reconciles an hour, the others' by 3600 / window. Projected to 20,000 tasks from the largest N
(calls scale with tasks/100). Results go to benches/results/events.md.

    python -m benches.bench_events [--sizes 1000,5000] [--window 330] [--modes events,polling] [--long-sizes 1000]
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs

import boto3
from botocore.config import Config

from benches.bench import (PROMED_PYTHON, RESULTS, TOOLS, Recorder, build_estate, command, cpu_seconds, file_targets,
                   machine_description, ours_binary, peak_rss_mib, prometheus_ecs_sd_calls)
from testbed.harness import AWS_ENV, Emulator, wait_until
from testbed.seed import Estate

DRIVER = "ecs-bench-driver"  # the user agent suffix of the driver's own calls
RECONCILE_S = 300  # the stack's default reconcile, 5 m
POLL_S = 30
WINDOW = 330.0  # 5.5 minutes: one reconcile, one task-cache refresh
CHURN_PER_MINUTE = 0.01
SETTLE = 45.0  # after the window, time for the last changes to show (a 30 s poll and its cycle)
MODES = ("events", "polling", "PromED")
LONG_MODE = "events-15m"
LONG_RECONCILE_S = 900
LONG_CACHE_TTL = "1h"
LONG_WINDOW = 930.0  # one 15 m reconcile
RECONCILE_PERIOD_S = {"events": RECONCILE_S, LONG_MODE: LONG_RECONCILE_S}
# What a cache refresh describes again: every task (for its tags) and every service.
REFRESHED = ("DescribeTasks", "DescribeServices")


@dataclass
class Sample:
    address: str
    at: float


@dataclass
class ModeResult:
    mode: str
    add: list[float] = field(default_factory=list)
    remove: list[float] = field(default_factory=list)
    skipped: int = 0
    calls: Counter = field(default_factory=Counter)
    sqs_calls: Counter = field(default_factory=Counter)
    window: float = 0.0
    # The calls of the tool's first cycle (before the window), by operation.
    first_cycle_calls: Counter = field(default_factory=Counter)
    # The cycles the tool completed in the window (its log); None in runs from before it was kept.
    cycles: int | None = None
    cpu_s: float = 0.0
    rss_mib: float = 0.0
    error: str = ""

    def calls_factor(self) -> float:
        """What turns the window's ECS and EC2 calls into calls an hour. Polling's: 3600 / window.
        The events modes': one over the reconciles the window held, times the reconciles an hour
        (a window a little longer than the reconcile holds one, and scaling it by the window would
        count 3600 / 330 reconciles an hour rather than 12); their few calls outside the reconcile
        are scaled with it, which overstates them."""
        if not self.window:
            return math.nan
        period = RECONCILE_PERIOD_S.get(self.mode)
        if period is None or self.cycles is None:
            return 3600 / self.window
        if self.cycles == 0:
            return math.nan  # the window held no reconcile: nothing to scale
        return 3600 / (period * self.cycles)

    def per_hour(self) -> float:
        """ECS and EC2 calls an hour; the long mode adds its hourly cache refresh (as many calls as
        its first cycle's describes of tasks and services)."""
        refresh = sum(self.first_cycle_calls[op] for op in REFRESHED) if self.mode == LONG_MODE else 0
        return sum(self.calls.values()) * self.calls_factor() + refresh


class Watcher:
    """Polls a tool's file_sd output and records when each address appears and disappears."""

    def __init__(self, output: Path):
        self.output = output
        self.present: set[str] = set()
        self.appeared: dict[str, float] = {}
        self.vanished: dict[str, float] = {}
        self._mtimes: tuple = ()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            mtimes = tuple(p.stat().st_mtime_ns for p in sorted(self.output.glob("*.json")))
            if mtimes != self._mtimes:
                self._mtimes = mtimes
                try:
                    now = time.monotonic()
                    current = file_targets(self.output)
                except (ValueError, OSError):
                    continue  # a file between its truncation and its write (PromED writes in place)
                for address in current - self.present:
                    self.appeared[address] = now
                    self.vanished.pop(address, None)
                for address in self.present - current:
                    self.vanished[address] = now
                self.present = current
            time.sleep(0.02)


def driver_client(emulator: Emulator, service: str):
    """A boto3 client whose calls carry DRIVER in their user agent, so they aren't counted."""
    return boto3.client(service, endpoint_url=emulator.endpoints.of(service), region_name="us-east-1",
                        config=Config(user_agent_extra=DRIVER, retries={"max_attempts": 2}),
                        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"])


def eni_address(task: dict, port: int) -> str:
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    return f"{details['privateIPv4Address']}:{port}"


def churn_pool(ecs, clusters: list[str]) -> deque:
    """The standalone awsvpc `batch` tasks of the estate, oldest first: (cluster, ARN, address)."""
    pool = deque()
    for cluster in clusters:
        arns = []
        for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster):
            arns += page["taskArns"]
        for start in range(0, len(arns), 100):
            for task in ecs.describe_tasks(cluster=cluster, tasks=arns[start:start + 100])["tasks"]:
                if "/batch:" in task["taskDefinitionArn"] and task["lastStatus"] == "RUNNING":
                    pool.append((cluster, task["taskArn"], eni_address(task, 7000), task["taskDefinitionArn"]))
    return pool


def tool_calls(recording: Path, since: int, until: int | None = None) -> tuple[Counter, Counter]:
    """(ECS and EC2 calls, SQS calls) in the recording from byte `since` (to `until`), the
    driver's own left out. The only EC2 call either tool makes is DescribeInstances (a
    query-protocol Action)."""
    calls: Counter = Counter()
    sqs: Counter = Counter()
    decoder = json.JSONDecoder()
    with open(recording, "rb") as handle:
        handle.seek(since)
        text = handle.read(-1 if until is None else max(0, until - since)).decode(errors="replace")
    # moto's recorder appends from the server's threads, so two entries can share a line, and
    # `since` (the size when the window began) can fall inside one: take every whole object.
    entries, at = [], text.find("{")
    while at != -1:
        try:
            entry, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            at = text.find("{", at + 1)
            continue
        if isinstance(entry, dict) and "headers" in entry:
            entries.append(entry)
            at = text.find("{", end)
        else:
            at = text.find("{", at + 1)
    for entry in entries:
        headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
        if DRIVER in headers.get("user-agent", ""):
            continue
        target = headers.get("x-amz-target", "")
        if target.startswith("AmazonEC2ContainerService"):
            calls[target.split(".")[-1]] += 1
        elif target.startswith("AmazonSQS"):
            sqs[target.split(".")[-1]] += 1
        else:
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode(errors="replace")
            if parse_qs(body).get("Action") == ["DescribeInstances"]:
                calls["DescribeInstances"] += 1
    return calls, sqs


def start_tool(mode: str, emulator: Emulator, output: Path, queue_url: str, log_path: Path) -> subprocess.Popen:
    """bench.py's command for the tool, at this mode's interval (and queue)."""
    tool = "prometheus-ecs-discoverer" if mode == "PromED" else "ecs-discoverer"
    interval = RECONCILE_PERIOD_S.get(mode, POLL_S)
    argv, env = command(tool, output, emulator, interval=interval)
    if mode in ("events", LONG_MODE):
        argv += ["--events-queue-url", queue_url]
    if mode == LONG_MODE:
        argv += ["--service-cache-ttl", LONG_CACHE_TTL]
    with open(log_path, "wb") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)


def run_mode(mode: str, emulator: Emulator, clusters: list[str], n: int, workdir: Path, window: float,
             queue_url: str, recording: Path) -> ModeResult:
    ecs, sqs, ec2 = (driver_client(emulator, service) for service in ("ecs", "sqs", "ec2"))
    sqs.purge_queue(QueueUrl=queue_url)
    output = workdir / mode
    output.mkdir(parents=True)
    result = ModeResult(mode)
    _network_cache.clear()  # a new estate has new subnets
    pool = churn_pool(ecs, clusters)
    churned = {address for _, _, address, _ in pool}
    started_at = recording.stat().st_size if recording.exists() else 0
    log_path = workdir / f"{mode}.log"
    proc = start_tool(mode, emulator, output, queue_url, log_path)

    def cycles_logged() -> int:
        marker = TOOLS["ecs-discoverer" if mode != "PromED" else "prometheus-ecs-discoverer"]["end"]
        return sum(marker in line for line in log_path.read_text(errors="replace").splitlines())

    watcher = Watcher(output)
    watcher.start()
    try:
        # The first cycle is done when every churned task's address is in the files.
        wait_until(lambda: proc.poll() is None and churned <= watcher.present, 1800, f"{mode}: the first cycle",
                   interval=0.5)
        since = recording.stat().st_size if recording.exists() else 0
        result.first_cycle_calls, _ = tool_calls(recording, started_at, until=since)
        cpu_start = cpu_seconds(proc.pid)
        cycles_before = cycles_logged()
        began = time.monotonic()
        step = 60 / (CHURN_PER_MINUTE * n)
        adds: list[Sample] = []
        removes: list[Sample] = []
        next_at = began
        while time.monotonic() - began < window:
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += step
            cluster, arn, address, definition = pool.popleft()
            at = time.monotonic()
            ecs.stop_task(cluster=cluster, task=arn, reason="bench churn")
            removes.append(Sample(address, at))
            at = time.monotonic()
            task = ecs.run_task(cluster=cluster, taskDefinition=definition, count=1, launchType="EC2",
                                networkConfiguration=awsvpc_of(ecs, ec2, cluster, arn))["tasks"][0]
            new_address = eni_address(task, 7000)
            if new_address in watcher.present:
                result.skipped += 1  # an address reused while still listed: no clean sample
            else:
                adds.append(Sample(new_address, at))
            pool.append((cluster, task["taskArn"], new_address, definition))
        result.window = time.monotonic() - began
        result.cpu_s = (cpu_seconds(proc.pid) - cpu_start) * 3600 / result.window
        result.calls, result.sqs_calls = tool_calls(recording, since)
        result.cycles = cycles_logged() - cycles_before
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline and not all(s.address in watcher.appeared for s in adds):
            time.sleep(0.2)
        time.sleep(max(0.0, min(SETTLE, deadline - time.monotonic())))
        result.rss_mib = peak_rss_mib(proc.pid)
        for sample in adds:
            seen = watcher.appeared.get(sample.address)
            if seen is not None and seen >= sample.at:
                result.add.append(seen - sample.at)
            else:
                result.skipped += 1
        for sample in removes:
            gone = watcher.vanished.get(sample.address)
            if gone is not None and gone >= sample.at and sample.address not in watcher.present:
                result.remove.append(gone - sample.at)
            else:
                result.skipped += 1
    except (RuntimeError, TimeoutError) as error:
        result.error = str(error).splitlines()[0][:200]
    finally:
        watcher.stop()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return result


_network_cache: dict[str, dict] = {}


def awsvpc_of(ecs, ec2, cluster: str, arn: str) -> dict:
    """The network configuration the estate gave its batch tasks (their subnet and group)."""
    if cluster not in _network_cache:
        task = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]
        details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
        eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[details["networkInterfaceId"]])["NetworkInterfaces"][0]
        _network_cache[cluster] = {"awsvpcConfiguration": {
            "subnets": [details["subnetId"]], "securityGroups": [g["GroupId"] for g in eni["Groups"]],
            "assignPublicIp": "DISABLED"}}
    return _network_cache[cluster]


def raw_figures(result: ModeResult) -> dict:
    """A mode's figures as JSON. Not `asdict`: it rebuilds a Counter from (key, count) pairs,
    which Counter counts as keys."""
    return {**asdict(result), "calls": dict(result.calls), "sqs_calls": dict(result.sqs_calls),
            "first_cycle_calls": dict(result.first_cycle_calls)}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def fmt_s(value: float) -> str:
    return "n/a" if math.isnan(value) else (f"{value:.2f}" if value < 10 else f"{value:.1f}")


def report(rows: list[dict], machine: str, window: float) -> str:
    long_sizes = ", ".join(f"{row['n']:,}" for row in rows if any(m.mode == LONG_MODE for m in row["modes"])) or "none"
    lines = ["# Benchmark: event-driven discovery against polling", "",
             f"Run on {date.today().isoformat()}, {machine}. Emulator: moto (embedded, fidelity layer with P16: "
             "ECS publishes task state changes to EventBridge, a rule sends them to SQS). One run, the three "
             f"modes one after another on the same estate; each for a {window:.0f} s window in which 1% of the tasks "
             "are replaced per minute (StopTask of a standalone awsvpc task, RunTask of a new one, evenly spaced).",
             "", "- **events**: ecs-discoverer with `--events-queue-url` and `--interval 300s` (5 m, the stack's default "
             "reconcile); **polling**: ecs-discoverer at `--interval 30s`; **PromED**: prometheus-ecs-discoverer "
             f"3.3.4 at 30 s; **{LONG_MODE}**: events with `--interval 15m --service-cache-ttl {LONG_CACHE_TTL}`, "
             f"at N={long_sizes} only, for a {LONG_WINDOW:.0f} s window (one reconcile); its calls per hour add "
             "one cache refresh an hour, counted as its own first cycle's DescribeTasks and DescribeServices calls "
             "(that cycle described every task and service, as a refresh does).",
             "- **Latency**: from the driver's RunTask (StopTask) call to the address appearing in (leaving) the "
             "tool's file_sd files, polled every 20 ms. PromED writes files only, so files are what all three are "
             "measured on; ecs-discoverer publishes http_sd in the same step. In the emulator RunTask starts the "
             "task RUNNING at once; on AWS the RUNNING event follows the containers' start, so the figure is from "
             "the state change, not from the API call.",
             "- **Calls per hour**: the ECS and EC2 calls the tool made in the window (moto's request recorder; "
             "the driver's calls carry their own user agent and are left out). Polling and PromED: times 3600 / window. "
             "The events modes: the window holds one reconciling cycle (and at 5 m one task-cache refresh), so "
             "its calls are divided by the reconciles the tool logged in the window and multiplied by the "
             "reconciles an hour (12 at 5 m, 4 at 15 m); the few calls the event path made outside the reconcile "
             "are scaled with it, which overstates them. Events add SQS calls (ReceiveMessage, "
             "DeleteMessageBatch), which are not ECS's budget and are listed apart.",
             "- **Prometheus native** (`aws_sd_configs` role `ecs`): derived from its source per refresh "
             "(bench.py), times 120 (a 30 s refresh), not measured.",
             "- **20,000 tasks**: projected from the largest N's figures, calls scaled by 20,000 / N (every "
             "per-cycle call count is tasks/100 per cluster or fewer).", ""]
    lines += ["| N | mode | add p50 s | add p99 s | remove p50 s | remove p99 s | samples (add/remove, skipped) | "
              "ECS+EC2 calls/h | % of polling | CPU s/h | peak RSS MiB |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        polling = next((r for r in row["modes"] if r.mode == "polling"), None)
        for result in row["modes"]:
            share = (100 * result.per_hour() / polling.per_hour()) if polling and polling.per_hour() else math.nan
            lines.append(
                f"| {row['n']:,} | {result.mode} | {fmt_s(percentile(result.add, .5))} | {fmt_s(percentile(result.add, .99))} | "
                f"{fmt_s(percentile(result.remove, .5))} | {fmt_s(percentile(result.remove, .99))} | "
                f"{len(result.add)}/{len(result.remove)}, {result.skipped} | {result.per_hour():,.0f} | "
                f"{share:.1f}% | {result.cpu_s:.1f} | {result.rss_mib:.1f} |"
                + (f" error: {result.error}" if result.error else ""))
        if polling and polling.per_hour():
            lines.append(f"| {row['n']:,} | Prometheus native (derived) | | | | | | {row['native_per_hour']:,} | "
                         f"{100 * row['native_per_hour'] / polling.per_hour():.0f}% | | |")
            long = derived_long_reconcile(row)
            lines.append(f"| {row['n']:,} | {LONG_MODE} (derived from the events row) | | | | | | {long:,.0f} | "
                         f"{100 * long / polling.per_hour():.1f}% | | |")
    lines += ["", "Calls per hour by operation:", ""]
    for row in rows:
        for result in row["modes"]:
            def per_hour(calls: Counter, factor: float) -> str:
                return ", ".join(f"{op} {c * factor:,.0f}" for op, c in sorted(calls.items())) if result.window else "-"
            lines.append(f"- N={row['n']:,} {result.mode}: {per_hour(result.calls, result.calls_factor())}"
                         + (f" (cycles in the window: {result.cycles})" if result.cycles is not None else "")
                         + (f"; SQS (not ECS's budget; the window's rate, per hour): {per_hour(result.sqs_calls, 3600 / result.window)}"
                            if result.sqs_calls else ""))
    largest = max(rows, key=lambda r: r["n"]) if rows else None
    if largest:
        factor = 20000 / largest["n"]
        by_mode = {r.mode: r.per_hour() * factor for r in largest["modes"]}
        lines += ["", f"Projected to 20,000 tasks (x{factor:g} the N={largest['n']:,} figures):", ""]
        lines += [f"- {mode}: {calls:,.0f} calls/h" + (f" ({100 * calls / by_mode['polling']:.1f}% of polling)"
                                                       if by_mode.get("polling") else "")
                  for mode, calls in by_mode.items()]
        lines.append(f"- Prometheus native (derived): {largest['native_per_hour'] * factor:,.0f} calls/h")
        if by_mode.get("polling"):
            long = derived_long_reconcile(largest) * factor
            lines.append(f"- events, 15 m reconcile, 1 h cache (derived): {long:,.0f} calls/h "
                         f"({100 * long / by_mode['polling']:.1f}% of polling)")
    if all(set(MODES) <= {m.mode for m in row["modes"]} for row in rows):
        lines += ["", *verdicts(rows)]
    else:
        lines += ["", f"No verdicts: they compare the modes {', '.join(MODES)}, and this run left some out."]
    return "\n".join(lines)


LISTING = ("ListClusters", "ListTasks")
CLUSTERS_IN_ESTATE = 3


def derived_long_reconcile(row: dict) -> float:
    """ECS calls an hour with a 15 m reconcile and a 1 h cache TTL (`--interval 15m
    --service-cache-ttl 1h`), derived from the measured events window, which holds one 5 m
    reconcile with a full cache refresh: 4 listings an hour, one refresh, and the three other
    reconciles each describing the tasks started in their 15 minutes (1% a minute), 100 a call
    per cluster. Not measured."""
    events = next(r for r in row["modes"] if r.mode == "events")
    listing = sum(n for op, n in events.calls.items() if op in LISTING)
    refresh = sum(n for op, n in events.calls.items() if op not in LISTING)
    per_cluster = row["n"] / CLUSTERS_IN_ESTATE
    new_task_batches = CLUSTERS_IN_ESTATE * math.ceil(15 * CHURN_PER_MINUTE * per_cluster / 100)
    return 4 * listing + refresh + 3 * new_task_batches


def long_share(row: dict) -> tuple[float, bool]:
    """The long mode's calls as a % of polling's: measured where it ran, else derived; and
    whether it was measured."""
    by_mode = {r.mode: r for r in row["modes"]}
    polling = by_mode["polling"].per_hour()
    if LONG_MODE in by_mode:
        return 100 * by_mode[LONG_MODE].per_hour() / polling, True
    return 100 * derived_long_reconcile(row) / polling, False


def verdicts(rows: list[dict]) -> list[str]:
    def mark(met: bool) -> str:
        return "**met**" if met else "**not met**"

    out = ["| target | figures | verdict |", "|---|---|---|"]
    events = [(row["n"], next(r for r in row["modes"] if r.mode == "events")) for row in rows]
    p99s = [(n, percentile(r.add, .99), percentile(r.remove, .99)) for n, r in events]
    out.append("| p99 <= 2 s to add and to remove (events) | "
               + ", ".join(f"N={n:,}: {fmt_s(a)} / {fmt_s(r)} s" for n, a, r in p99s)
               + f" | {mark(all(a <= 2 and r <= 2 for _, a, r in p99s))} |")
    shares = []
    for row in rows:
        by_mode = {r.mode: r for r in row["modes"]}
        shares.append((row["n"], 100 * by_mode["events"].per_hour() / by_mode["polling"].per_hour()))
    out.append("| steady-state ECS calls <= 5% of polling at 30 s (events, 5 m reconcile, measured) | "
               + ", ".join(f"N={n:,}: {s:.1f}%" for n, s in shares) + f" | {mark(all(s <= 5 for _, s in shares))} |")
    long_shares = [(row["n"], *long_share(row)) for row in rows]
    out.append("| the same with a 15 m reconcile and a 1 h cache TTL | "
               + ", ".join(f"N={n:,}: {s:.1f}% ({'measured' if measured else 'derived'})"
                           for n, s, measured in long_shares)
               + f" | {mark(all(s <= 5 for _, s, _ in long_shares))} |")
    extra = []
    for row in rows:
        by_mode = {r.mode: r for r in row["modes"]}
        extra.append((row["n"], by_mode["events"].cpu_s / by_mode["polling"].cpu_s,
                      by_mode["events"].rss_mib / by_mode["polling"].rss_mib))
    out.append("| no extra CPU or RSS beyond 10% (events against polling, same run) | "
               + ", ".join(f"N={n:,}: CPU {c:.2f}x, RSS {r:.2f}x" for n, c, r in extra)
               + f" | {mark(all(c <= 1.1 and r <= 1.1 for _, c, r in extra))} |")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--window", type=float, default=WINDOW)
    parser.add_argument("--modes", default=",".join(MODES), help="a subset of " + ",".join(MODES + (LONG_MODE,)))
    parser.add_argument("--long-sizes", default="1000",
                        help=f"the sizes at which {LONG_MODE} also runs (for {LONG_WINDOW:.0f} s); empty for none")
    parser.add_argument("--report-from", type=Path,
                        help="render the report again from a run's raw figures (benches/results/events.json)")
    args = parser.parse_args()
    if args.report_from:
        raw = json.loads(args.report_from.read_text())
        rows = [{**row, "modes": [ModeResult(**{**m, "calls": Counter(m["calls"]), "sqs_calls": Counter(m["sqs_calls"]),
                                             "first_cycle_calls": Counter(m.get("first_cycle_calls", {}))})
                                  for m in row["modes"]]} for row in raw["rows"]]
        text = report(rows, raw["machine"], raw["window"])
        (RESULTS / "events.md").write_text(text + "\n")
        print(text)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(os.environ.get("BENCH_WORKDIR", "/tmp/ecs-bench-events"))
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    RESULTS.mkdir(exist_ok=True)
    ours_binary()
    if not PROMED_PYTHON.exists():
        sys.exit(f"{PROMED_PYTHON} is missing: `make bench` installs prometheus-ecs-discoverer 3.3.4 there")
    machine = machine_description()
    emulator = Emulator(log_dir=workdir, embedded=True, localstack=False,
                        extra_env={"MOTO_RECORDER_FILEPATH": str(workdir / "recording.jsonl")})
    rows = []
    try:
        for n in sizes:
            emulator.reset()
            estate = Estate.of(emulator)
            estate.network()
            shape = build_estate(estate, n)
            clusters = sorted(shape.tasks_per_cluster)
            cluster_arns = [estate.ecs.describe_clusters(clusters=[c])["clusters"][0]["clusterArn"] for c in clusters]
            queue_url = estate.events_queue("bench-task-events", clusters=cluster_arns)
            Recorder(emulator.endpoint).restart()
            modes = []
            long_sizes = {int(s) for s in args.long_sizes.split(",") if s}
            for mode in args.modes.split(",") + ([LONG_MODE] if n in long_sizes else []):
                window = LONG_WINDOW if mode == LONG_MODE else args.window
                result = run_mode(mode, emulator, clusters, n, workdir / f"n{n}", window, queue_url,
                                  workdir / "recording.jsonl")
                modes.append(result)
                print(f"N={n} {mode}: add p50/p99 {fmt_s(percentile(result.add, .5))}/{fmt_s(percentile(result.add, .99))} s, "
                      f"remove {fmt_s(percentile(result.remove, .5))}/{fmt_s(percentile(result.remove, .99))} s, "
                      f"{result.per_hour():,.0f} calls/h (cycles in the window: {result.cycles}), CPU {result.cpu_s:.1f} s/h, RSS {result.rss_mib:.1f} MiB "
                      f"{result.error}", flush=True)
            native = sum(prometheus_ecs_sd_calls(shape).values()) * 120
            rows.append({"n": n, "modes": modes, "native_per_hour": native})
    finally:
        emulator.stop()
    (RESULTS / "events.json").write_text(json.dumps(
        {"machine": machine, "window": args.window,
         "rows": [{**row, "modes": [raw_figures(m) for m in row["modes"]]} for row in rows]}, indent=1) + "\n")
    text = report(rows, machine, args.window)
    (RESULTS / "events.md").write_text(text + "\n")
    print("\n" + text)
    print(f"\nwritten: {RESULTS / 'events.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
