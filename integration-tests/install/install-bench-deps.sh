#!/usr/bin/env bash
# What `make bench` needs beyond `make deps`, idempotently:
#  - prometheus-ecs-discoverer 3.3.4 (the peer) in its own venv, .tools/promed;
#  - matplotlib in the project venv, for the plot;
#  - wrk from Debian, for http_sd under load;
#  - GNU time from Debian, for config-reloader's peak RSS (a child forked from the benchmark's
#    Python would report Python's pages as its own).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
promed="$root/.tools/promed"
if [[ ! -x "$promed/bin/python" ]] || ! "$promed/bin/python" -c "import prometheus_ecs_discoverer" 2>/dev/null; then
  echo "bench deps: installing prometheus-ecs-discoverer 3.3.4 into .tools/promed"
  python3 -m venv "$promed"
  "$promed/bin/pip" install --quiet --disable-pip-version-check "prometheus-ecs-discoverer==3.3.4"
fi
if ! "$root/.venv/bin/python" -c "import matplotlib" 2>/dev/null; then
  echo "bench deps: installing matplotlib into .venv"
  "$root/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/integration-tests/install/requirements-bench.txt"
fi
if ! command -v wrk >/dev/null 2>&1 || [[ ! -x /usr/bin/time ]]; then
  echo "bench deps: installing wrk and time from Debian"
  sudo_cmd=()
  [[ "$(id -u)" == 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends wrk time >/dev/null
fi
echo "bench deps: ready"
