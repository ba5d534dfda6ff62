#!/usr/bin/env bash
# Installs what the tests and the demo need, idempotently and locally:
#  - a project venv (.venv) with the pinned Python test bed (moto server, boto3, pytest, ...);
#  - checkov in its own venv (.tools/checkov), for the Terraform checks;
#  - LocalStack's community runtime in its own venv (.tools/localstack), the emulator of SSM, S3,
#    IAM, STS, KMS, Secrets Manager, Logs, EventBridge and SQS beside moto; skipped with
#    EMULATORS=moto (a machine where LocalStack can't be installed);
#  - Debian's prometheus, prometheus-node-exporter and prometheus-alertmanager, with apt, only
#    when missing.
# Re-running it does nothing when everything is in place.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
requirements="$root/integration-tests/requirements.txt"
stamp="$venv/.requirements.sha256"

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "deps: creating the project venv at .venv (pinned in integration-tests/requirements.txt)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi

checkov_venv="$root/.tools/checkov"
checkov_requirements="$root/integration-tests/requirements-checkov.txt"
checkov_stamp="$checkov_venv/.requirements.sha256"
checkov_want="$(sha256sum "$checkov_requirements" | cut -d' ' -f1)"
if [[ ! -x "$checkov_venv/bin/checkov" || "$(cat "$checkov_stamp" 2>/dev/null)" != "$checkov_want" ]]; then
  echo "deps: installing checkov into .tools/checkov (pinned in integration-tests/requirements-checkov.txt)"
  python3 -m venv "$checkov_venv"
  "$checkov_venv/bin/pip" install --quiet --disable-pip-version-check -r "$checkov_requirements"
  echo "$checkov_want" > "$checkov_stamp"
fi

if [[ "${EMULATORS:-moto,localstack}" == *localstack* ]]; then
  localstack_venv="$root/.tools/localstack"
  localstack_requirements="$root/integration-tests/requirements-localstack.txt"
  localstack_stamp="$localstack_venv/.requirements.sha256"
  localstack_want="$(sha256sum "$localstack_requirements" | cut -d' ' -f1)"
  if [[ ! -x "$localstack_venv/bin/python" || "$(cat "$localstack_stamp" 2>/dev/null)" != "$localstack_want" ]]; then
    echo "deps: installing LocalStack into .tools/localstack (pinned in integration-tests/requirements-localstack.txt)"
    python3 -m venv "$localstack_venv"
    "$localstack_venv/bin/pip" install --quiet --disable-pip-version-check -r "$localstack_requirements"
    echo "$localstack_want" > "$localstack_stamp"
  fi
else
  echo "deps: EMULATORS=${EMULATORS}: LocalStack not installed; every service runs on moto"
fi

missing=()
command -v prometheus >/dev/null 2>&1 || [[ -x /usr/bin/prometheus ]] || missing+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || [[ -x /usr/bin/prometheus-node-exporter ]] || missing+=(prometheus-node-exporter)
# The ECS agent of the test bed runs the Alertmanager image's containers with Debian's binary.
[[ -x /usr/bin/prometheus-alertmanager ]] || missing+=(prometheus-alertmanager)
if (( ${#missing[@]} )); then
  echo "deps: installing ${missing[*]} from Debian"
  sudo_cmd=()
  [[ "$(id -u)" == 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  # policy-rc.d keeps the packages' own services from starting: the tests start their own.
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "deps: ready (venv: $venv; prometheus: $(/usr/bin/prometheus --version 2>&1 | head -1 | cut -d' ' -f3))"
