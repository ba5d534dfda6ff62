"""Terraform: fmt, validate and checkov on `terraform/`; the emulator example applied, re-planned
clean, and its ECS estate discovered and scraped; the copy-paste task definitions validated,
registered, and compared with what Terraform registers.

Without terraform or its provider mirror on the machine, the module is skipped with one line
that says so (`-rs` prints it); nothing here is reported as passed unless it ran.
"""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator

from testbed.harness import ROOT, Emulator, find_binary, service_binary, wait_until
from testbed.seed import Estate, pasted_definition
from testbed.terraform_stack import (EMULATOR_EXAMPLE, TERRAFORM, TERRAFORM_DIR, AppliedStack, missing, terraform,
                             tf_env)

MODULES = sorted(p for p in (TERRAFORM_DIR / "modules").iterdir() if p.is_dir())
EXAMPLES = sorted(p for p in (TERRAFORM_DIR / "examples").iterdir() if p.is_dir())
TASK_DEFINITIONS = sorted((ROOT / "task-definitions").glob("*.json"))
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"


if missing():
    pytest.skip(f"Terraform checks did not run: {missing()}", allow_module_level=True)


def test_fmt() -> None:
    done = subprocess.run([TERRAFORM, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)],
                          env=tf_env(Path("/nonexistent")), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"terraform fmt -check found unformatted files:\n{done.stdout}"


def test_validate_every_module_and_example(tmp_path: Path) -> None:
    def validate(directory: Path) -> str | None:
        env = tf_env(tmp_path / directory.name)
        try:
            terraform(directory, "init", "-backend=false", env=env)
            terraform(directory, "validate", env=env)
        except AssertionError as failure:
            return str(failure)
        return None

    with ThreadPoolExecutor(max_workers=3) as pool:
        failures = [f for f in pool.map(validate, MODULES + EXAMPLES) if f]
    assert not failures, "\n\n".join(failures)
    assert len(MODULES) >= 9 and len(EXAMPLES) == 2


def test_checkov_finds_nothing() -> None:
    assert CHECKOV.exists(), "checkov is missing: run `make deps`"
    done = subprocess.run([str(CHECKOV), "--directory", str(TERRAFORM_DIR), "--framework", "terraform",
                           "--skip-download", "--quiet", "--compact", "--output", "json"],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    summary = reports[0]["summary"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})"
              for r in reports for c in r["results"].get("failed_checks", [])]
    assert summary["failed"] == 0 and not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert summary["passed"] > 100, summary


