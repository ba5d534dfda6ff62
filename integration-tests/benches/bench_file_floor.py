"""`make bench`, the floor under issue 16's CPU target: what rewriting the file_sd files costs the
kernel alone, per publication, at N = 1,000 and 5,000 tasks.

ecs-discoverer publishes a task state change to file_sd within 2 s (the spec), and a file_sd file
is a whole file, so each publication reads back the old file (to leave an unchanged one alone)
and writes, syncs and renames a new one, for `ecs_file_sd.json` and for `tasks.json`. This
measures only that I/O, on files of the size the benchmark's estate gives: the bytes per task
come from one real `--once` run of the discoverer on `bench.build_estate`, scaled to N. Rendering
and everything else the discoverer does are left out, so the figure is a lower bound, and it is
this script's CPU (user + system), not the discoverer's. Runnable on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from datetime import date
from pathlib import Path

from benches.bench import RESULTS, build_estate, machine_description, ours_binary
from benches.bench_events import CHURN_PER_MINUTE
from testbed.harness import Emulator
from testbed.seed import Estate

SAMPLE_TASKS = 120
PUBLICATIONS = 100
# Both files are rewritten whole on every publication (the combined file and tasks.json).
FILES = ("ecs_file_sd.json", "tasks.json")
# The discoverer publishes events at most once a second (the listener's pause after a publication).
MAX_PUBLICATIONS_PER_HOUR = 3600


def publications_per_hour(n: int) -> int:
    """What bench_events' churn asks for: each replaced task is a removal and an addition."""
    return min(MAX_PUBLICATIONS_PER_HOUR, round(2 * CHURN_PER_MINUTE * n * 60))


def bytes_per_task(workdir: Path) -> dict[str, float]:
    """The size of each file per running task, from one `--once` run on a small bench estate."""
    emulator = Emulator(log_dir=workdir / "emulator", embedded=True, localstack=False)
    try:
        shape = build_estate(Estate.of(emulator), SAMPLE_TASKS)
        output = workdir / "sd"
        output.mkdir()
        done = subprocess.run([str(ours_binary()), "--once", "--listen", "off", "--output-dir", str(output)],
                              env={**emulator.env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise SystemExit(f"ecs-discoverer --once failed: {done.stderr[-2000:]}")
        groups = json.loads((output / FILES[0]).read_text())
        if len(groups) < shape.tasks:
            raise SystemExit(f"{len(groups)} groups for {shape.tasks} tasks: the estate was not discovered")
        return {name: (output / name).stat().st_size / shape.tasks for name in FILES}
    finally:
        emulator.stop()


def io_cpu_per_publication(directory: Path, sizes: dict[str, int]) -> float:
    """CPU seconds of one publication's file I/O: for each file, read the old one, write, fsync and
    rename a new one (alternating contents, so every publication changes every file)."""
    contents = {name: [bytes([ord("a") + i]) * size for i in range(2)] for name, size in sizes.items()}
    for name, (first, _) in contents.items():
        (directory / name).write_bytes(first)
    start = os.times()
    for publication in range(PUBLICATIONS):
        for name, versions in contents.items():
            path = directory / name
            old = path.read_bytes()
            new = versions[(publication + 1) % 2]
            assert old != new
            temp = directory / f".tmp-{name}"
            descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(descriptor, new)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(temp, path)
    end = os.times()
    return ((end.user - start.user) + (end.system - start.system)) / PUBLICATIONS


def polling_cpu_per_hour() -> dict[int, float]:
    """Polling's measured CPU seconds an hour, by N, from the last events benchmark (if any)."""
    path = RESULTS / "events.json"
    if not path.exists():
        return {}
    # bench_events records cpu_s per hour already.
    return {row["n"]: mode["cpu_s"] for row in json.loads(path.read_text())["rows"]
            for mode in row["modes"] if mode["mode"] == "polling" and not mode["error"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as scratch:
        per_task = bytes_per_task(Path(scratch))
        polling = polling_cpu_per_hour()
        filesystem = subprocess.run(["df", "--output=fstype", scratch], capture_output=True, text=True).stdout.split()[-1]
        lines = ["# The file I/O under each publication (issue 16's CPU target)", "", __doc__.strip(), "",
                 f"Run on {date.today().isoformat()}, {machine_description()}, files on {filesystem}.", "",
                 f"Bytes per task, from a `--once` run on a {SAMPLE_TASKS}-task bench estate: "
                 + ", ".join(f"`{name}` {size:,.0f}" for name, size in per_task.items()) + ".", "",
                 "Publications an hour: what bench_events' churn asks for (1% of the tasks replaced a minute, "
                 "a removal and an addition each), at most one a second.", "",
                 "| N | file sizes | I/O CPU per publication | publications/h | I/O CPU/h | "
                 "polling's whole CPU/h (events.json) |", "|---|---|---|---|---|---|"]
        for n in sizes:
            files = {name: round(size * n) for name, size in per_task.items()}
            with tempfile.TemporaryDirectory(dir=scratch) as directory:
                cpu = io_cpu_per_publication(Path(directory), files)
            whole = f"{polling[n]:.1f} s" if n in polling else "not measured"
            publications = publications_per_hour(n)
            lines.append(f"| {n:,} | " + " + ".join(f"{size / 2**20:.1f} MiB" for size in files.values())
                         + f" | {cpu * 1000:.1f} ms | {publications:,} | {cpu * publications:.1f} s | {whole} |")
    report = "\n".join(lines) + "\n"
    print(report)
    (RESULTS / "file-floor.md").write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
