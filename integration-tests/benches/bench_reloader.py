"""`make bench`, config-reloader section: peak memory of one pass over a large S3 config (issue 18,
item 2). The documents are the issue's shapes: a 22 MB main config of small mappings, and a 200 MB
block scalar. Each runs through the release binary in once-mode, with the size cap raised so the
document is read; the figure is the process's peak RSS as GNU time reports it (a child forked from
this Python would count Python's pages as its own high-water mark). Runnable on its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from testbed.harness import Emulator, cargo_target_dir
from testbed.seed import Estate

# What the probe measured on the code that built a serde_yaml value tree.
TREE_FIGURES_MIB = {"small mappings": 1500, "block scalar": 870}


def reloader_binary() -> Path:
    path = Path(os.environ.get("BENCH_RELOADER", cargo_target_dir() / "release" / "config-reloader"))
    if not path.exists():
        sys.exit(f"{path} is missing: `make bench` builds it (cargo build --release -p config-reloader)")
    return path


def document(name: str) -> bytes:
    if name == "small mappings":
        return ("scrape_configs:\n" + "".join(f"  - {{job: j{i}, port: {i % 65536}}}\n"
                                              for i in range(800_000))).encode()
    return ("big: |\n" + ("  " + "x" * 98 + "\n") * 2_000_000).encode()


def peak_rss_mib_of_one_pass(emulator: Emulator, key: str, workdir: Path) -> float:
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**emulator.env, "PATH": "/usr/bin:/bin", "CONFIG_SOURCE": "s3",
           "SOURCE_PROMETHEUS_CONFIG_FILE_PATH": f"s3://bench-config/{key}", "CONFIG_FILE_DIR": str(workdir),
           "CONFIG_RELOAD_FREQUENCY": "0", "RELOADER_LISTEN": "off",
           "CONFIG_MAX_OBJECT_BYTES": str(512 * 1024 * 1024)}
    report = workdir / "time.txt"
    done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(report), str(reloader_binary())],
                          env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        sys.exit(f"config-reloader failed on {key}: {done.stderr[-2000:]}")
    return int(report.read_text().split()[-1]) / 1024


def reloader_memory(emulator: Emulator, workdir: Path) -> list[dict]:
    estate = Estate.of(emulator)
    rows = []
    for name in TREE_FIGURES_MIB:
        key = name.replace(" ", "-") + ".yml"
        body = document(name)
        estate.s3_object("bench-config", key, body)
        size_mib = len(body) / 2**20
        del body
        peak = peak_rss_mib_of_one_pass(emulator, key, workdir / key)
        rows.append({"document": name, "mib": size_mib, "peak_mib": peak, "tree_mib": TREE_FIGURES_MIB[name]})
        print(f"  config-reloader, {size_mib:.0f} MiB of {name}: peak RSS {peak:.0f} MiB", flush=True)
    return rows


def report(rows: list[dict]) -> str:
    lines = ["## config-reloader: peak memory of one pass over a large config", "",
             "Once-mode, release build, the document read from S3 (moto) with `CONFIG_MAX_OBJECT_BYTES` raised to "
             "512 MiB so it is read at all (the default cap, 8 MiB, refuses both without downloading them). "
             "Peak RSS from GNU time. The 'value tree' column is the issue's measurement of the code before the "
             "streaming check, not re-run here.", "",
             "| document | size | peak RSS | RSS / size | value tree (issue 18) |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['document']} | {row['mib']:.0f} MiB | {row['peak_mib']:.0f} MiB | "
                     f"{row['peak_mib'] / row['mib']:.1f}x | {row['tree_mib']} MiB |")
    return "\n".join(lines)


def main() -> int:
    workdir = Path(os.environ.get("BENCH_WORKDIR", "/tmp/ecs-bench")) / "reloader"
    emulator = Emulator(log_dir=workdir, embedded=True, localstack=False)
    try:
        print(report(reloader_memory(emulator, workdir)))
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