def test_module_readmes_list_every_input_and_output() -> None:
    python = ROOT / ".tools" / "checkov" / "bin" / "python"
    done = subprocess.run([str(python), str(TERRAFORM_DIR / "module-docs.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- the emulator example -----------------------------------------------------------------


@pytest.fixture(scope="module")
def applied(fresh_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> AppliedStack:
    """`terraform apply` of examples/emulator against an emulator of this module's own."""
    return AppliedStack(fresh_emulator, tmp_path_factory.mktemp("terraform-emulator")).apply()


def test_emulator_apply_then_plan_shows_no_changes(applied: AppliedStack) -> None:
    plan = terraform(EMULATOR_EXAMPLE, "plan", "-detailed-exitcode", *applied.vars, env=applied.env,
                     check=False)
    changed = [line.strip() for line in plan.stdout.splitlines()
               if re.match(r"\s+[~+-] ", line) or line.strip().startswith("# ")]
    assert plan.returncode == 0, "the re-plan after apply is not clean:\n" + "\n".join(changed) + plan.stderr


def test_each_port_is_open_only_to_its_clients(applied: AppliedStack) -> None:
    """No ingress from the whole VPC: the instances (privileged cAdvisor, dynamic host ports) take
    scrapes from Prometheus only; 9090 (lifecycle API on) takes Grafana, Prometheus itself and the
    port-forwarding instances; Alertmanager and Grafana take Prometheus and the instances, and
    the Alertmanagers each other's gossip. The
    emulator doesn't enforce security groups, so the state is what is checked."""
    resources = applied.resources()
    group = {r["values"]["name"].removeprefix("emu-"): r["values"]["id"]
             for r in resources if r["type"] == "aws_security_group"}
    name = {v: k for k, v in group.items()}
    rules = [r["values"] for r in resources if r["type"] == "aws_vpc_security_group_ingress_rule"]
    assert rules and not [r for r in rules if r["cidr_ipv4"] or r["cidr_ipv6"]], \
        "ingress from CIDR blocks with no operator_cidr_blocks given"

    def sources(target: str) -> set[tuple[str, int, int]]:
        return {(name[r["referenced_security_group_id"]], r["from_port"], r["to_port"])
                for r in rules if r["security_group_id"] == group[target]}

    assert sources("ecs-instances") == {("prometheus", 9100, 9100), ("prometheus", 32768, 65535)}
    assert sources("prometheus") == {(g, 9090, 9090) for g in ("prometheus", "grafana", "ecs-instances")}
    # ... and the Alertmanager cluster its own gossip, over TCP and UDP.
    assert sources("alertmanager") == {(g, 9093, 9093) for g in ("prometheus", "ecs-instances")} | \
        {("alertmanager", 9094, 9094)}
    assert sorted(r["ip_protocol"] for r in rules if r["to_port"] == 9094) == ["tcp", "udp"]
    assert sources("grafana") == {(g, 3000, 3000) for g in ("prometheus", "ecs-instances")}


def test_every_ssm_parameter_fits_the_tier_aws_would_give_it(applied: AppliedStack) -> None:
    """AWS refuses a Standard-tier value over 4 KB and any value over 8 KB; neither emulator
    refuses either (test_emulator_split), so the applied values are held to AWS's limits here."""
    parameters = [r["values"] for r in applied.resources() if r["type"] == "aws_ssm_parameter"]
    assert parameters
    for parameter in parameters:
        size = len(parameter["value"].encode())
        assert size <= 8192, f"{parameter['name']}: {size} bytes, over SSM's 8 KB maximum"
        tier = parameter.get("tier") or "Standard"  # the provider leaves it out when not set
        assert tier == ("Advanced" if size > 4096 else "Standard"), (parameter["name"], size, sorted(parameter))


def test_grafanas_admin_password_is_in_the_secret_and_not_in_the_state(applied: AppliedStack) -> None:
    """The password is ephemeral and written through secret_string_wo: Secrets Manager has it,
    Terraform's state never does."""
    arn = applied.output()["grafana_admin_password_secret_arn"]
    password = applied.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    assert len(password) == 32 and password.isalnum()
    assert password not in applied.state.read_text()
    [version] = [r["values"] for r in applied.resources() if r["type"] == "aws_secretsmanager_secret_version"]
    assert not version.get("secret_string") and version["secret_string_wo_version"] == 1, version


def test_terraform_estate_is_discovered_and_scraped(applied: AppliedStack, tmp_path: Path,
                                                    prometheus_factory) -> None:
    """Terraform → ECS estate → ecs-discoverer → Prometheus. The test boots the auto scaling
    groups' instances as their user data says (the cluster's two, and one per Prometheus
    replica), and the emulator's scheduler (fidelity P11) starts the DAEMON services on all four."""
    cluster = applied.output()["cluster_name"]
    ips = applied.boot_instances()
    assert len(ips) == 4

    sd_dir = tmp_path / "sd"
    sd_dir.mkdir()
    done = subprocess.run([str(service_binary("ecs-discoverer")), "--once", "--listen", "off",
                           "--clusters", cluster, "--output-dir", str(sd_dir)],
                          env={**applied.emulator.env, "PATH": "/usr/bin:/bin"}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    groups = json.loads((sd_dir / "ecs_file_sd.json").read_text())
    found = sorted((g["labels"]["job"], g["labels"]["ecs_service"], g["targets"][0].split(":")[0])
                   for g in groups)
    assert found == sorted([("cadvisor", "emu-cadvisor", ip) for ip in ips]
                           + [("node-exporter", "emu-node-exporter", ip) for ip in ips]), found
    node_targets = {g["targets"][0] for g in groups if g["labels"]["job"] == "node-exporter"}
    assert node_targets == {f"{ip}:9100" for ip in ips}

    prometheus = prometheus_factory(config={
        "global": {"scrape_interval": "1m"},
        "scrape_configs": [{"job_name": "ecs", "file_sd_configs": [{"files": [str(sd_dir / "ecs_file_sd.json")]}]}],
    })
    listed = wait_until(lambda: len(prometheus.active_targets()) == 8 and prometheus.active_targets(), 30,
                        "Prometheus to list the eight daemon targets")
    assert sorted(t["labels"]["job"] for t in listed) == ["cadvisor"] * 4 + ["node-exporter"] * 4


def test_terraform_written_prometheus_config_is_fetched_and_valid(applied: AppliedStack, tmp_path: Path) -> None:
    """The config and alert rules Terraform put in SSM go through the config-reloader and pass
    promtool."""
    parameter = applied.output()["prometheus_config_parameter"]
    path = parameter.rsplit("/", 1)[0]
    done = subprocess.run([str(service_binary("config-reloader"))], capture_output=True, text=True, timeout=60,
                          env={**applied.emulator.env, "PATH": "/usr/bin:/bin", "CONFIG_SOURCE": "ssm",
                               "SOURCE_PROMETHEUS_CONFIG_FILE_PATH": parameter,
                               "SOURCE_PROMETHEUS_SCRAPE_CONFIGS_PATH": f"{path}/scrape",
                               "CONFIG_FILE_DIR": str(tmp_path), "CONFIG_FILE_NAME": "prometheus.yml",
                               "CONFIG_RELOAD_FREQUENCY": "0", "RELOADER_LISTEN": "off"})
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "cloudmap.json").read_text()) == []  # no instance registered yet
    promtool = find_binary("promtool")
    assert promtool, "promtool (Debian package prometheus) is missing: run `make deps`"
    checked = subprocess.run([promtool, "check", "config", "--syntax-only", str(tmp_path / "prometheus.yml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = subprocess.run([promtool, "check", "rules", str(tmp_path / "ecs-monitoring.rules.yml")],
                           capture_output=True, text=True, timeout=60)
    assert rules.returncode == 0, rules.stdout + rules.stderr


# --- the plan matrix: the example's choices, planned against the emulator ---------------------

AMP_ARN = "arn:aws:aps:us-east-1:123456789012:workspace/ws-0a1b2c3d-4e5f-6789-abcd-ef0123456789"
SNS_TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
SNAPSHOTS = '{time="03:00",count=7}'
PLAN_MATRIX = [
    {"remote_write": "none", "prometheus_storage": "fargate-ephemeral-lost-with-task", "prometheus_replicas": "1",
     "enable_grafana": "false", "enable_alertmanager": "false"},
    {"remote_write": "existing", "amp_workspace_arn": AMP_ARN, "prometheus_storage": "instance-ebs",
     "prometheus_replicas": "2", "prometheus_snapshot_schedule": SNAPSHOTS, "enable_grafana": "true",
     "alert_receiver": f'{{sns_topic_arn="{SNS_TOPIC}"}}'},
    {"remote_write": "create", "prometheus_storage": "instance-ebs", "prometheus_replicas": "1", "enable_grafana": "true",
     "alertmanager_replicas": "1"},
    {"remote_write": "create", "prometheus_storage": "fargate-ebs-lost-with-task", "prometheus_replicas": "2",
     "enable_grafana": "false"},
]


@pytest.fixture(scope="module")
def planner(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> AppliedStack:
    """examples/emulator initialised once; each plan gets a state of its own (empty)."""
    stack = AppliedStack(emulator, tmp_path_factory.mktemp("terraform-plans"))
    terraform(EMULATOR_EXAMPLE, "init", env=stack.env)
    return stack


def plan(planner: AppliedStack, choices: dict[str, str], state: Path,
         out: Path | None = None) -> subprocess.CompletedProcess:
    """The emulator example planned with `choices` on an empty `state` (saved to `out` if given)."""
    variables = [arg for key, value in choices.items() for arg in ("-var", f"{key}={value}")]
    saved = [f"-out={out}"] if out else []
    return terraform(EMULATOR_EXAMPLE, "plan", "-input=false", f"-var-file={planner.var_file}", f"-state={state}", *variables,
                     *saved, env=planner.env, check=False, timeout=300)


@pytest.mark.parametrize("choices", PLAN_MATRIX, ids=lambda c: "-".join(
    f"{c['remote_write']} {c['prometheus_storage']} x{c['prometheus_replicas']} grafana={c['enable_grafana']}"
    f" alertmanager={c.get('enable_alertmanager', 'true')}x{c.get('alertmanager_replicas', '2')}"
    f"{'+sns' if 'alert_receiver' in c else ''}".split()))
def test_the_examples_choices_plan(choices: dict[str, str], planner: AppliedStack, tmp_path: Path) -> None:
    done = plan(planner, choices, tmp_path / "terraform.tfstate")
    assert done.returncode == 0, f"plan failed for {choices}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    planned = done.stdout
    assert ("aws_prometheus_workspace.this[0] will be created" in planned) == (choices["remote_write"] == "create")
    if choices["remote_write"] == "existing":
        assert "aps:RemoteWrite" in planned and AMP_ARN in planned
    if choices["remote_write"] == "none":
        assert "aps:RemoteWrite" not in planned
    # With remote write, Grafana gets the workspace as a second data source, signed as its task
    # role, which may query it; without, neither.
    grafana = choices["enable_grafana"] == "true"
    amp_source = grafana and choices["remote_write"] != "none"
    assert ("aps:QueryMetrics" in planned) == amp_source
    assert ("sigV4Auth: true" in planned) == (amp_source and choices["remote_write"] == "existing")  # else known after apply
    if amp_source and choices["remote_write"] == "existing":
        assert f"url: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{AMP_ARN.rsplit('/', 1)[1]}\n" in planned
    # A module switched off (its `create`) plans nothing at all.
    assert ("module.grafana.module.service.aws_ecs_service.this[0] will be created" in planned) == grafana
    assert bool(re.search(r"# module\.stack\.module\.grafana\.\S+ will be created", planned)) == grafana
    storage, replicas = choices["prometheus_storage"], int(choices["prometheus_replicas"])
    assert ("volume_configuration" in planned) == (storage == "fargate-ebs-lost-with-task")
    for replica in range(3):
        service = f"module.prometheus.module.service.aws_ecs_service.this[{replica}] will be created" in planned
        volume = f"module.prometheus.aws_ebs_volume.data[{replica}] will be created" in planned
        instances = f"module.prometheus.module.replica_instances[{replica}].aws_autoscaling_group.this[0] will be created" in planned
        assert service == (replica < replicas)
        assert volume == instances == (replica < replicas and storage == "instance-ebs")
    assert planned.count('launch_type                        = "EC2"') == (replicas if storage == "instance-ebs" else 0)
    assert ("aws_dlm_lifecycle_policy.snapshots[0] will be created" in planned) == \
        ("prometheus_snapshot_schedule" in choices and storage == "instance-ebs")
    alertmanager = choices.get("enable_alertmanager", "true") == "true"
    assert ("module.alertmanager.module.service.aws_ecs_service.this[0] will be created" in planned) == alertmanager
    assert bool(re.search(r"# module\.stack\.module\.alertmanager\.\S+ will be created", planned)) == alertmanager
    assert ("sns:Publish" in planned and SNS_TOPIC in planned) == ("alert_receiver" in choices)
    # Two Alertmanagers or more are one gossip cluster: peers by the Cloud Map name, port 9094.
    clustered = alertmanager and choices.get("alertmanager_replicas", "2") != "1"
    assert ("--cluster.peer=alertmanager.monitoring.internal:9094" in planned) == clustered
    assert bool(re.search(r'aws_vpc_security_group_ingress_rule\.from_self\["udp/9094"\] will be created', planned)) == clustered
    # The placeholder receiver is a warning at plan, never silent.
    placeholder = alertmanager and "alert_receiver" not in choices
    assert ("alert_receiver is still the placeholder" in done.stdout + done.stderr) == placeholder


def test_remote_write_existing_without_a_workspace_is_refused_at_plan(planner: AppliedStack, tmp_path: Path) -> None:
    done = plan(planner, {"remote_write": "existing"}, tmp_path / "terraform.tfstate")
    assert done.returncode != 0
    assert "amp_workspace_arn" in done.stderr and "arn:aws:aps" in done.stderr, done.stderr


@pytest.mark.parametrize("variable", ["event_reconcile_interval", "discoverer_cache_ttl"])
def test_a_zero_discoverer_duration_is_refused_at_plan(variable: str, planner: AppliedStack, tmp_path: Path) -> None:
    """ecs-discoverer exits at start on a zero duration, so its service would never run: the plan
    refuses it, naming the variable."""
    done = plan(planner, {variable: "0s"}, tmp_path / "terraform.tfstate")
    assert done.returncode != 0, done.stdout[-2000:]
    assert variable in done.stderr and "positive duration" in done.stderr, done.stderr


def test_the_modules_claim_only_the_provider_major_the_tests_run() -> None:
    """The examples pin the provider every test runs (the mirror's); each module claims that
    version up to the next major, and no further: a major nothing here ran is not claimed."""
    def provider_version(directory: Path) -> str:
        return re.search(r'^\s*version\s*=\s*"([^"]+)"', (directory / "versions.tf").read_text(), re.M).group(1)

    (pinned,) = {provider_version(example) for example in EXAMPLES}
    wanted = f">= {pinned}, < {int(pinned.split('.')[0]) + 1}.0.0"
    claims = {module.name: provider_version(module) for module in MODULES}
    assert all(claim == wanted for claim in claims.values()), f"wanted {wanted}: {claims}"


def test_every_variable_of_every_module_and_example_is_read() -> None:
    """A variable that no resource, module argument, local or output reads is ignored in silence:
    each one is read (`var.<name>`) in a .tf file of its own module or example besides its
    declaration (a validation that names it doesn't count)."""
    unread = []
    for directory in [*MODULES, *EXAMPLES]:
        declared = re.findall(r'^variable "(\w+)"', (directory / "variables.tf").read_text(), re.M)
        body = "".join(p.read_text() for p in directory.glob("*.tf") if p.name != "variables.tf")
        unread += [f"{directory.name}: {name}" for name in declared if not re.search(rf"\bvar\.{name}\b", body)]
    assert not unread, f"variables that reach nothing: {unread}"


LOG_KEY = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-4000-8000-00000000001a"
SECRET_KEY = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-4000-8000-00000000002b"


def test_log_and_secret_settings_reach_every_log_group_secret_and_bucket(planner: AppliedStack,
                                                                        tmp_path: Path) -> None:
    """The stack's log_retention_days and log_kms_key_arn reach every container log group
    (Prometheus, Alertmanager, Grafana and both daemons), and secret_kms_key_arn Grafana's secret
    and config bucket: planned, since the emulator has no such keys."""
    planfile = tmp_path / "plan"
    done = plan(planner, {"log_retention_days": "7", "log_kms_key_arn": LOG_KEY, "secret_kms_key_arn": SECRET_KEY},
                tmp_path / "terraform.tfstate", out=planfile)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shown = json.loads(terraform(EMULATOR_EXAMPLE, "show", "-json", str(planfile), env=planner.env).stdout)
    after = [(c["type"], c["change"]["after"]) for c in shown["resource_changes"]]
    groups = {a["name"]: (a["retention_in_days"], a["kms_key_id"]) for t, a in after
              if t == "aws_cloudwatch_log_group" and a["name"].startswith("/ecs/")}
    assert {name.rsplit("-", 1)[-1] for name in groups} >= {"prometheus", "alertmanager", "grafana", "exporter",
                                                           "cadvisor"}, groups
    assert all(settings == (7, LOG_KEY) for settings in groups.values()), groups
    secrets = [a["kms_key_id"] for t, a in after if t == "aws_secretsmanager_secret"]
    encryption = [a["rule"][0]["apply_server_side_encryption_by_default"][0]["kms_master_key_id"] for t, a in after
                  if t == "aws_s3_bucket_server_side_encryption_configuration"]
    assert secrets == [SECRET_KEY] and SECRET_KEY in encryption, (secrets, encryption)


# --- task definitions -----------------------------------------------------------------------

@pytest.mark.parametrize("path", TASK_DEFINITIONS, ids=lambda p: p.name)
def test_task_definitions_are_valid_and_register(path: Path, emulator: Emulator) -> None:
    params = pasted_definition(path)
    shape = get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), report.generate_report()
    ecs = Estate.of(emulator).ecs
    registered = ecs.register_task_definition(**params)["taskDefinition"]
    assert registered["family"] == params["family"]
    assert [c["name"] for c in registered["containerDefinitions"]] == \
        [c["name"] for c in params["containerDefinitions"]]


def comparable(container: dict) -> dict:
    """The fields a copy-paste definition must share with Terraform's."""
    image = container["image"]
    if ".dkr.ecr." in image or image.endswith(":emulator"):  # the project's own images
        image = image.rsplit("/", 1)[-1].split(":")[0]
    return {
        "name": container["name"].removeprefix("emu-"),
        "image": image,
        "essential": container.get("essential", True),
        "ports": sorted((p["containerPort"], p.get("hostPort")) for p in container.get("portMappings", [])),
        "environment": sorted(e["name"] for e in container.get("environment", [])),
        "secrets": sorted(s["name"] for s in container.get("secrets", [])),
        "mounts": sorted((m["sourceVolume"], m["containerPath"], m.get("readOnly", False))
                         for m in container.get("mountPoints", [])),
        "dependsOn": sorted((d["containerName"].removeprefix("emu-"), d["condition"])
                            for d in container.get("dependsOn", [])),
        "dockerLabels": container.get("dockerLabels", {}),
        "command": container.get("command", []),
        "entryPoint": container.get("entryPoint", []),
        "user": container.get("user"),
        "readonlyRootFilesystem": container.get("readonlyRootFilesystem", False),
    }


@pytest.mark.parametrize("family", ["prometheus", "alertmanager", "grafana", "node-exporter", "cadvisor"])
def test_task_definitions_match_terraform(family: str, applied: AppliedStack) -> None:
    # With its placeholders filled as a user would for the emulator example's names.
    pasted = pasted_definition(ROOT / "task-definitions" / f"{family}.json")
    # Prometheus's file is replica 0's definition.
    registered_family = "emu-prometheus-0" if family == "prometheus" else f"emu-{family}"
    registered = applied.client("ecs").describe_task_definition(taskDefinition=registered_family)["taskDefinition"]
    assert [comparable(c) for c in pasted["containerDefinitions"]] == \
        [comparable(c) for c in registered["containerDefinitions"]]
    assert pasted["networkMode"] == registered["networkMode"]
    assert pasted.get("pidMode") == registered.get("pidMode")
    assert pasted.get("runtimePlatform") == registered.get("runtimePlatform")
    assert pasted.get("requiresCompatibilities") == registered.get("requiresCompatibilities")
    assert volumes(pasted) == volumes(registered)


def volumes(definition: dict) -> list[tuple]:
    """Each volume's name, host path and whether it is configured at launch."""
    return sorted((v["name"], (v.get("host") or {}).get("sourcePath"), bool(v.get("configuredAtLaunch")))
                  for v in definition.get("volumes", []))
