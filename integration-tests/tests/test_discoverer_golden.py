"""The full estate (every convention, network mode and skip reason the emulator can produce)
gives exactly the groups in `golden/full_estate.json`, reviewed by eye once.

Values the emulator draws at random (task and container-instance ids, EC2 instance ids, loopback
addresses, dynamic host ports) are replaced by numbered placeholders in order of first
appearance, so the file shows which groups share a task or an address. Regenerate it with
`UPDATE_GOLDEN=1 make test-integration` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from testbed.harness import Emulator, service_binary
from testbed.seed import Estate, container
from testbed.discoverer import run_once, seed_estate
from testbed.network import PLAN

GOLDEN = Path(__file__).resolve().parent / "golden" / "full_estate.json"

VOLATILE = [
    ("id", re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")),
    ("ec2", re.compile(r"\bi-[0-9a-f]{8,17}\b")),
    ("ip", re.compile(rf"\b127\.{PLAN.octet}\.\d{{1,3}}\.\d{{1,3}}\b")),  # the worker's VPC
    # Dynamic host ports (the emulator hands them out from 32768); the estate's fixed ports are lower.
    ("port", re.compile(r"(?<=:)(3[2-9]\d{3}|[4-6]\d{4})(?=\")")),
]


def seed_full_estate(estate: Estate) -> None:
    """`seed_estate` plus awsvpc on EC2, task-tag endpoints with suffixes, scheme and server
    name, custom labels, a duplicate endpoint, and a label-convention port with no binding."""
    seed_estate(estate)
    worker = estate.task_definition("worker", [container("worker", ports=[9200], env={
        "PROMETHEUS_TARGET": "true", "PROMETHEUS_ENDPOINT": "/a,5m:/b,/a",
        "PROMETHEUS_LABEL_team": "payments"})], network_mode="awsvpc")
    estate.run_tasks("east", worker, awsvpc=True, tags={
        "METRICS_PORT_admin": "9300", "METRICS_PATH_admin": "/admin/metrics", "METRICS_NAME_admin": "admin"})
    secure = estate.task_definition("secure", [
        container("secure", ports=[8443], labels={
            "PROMETHEUS_EXPORTER_PORT": "8443", "PROMETHEUS_EXPORTER_SCHEME": "https",
            "PROMETHEUS_EXPORTER_SERVER_NAME": "secure.internal", "PROMETHEUS_EXPORTER_PATH": "/stats"}),
        container("unmapped", ports=[8080], labels={"PROMETHEUS_EXPORTER_PORT": "7000"}),
    ])
    estate.run_tasks("us-east", secure)


def normalise(document: object) -> object:
    text = json.dumps(document, indent=1, sort_keys=True)
    seen: dict[tuple[str, str], str] = {}
    for kind, pattern in VOLATILE:
        def placeholder(match: re.Match[str], kind: str = kind) -> str:
            key = (kind, match.group(0))
            if key not in seen:
                seen[key] = f"<{kind}-{sum(1 for k in seen if k[0] == kind) + 1}>"
            return seen[key]
        text = pattern.sub(placeholder, text)
    return json.loads(text)


def sort_key(group: dict) -> tuple:
    labels = group["labels"]
    return (labels.get("ecs_cluster", ""), labels.get("ecs_container", ""),
            labels.get("__metrics_path__", ""), labels.get("scrape_target_name", ""))


def test_full_estate_matches_the_golden_file(estate: Estate, emulator: Emulator, tmp_path: Path) -> None:
    seed_full_estate(estate)
    done = run_once(emulator, "--output-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    groups = sorted(json.loads((tmp_path / "ecs_file_sd.json").read_text()), key=sort_key)
    explained = subprocess.run([str(service_binary("ecs-discoverer")), "explain", "--json"],
                               env={**emulator.env, "PATH": "/usr/bin:/bin"}, capture_output=True,
                               text=True, timeout=60)
    assert explained.returncode == 0, explained.stderr
    skipped = sorted(json.loads(explained.stdout), key=lambda s: (s["cluster"], s["container"], s["reason_code"]))
    actual = normalise({"ecs_file_sd.json": groups, "skipped": skipped})

    # Read before any update: with UPDATE_GOLDEN the new file is written for review, and the
    # test still fails on a difference instead of comparing the file with itself.
    expected = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else None
    if os.environ.get("UPDATE_GOLDEN") and actual != expected:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
        pytest.fail(f"{GOLDEN.name} updated: review `git diff {GOLDEN.relative_to(GOLDEN.parents[1])}`, "
                    "then run again without UPDATE_GOLDEN")
    assert expected is not None, f"{GOLDEN} is missing: run once with UPDATE_GOLDEN=1 and review it"
    assert actual == expected, "the discovered groups differ from golden/full_estate.json"
