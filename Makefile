# ECS monitoring stack: build, test and demo. `make` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PYTHON      := $(VENV)/bin/python
CARGO       ?= cargo
# One build profile (dev, dependencies without debug info) for tests and the demo.
CARGO_FLAGS ?= --workspace --locked
PYTEST_ARGS ?= -rs
# pytest-xdist workers for the integration tests: the tests mostly wait on emulators, processes
# and Prometheus, so two CPUs keep this many busy (0: no xdist, one process). The ECS agent's
# tests share one worker (--dist loadgroup; conftest.py).
TEST_WORKERS ?= 2
XDIST_ARGS  := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup)
# Terraform gets hashicorp/aws from the machine's filesystem mirror (terraform/cli.tfrc); empty
# when there is none, and the Terraform tests then say so in one line instead of running.
export TF_CLI_CONFIG_FILE := $(shell terraform/cli-config.sh 2>/dev/null)

.PHONY: help deps build test test-fast test-unit test-integration test-terraform dashboards-check terraform-docs build-release bench lint fmt demo upgrade-plan clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## Install what tests and demo need (project venv, checkov venv, Debian prometheus, node-exporter, alertmanager, nftables); idempotent
	@integration-tests/install/install-deps.sh

# --all-targets: the binaries are built with the same (dev-dependency-unified) features as
# `cargo test`, so tests and demo share one set of artifacts instead of building the SDK twice.
build: ## Build both services (dev profile, shared by tests and demo)
	$(CARGO) build $(CARGO_FLAGS) --all-targets

test: test-unit test-integration ## Every test: unit, then integration against the emulator and a real Prometheus

test-unit: ## Rust unit tests and AWS-edge tests (aws-smithy-mocks)
	$(CARGO) test $(CARGO_FLAGS)

test-integration: deps build ## Integration tests (embedded emulator, or AWS_ENDPOINT_URL=... for an external one)
	cd integration-tests && ../$(PYTHON) -m pytest $(XDIST_ARGS) $(PYTEST_ARGS)

test-fast: test-unit deps build ## A developer's inner loop: unit tests, then the integration tests but the Terraform applies and the ECS agent's (CI runs everything: make test)
	cd integration-tests && ../$(PYTHON) -m pytest $(XDIST_ARGS) $(PYTEST_ARGS) -m "not ecs_agent and not terraform_apply"

test-terraform: deps build ## Only the Terraform checks: fmt, validate, checkov, emulator apply + clean re-plan, task definitions
	cd integration-tests && ../$(PYTHON) -m pytest $(XDIST_ARGS) $(PYTEST_ARGS) tests/test_terraform.py

dashboards-check: deps build ## Dashboards and alert rules: JSON properties, every PromQL run against Prometheus, promtool check + test rules
	cd integration-tests && ../$(PYTHON) -m pytest $(PYTEST_ARGS) tests/test_dashboards.py

build-release: ## Release build of both services (for the benchmark only)
	$(CARGO) build --locked --release -p ecs-discoverer -p config-reloader

bench: deps build-release ## Benchmark vs prometheus-ecs-discoverer: calls, CPU, RSS at N=100/1k/5k, robustness, http_sd load, rate limits; then events vs polling at N=1k/5k
	@integration-tests/install/install-bench-deps.sh
	cd integration-tests && ../$(PYTHON) -m benches.bench $(BENCH_ARGS)
	cd integration-tests && ../$(PYTHON) -m benches.bench_events $(BENCH_EVENTS_ARGS)
	cd integration-tests && ../$(PYTHON) -m benches.bench_file_floor

terraform-docs: deps ## Regenerate the Inputs/Outputs tables of terraform/modules/*/README.md
	.tools/checkov/bin/python terraform/module-docs.py

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(CARGO_FLAGS) --all-targets -- -D warnings

fmt: ## Format the Rust code
	$(CARGO) fmt --all

demo: deps build ## The stack on the embedded emulator with a real Prometheus; Ctrl-C tears it down
	cd integration-tests && ../$(PYTHON) demo.py

upgrade-plan: deps build ## What upgrading a stack applied at BASE=<git revision> to this tree plans (moves, no replacements)
	@test -n "$(BASE)" || (echo "give BASE=<git revision>, e.g. make upgrade-plan BASE=HEAD~1"; exit 2)
	cd integration-tests && ../$(PYTHON) upgrade_plan.py $(BASE)

clean: ## Remove build output, the venv and demo state
	$(CARGO) clean
	rm -rf $(VENV) .tools .demo integration-tests/.pytest_cache
