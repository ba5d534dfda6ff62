#!/usr/bin/env bash
# Installs what the tests and the demo need, idempotently and locally:
#  - a project venv (.venv) with the pinned Python test bed (moto server, boto3, pytest, ...);
#  - checkov in its own venv (.tools/checkov), for the Terraform checks;
#  - LocalStack's community runtime in its own venv (.tools/localstack), the emulator of SSM, S3,
#    IAM, STS, KMS, Secrets Manager, Logs, EventBridge and SQS beside moto; skipped with
#    EMULATORS=moto (a machine where LocalStack can't be installed);
#  - Debian's prometheus, prometheus-node-exporter and prometheus-alertmanager, and nftables (the
#    ECS agent of the test bed enforces security groups with it), with apt, only when missing.
# Re-running it does nothing when everything is in place.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# pinned_venv DIR REQUIREMENTS PROBE MESSAGE: a venv at DIR with REQUIREMENTS installed, made
# again only when PROBE (a file in DIR) is missing or REQUIREMENTS changed since the last install.
pinned_venv() {
  local dir="$1" requirements="$2" probe="$3" message="$4"
  local stamp="$dir/.requirements.sha256"
  local want
  want="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [[ ! -x "$dir/$probe" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "deps: $message (pinned in ${requirements#"$root"/})"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
  fi
}

venv="$root/.venv"
# The three venvs are independent: installed side by side (a fresh machine waits on downloads
# and bytecode compiling more than on one CPU), and any failure fails the script.
installs=()
pinned_venv "$venv" "$root/integration-tests/install/requirements.txt" bin/python \
  "creating the project venv at .venv" & installs+=($!)
pinned_venv "$root/.tools/checkov" "$root/integration-tests/install/requirements-checkov.txt" bin/checkov \
  "installing checkov into .tools/checkov" & installs+=($!)
if [[ "${EMULATORS:-moto,localstack}" == *localstack* ]]; then
  pinned_venv "$root/.tools/localstack" "$root/integration-tests/install/requirements-localstack.txt" bin/python \
    "installing LocalStack into .tools/localstack" & installs+=($!)
else
  echo "deps: EMULATORS=${EMULATORS}: LocalStack not installed; every service runs on moto"
fi
for install in "${installs[@]}"; do
  wait "$install"
done

missing=()
command -v prometheus >/dev/null 2>&1 || [[ -x /usr/bin/prometheus ]] || missing+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || [[ -x /usr/bin/prometheus-node-exporter ]] || missing+=(prometheus-node-exporter)
# The ECS agent of the test bed runs the Alertmanager image's containers with Debian's binary.
[[ -x /usr/bin/prometheus-alertmanager ]] || missing+=(prometheus-alertmanager)
# The ECS agent of the test bed enforces the emulator's security groups in its namespaces.
[[ -x /usr/sbin/nft ]] || missing+=(nftables)
if (( ${#missing[@]} )); then
  echo "deps: installing ${missing[*]} from Debian"
  sudo_cmd=()
  [[ "$(id -u)" == 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  # policy-rc.d keeps the packages' own services from starting: the tests start their own.
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "deps: ready (venv: $venv; prometheus: $(/usr/bin/prometheus --version 2>&1 | head -1 | cut -d' ' -f3))"
