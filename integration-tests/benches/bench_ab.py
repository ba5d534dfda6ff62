"""An alternating A/B of two ecs-discoverer builds on one emulator estate, with bench.py's own
measurements: cycle CPU, RSS and calls (`run_tool`) at N = 1,000 and 5,000, and http_sd under load
(`http_sd_load`) at 5,000. Alternating runs on one estate keep the emulator's and the machine's
drift out of the comparison, which a day-to-day `make bench` can't.

    ../.venv/bin/python -m benches.bench_ab OLD_BINARY NEW_BINARY [--runs 3] [--load-rounds 2] [--sizes 1000,5000]
        [--warm-cycles 5]

A warm cycle's CPU is a few ms, near the 10 ms tick of /proc's CPU times: more warm cycles per run
(`--warm-cycles`, bench.py's WARM_CYCLES) narrow it.

Build the old binary from a worktree of the old commit (`cargo build --release -p ecs-discoverer`).
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import bench
from testbed.harness import Emulator
from testbed.seed import Estate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binaries", nargs=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--load-rounds", type=int, default=2)
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--warm-cycles", type=int, default=bench.WARM_CYCLES)
    args = parser.parse_args()
    bench.WARM_CYCLES = args.warm_cycles
    workdir = Path(os.environ.get("BENCH_WORKDIR", "/tmp/ecs-bench-ab"))
    workdir.mkdir(parents=True, exist_ok=True)
    emulator = Emulator(log_dir=workdir, embedded=True, localstack=False,
                        extra_env={"MOTO_RECORDER_FILEPATH": str(workdir / "recording.jsonl")})
    ours = next(iter(bench.TOOLS))
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            emulator.reset()
            estate = Estate.of(emulator)
            estate.network()
            bench.build_estate(estate, n)
            runs: dict[str, list[bench.Run]] = {binary: [] for binary in args.binaries}
            for i in range(args.runs):
                for binary in args.binaries:
                    os.environ["BENCH_DISCOVERER"] = binary
                    runs[binary].append(bench.run_tool(ours, emulator, workdir / f"{n}-{i}-{len(runs[binary])}",
                                                       timeout=600))
            for binary, done in runs.items():
                print(f"N={n} {binary}: cold CPU {statistics.median(r.cold_cpu for r in done):.4f}s "
                      f"{[round(r.cold_cpu, 3) for r in done]}, warm CPU "
                      f"{statistics.median(r.warm_cpu for r in done):.4f}s {[round(r.warm_cpu, 4) for r in done]}, "
                      f"RSS {statistics.median(r.rss_mib for r in done):.1f} MiB, "
                      f"calls cold {sum(done[0].cold_calls.values())} warm {sum(done[0].warm_calls.values())}",
                      flush=True)
        for round_ in range(args.load_rounds):
            for binary in args.binaries:
                os.environ["BENCH_DISCOVERER"] = binary
                load = bench.http_sd_load(emulator, workdir)
                print(f"http_sd load, round {round_ + 1}, {binary}: {load.get('rps', 0):.0f} req/s, "
                      f"p99 {load.get('p99')}", flush=True)
    finally:
        emulator.kill()


if __name__ == "__main__":
    main()
