# botstack: the daily commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   ?= .venv
PY     := $(VENV)/bin/python
STACK  ?= dev
# State backend and passphrase: scripts/lib.sh (docs/state.md). Pulumi's Python runtime uses $(VENV)
# (see Pulumi.yaml).

.PHONY: help venv engine lock up preview drift destroy logs backup-now backup-status restore test test-unit test-app test-e2e lint bench setup clean

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock
	@command -v python3 >/dev/null || { echo "botstack: python3 is missing: install Python 3.11+ (Debian: apt-get install python3 python3-venv)"; exit 1; }
	@python3 -m venv $(VENV) 2>/dev/null || { echo "botstack: python3 can't create a virtualenv: install venv (Debian: apt-get install python3-venv)"; exit 1; }
	$(PY) -m pip install -q --require-hashes -r requirements.lock
	@touch $@

venv: $(VENV)/.installed ## create .venv with the program's and the tests' dependencies

engine: ## install the pinned Pulumi CLI (scripts/versions.env): its release, else a build from Go modules
	@scripts/install-pulumi.sh install

up: venv engine ## bring the stack up (STACK=dev by default; local state backend, no account needed)
	@scripts/pulumi-stack.sh up $(STACK)

preview: venv engine ## show what `up` would change (STACK=dev|prod)
	@scripts/pulumi-stack.sh preview $(STACK)

drift: venv engine ## fail when what runs differs from the last deploy (preview --refresh --expect-no-changes)
	@scripts/pulumi-stack.sh drift $(STACK)

destroy: venv engine ## remove the stack's containers and networks (protected volumes stay)
	@scripts/pulumi-stack.sh destroy $(STACK)

logs: ## follow the logs of one service or all (STACK=dev SERVICE=api)
	@scripts/logs.sh $(STACK) $(SERVICE)

backup-now: venv ## run a backup on the prod VDS now and verify it
	@scripts/pulumi-stack.sh backup-now $(STACK)

backup-status: venv ## the last good backup on the prod VDS: time, age, size; fails when stale
	@scripts/pulumi-stack.sh backup-status $(STACK)

restore: venv ## restore the prod database: DUMP=<file name>, or AT='YYYY-MM-DD HH:MM:SS' (UTC) / AT=latest; asks first
	@$(if $(AT),scripts/pulumi-stack.sh restore-at $(STACK) "$(AT)",scripts/pulumi-stack.sh restore $(STACK) $(DUMP))

setup: venv engine ## install and prepare what the tests run for real (packages, Docker engine, offline images); idempotent
	@scripts/install-prereqs.sh test
	$(PY) -m tests.setup all

test: setup ## run every test: lint, unit, app, e2e
	$(PY) -m pytest

test-unit: venv ## the fast tests only (mock runtime, no Docker)
	$(PY) -m pytest tests/unit -m "not e2e"

lint: venv ## static checks: ruff, mypy, shellcheck, hadolint, actionlint
	$(PY) -m pytest tests/lint

bench: venv setup ## measure updates, apply times, backups and image sizes on the Docker engine (through the provider double)
	$(PY) -m tests.bench

lock: ## re-pin every Python dependency with hashes (requirements.lock) from requirements-test.txt
	python3 -m venv .botstack/piptools && .botstack/piptools/bin/pip install -q pip-tools
	.botstack/piptools/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	  --no-emit-find-links -o requirements.lock requirements-test.txt

clean: ## remove the virtualenv and test caches (not the stacks)
	rm -rf $(VENV) .pytest_cache tests/.cache

.PHONY: rollback
rollback: venv ## go back to the app images of the previous deploy (STACK=dev|prod; docs/rollback.md)
	@scripts/rollback.sh $(STACK)
