# names-deploy: build, test and deploy the names page.
# `make help` lists the targets; each documented target has a `## ` comment.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-print-directory

# The interpreter the controller virtualenv is made from (3.11 or newer).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# sslyze's own virtualenv (make audit, make test).
AUDIT_VENV ?= .venv-audit
# Release version: pyproject.toml's unless given (make release VERSION=1.2.3).
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)
DIST ?= dist
TARBALL := $(DIST)/names-$(VERSION).tar.gz
PYTEST := $(BIN)/python -m pytest
# Inventory of deploy/rollback/status; the default is the local container.
INVENTORY ?= inventories/local
LOCAL_INVENTORY := inventories/local
CLUSTER_INVENTORY := inventories/cluster
CLUSTER_URL := https://127.0.0.1:9443/
LOCAL_URL := https://127.0.0.1:8443/
LOCAL_HTTP_URL := http://127.0.0.1:8080/
# The local target's self-signed certificate, which clients here trust.
LOCAL_CERT := build/names-local.crt
# What make bench measures: the local target, or the fleet's web host.
BENCH_URL = $(if $(IS_CLUSTER),$(CLUSTER_URL),$(LOCAL_URL))
BENCH_CERT = $(if $(IS_CLUSTER),build/names-cluster.crt,$(LOCAL_CERT))
# Molecule's scenarios (molecule/<name>/), and how many run at once. They use their
# own containers, networks and ports, so more than one can run side by side on a
# machine with the cores for it. Not on 2 cores: with two at once the CPU is never
# idle, the fleet's rolling upgrade under load takes 579 s instead of 221 s and its
# load sees POSTs time out (three at once outlast the tests' 10-minute bound), so
# the default is one. make test overlaps only what leaves the CPU idle, and never two
# loads: the fleet's create, converge and idempotence run beside lint, the unit and
# release checks and the default scenario's own; the fleet's verifier beside the
# default scenario's host checks; the lifecycle story alone (tools/test-suite.sh).
SCENARIOS := $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml))
MOLECULE_JOBS ?= 1
# The venv's tools (ansible-*, molecule) find each other on PATH.
export PATH := $(abspath $(BIN)):$(PATH)
IS_LOCAL := $(filter $(abspath $(LOCAL_INVENTORY)),$(abspath $(INVENTORY)))
IS_CLUSTER := $(filter $(abspath $(CLUSTER_INVENTORY)),$(abspath $(INVENTORY)))

.PHONY: help
help: ## Show the targets and what they do
	@awk 'BEGIN {FS = ":.*## "; printf "Usage: make <target> [VAR=value]\n\n"} \
	  /^[a-zA-Z0-9_.-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@printf "\nVariables: VERSION=%s  PYTHON=%s  VENV=%s\n" "$(VERSION)" "$(PYTHON)" "$(VENV)"

.PHONY: info
info: ## Print versions of Python, the tools, Docker and the app (for bug reports)
	@echo "names app:  $(VERSION) (pyproject.toml)"
	@echo "commit:     $$(git rev-parse --short HEAD 2>/dev/null || echo none)$$(git diff --quiet 2>/dev/null || echo ' (modified)')"
	@echo "host:       $$(. /etc/os-release 2>/dev/null && echo $$PRETTY_NAME) $$(uname -m)"
	@echo "python:     $$($(PYTHON) --version 2>&1)"
	@if [ -x $(BIN)/python ]; then \
	  echo "venv:       $$($(BIN)/python --version 2>&1) at $(VENV)"; \
	  $(BIN)/python -m pip list --format=freeze 2>/dev/null \
	    | grep -iE '^(flask|sqlalchemy|pyuwsgi|pytest|ruff|yamllint|ansible|ansible-core|ansible-lint|molecule|molecule-plugins|pytest-testinfra|selenium)==' \
	    | sed 's/^/            /'; \
	else echo "venv:       not created (make venv)"; fi
	@echo "scorecard:  sslyze $$($(AUDIT_VENV)/bin/python -m pip show sslyze 2>/dev/null | sed -n 's/^Version: //p' | grep . || echo 'not installed'), $$(testssl --version 2>/dev/null | grep -o 'testssl *[0-9][^ ]*' | tr -s ' ' | head -n 1 | grep . || echo 'testssl.sh not installed') (make testssl)"
	@echo "browser:    $$(chromium --version 2>/dev/null | head -n 1 | grep . || echo 'not installed (make browser)')"
	@echo "docker:     client $$(docker --version 2>/dev/null | sed 's/^Docker version //' || true), engine $$(docker info --format '{{.ServerVersion}}' 2>/dev/null | grep . || echo 'not answering')"

.PHONY: venv
venv: $(BIN)/.installed ## Create the controller virtualenv with the pinned tools

$(BIN)/.installed: requirements-dev.txt requirements-runtime.txt pyproject.toml
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  echo "Installing python3-venv (needed to create $(VENV))"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile --no-deps --no-build-isolation -e .
	@# Byte code for what runs here, not for the collections' modules and tests: about
	@# 15,000 files sent to the hosts as source. Without it every ansible-playbook would
	@# compile its imports again where PYTHONDONTWRITEBYTECODE is set.
	$(BIN)/python -m compileall -q -j 0 -x '/ansible_collections/[^/]+/[^/]+/(plugins/modules|tests)/' $(VENV)/lib
	@touch $@

.PHONY: lock
lock: ## Re-pin the runtime closure and uv (the installer) in requirements-runtime.txt from pyproject.toml
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install --quiet --disable-pip-version-check . uv
	{ grep '^#' requirements-runtime.txt; \
	  build/lock-venv/bin/pip freeze --exclude names | grep -v '^names'; } > requirements-runtime.txt.new
	mv requirements-runtime.txt.new requirements-runtime.txt
	rm -rf build/lock-venv

.PHONY: run
run: venv ## Run the app on http://127.0.0.1:5000/ with the development server
	NAMES_CONFIG=development $(BIN)/flask --app app db upgrade
	NAMES_CONFIG=development $(BIN)/flask --app app run --debug

.PHONY: lint
lint: venv ## Lint: ruff (Python), yamllint (YAML), ansible-lint (production profile)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --strict

.PHONY: unit
unit: venv ## App unit tests with branch coverage (fails under 90%)
	$(PYTEST) -m unit --cov --cov-report=term

.PHONY: release
release: venv ## Build dist/names-$(VERSION).tar.gz and its .sha256 (ALLOW_DIRTY=1: from uncommitted changes)
	$(BIN)/python tools/build_release.py --version "$(VERSION)" --out "$(DIST)" $(if $(ALLOW_DIRTY),--allow-dirty)

# The tarball of VERSION where dist/ has none, built from the working tree, committed
# or not: what the local target, the local fleet and the tests deploy (the development
# loop). A release for elsewhere comes from make release, from a clean tree.
.PHONY: tarball
tarball: venv
	@[ -f "$(TARBALL)" ] || $(MAKE) --no-print-directory release ALLOW_DIRTY=1

.PHONY: release-check
release-check: venv ## Prove the release: checksum, wheels per Python, reproducible, installs offline
	$(PYTEST) -m integration tests/release

.PHONY: engine
engine: ## Make sure a Docker engine answers (installs and starts Debian's if none does)
	tools/docker-engine.sh

.PHONY: images
images: image-12 image-13 ## Build the Debian 12 and 13 base images from Debian's archive (once)

.PHONY: image-12 image-13
image-12 image-13: image-%: engine
	tools/base-image.sh $*

.PHONY: deploy
deploy: ## Deploy VERSION to INVENTORY (default: the local container, set up as needed)
ifneq ($(IS_LOCAL),)
	@# What is missing, side by side: the venv, the engine and the base image, the tarball.
	@$(MAKE) --no-print-directory -j 3 --output-sync=target venv image-12 tarball
else ifneq ($(IS_CLUSTER),)
	@$(MAKE) --no-print-directory -j 4 --output-sync=target venv image-12 image-13 tarball
	$(MAKE) cluster
else
	@$(MAKE) --no-print-directory venv
endif
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/site.yml -e names_app_version=$(VERSION)
	@$(if $(IS_LOCAL),echo "names $(VERSION) is served at $(LOCAL_URL) ($(LOCAL_HTTP_URL) redirects there; self-signed certificate: make local-cert)",$(if $(IS_CLUSTER),echo "names $(VERSION) is served by the fleet at $(CLUSTER_URL) (self-signed certificate)",echo "names $(VERSION) deployed to $(INVENTORY)"))

.PHONY: rollback
rollback: venv ## Roll INVENTORY back to the previous release, or to TO=x.y.z (health-gated)
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/rollback.yml $(if $(TO),-e names_app_rollback_to=$(TO))

.PHONY: backup
backup: venv ## Take a checked backup of INVENTORY's database now; a copy goes to backups/<inventory>/<host>/
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/backup.yml

# FROM: a file on the controller (a copy make backup took) is copied to the host first;
# otherwise a path on the host, or one relative to its backup directory.
.PHONY: restore
restore: venv ## Restore INVENTORY's database from a backup: FROM=<controller copy or host path> (default the host's newest)
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/restore.yml \
	  $(if $(FROM),$(if $(wildcard $(FROM)),-e names_app_restore_from_controller=$(abspath $(FROM)),-e names_app_restore_from=$(FROM)))

.PHONY: unlock
unlock: venv ## Clear a deploy lock left by a killed run (docs/runbook.md)
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/unlock.yml

.PHONY: status
status: venv ## Show what each host serves, any drift from what is on disk, and the last deploys
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/status.yml

.PHONY: drain
drain: venv ## Take app host HOST out of every web host's balance (its requests in flight finish first)
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/drain.yml -e names_drain_host=$(HOST)

.PHONY: undrain
undrain: venv ## Put app host HOST back into every web host's balance
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/drain.yml -e names_drain_host=$(HOST) -e names_drain=false

.PHONY: audit
audit: venv testssl ## Score INVENTORY's HTTPS with sslyze (Mozilla intermediate) and testssl.sh (build/audit-<host>.json)
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/audit.yml

# The scorecard's tools: testssl.sh from Debian, sslyze in a virtualenv of its own
# (requirements-audit.txt says why).
.PHONY: testssl
testssl: $(AUDIT_VENV)/.installed
	@command -v testssl >/dev/null || tools/apt-install.sh testssl.sh

$(AUDIT_VENV)/.installed: requirements-audit.txt
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-compile -r requirements-audit.txt
	@touch $@

.PHONY: maintenance
maintenance: venv ## Serve the maintenance page (503, Retry-After) on INVENTORY's web hosts; REASON=... is recorded
	NAMES_MAINTENANCE_REASON="$(REASON)" $(BIN)/ansible-playbook -i $(INVENTORY) playbooks/maintenance.yml

.PHONY: maintenance-off
maintenance-off: venv ## Serve the site again after make maintenance
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/maintenance.yml -e names_maintenance=false

.PHONY: destroy-local
destroy-local: venv ## Remove the local target container and everything in it
	$(BIN)/ansible-playbook -i $(LOCAL_INVENTORY) playbooks/local_target.yml -e local_target_state=absent

.PHONY: cluster
cluster: venv ## Create the local fleet (one web, two app, one db host) for INVENTORY=inventories/cluster
	tools/docker-engine.sh
	tools/base-image.sh 12
	tools/base-image.sh 13
	$(BIN)/ansible-playbook -i $(CLUSTER_INVENTORY) playbooks/cluster.yml

.PHONY: destroy-cluster
destroy-cluster: venv ## Remove the local fleet's containers and network
	$(BIN)/ansible-playbook -i $(CLUSTER_INVENTORY) playbooks/cluster.yml -e cluster_state=absent

.PHONY: browser
browser: ## Install Debian's Chromium and chromium-driver for the browser tests (once)
	tools/browser.sh

.PHONY: molecule
molecule: venv images browser ## Run every Molecule scenario (MOLECULE_JOBS=n: n at once)
	@$(MAKE) --no-print-directory tarball
	@echo "Molecule scenarios $(SCENARIOS), $(MOLECULE_JOBS) at a time; each one's output when it ends"
	$(MAKE) -j $(MOLECULE_JOBS) --output-sync=target $(SCENARIOS:%=molecule-%)

# One scenario: make molecule-default, molecule-cluster.
molecule-%: venv images browser
	@$(MAKE) --no-print-directory tarball
	@started=$$(date +%s); \
	  NAMES_VERSION=$(VERSION) $(BIN)/molecule test -s $*; \
	  echo "molecule $*: passed in $$(( $$(date +%s) - started )) s"

# make test's parts of a scenario (tools/test-suite.sh): the steps of molecule test up
# to idempotence; its verifier with the containers kept (a later verify goes on from
# there); its verifier, and its containers destroyed either way. PYTEST_ADDOPTS
# (--deselect tests/<dir>/) chooses what a verify runs.
molecule-ready-%: venv
	@started=$$(date +%s); export NAMES_VERSION=$(VERSION); \
	  $(BIN)/molecule destroy -s $* && $(BIN)/molecule syntax -s $* && \
	  $(BIN)/molecule converge -s $* && $(BIN)/molecule idempotence -s $* && \
	  echo "molecule $*: converged and idempotent in $$(( $$(date +%s) - started )) s"

molecule-checked-%: venv
	@started=$$(date +%s); \
	  verified=0; NAMES_VERSION=$(VERSION) $(BIN)/molecule verify -s $* || verified=$$?; \
	  echo "molecule $*: verify $$([ $$verified = 0 ] && echo passed || echo FAILED) in $$(( $$(date +%s) - started )) s"; \
	  exit $$verified

molecule-verified-%: venv
	@verified=0; $(MAKE) --no-print-directory molecule-checked-$* || verified=$$?; \
	  NAMES_VERSION=$(VERSION) $(BIN)/molecule destroy -s $*; exit $$verified

molecule-destroyed-%: venv
	NAMES_VERSION=$(VERSION) $(BIN)/molecule destroy -s $*

.PHONY: local-cert
local-cert: ## Copy the local target's self-signed certificate to build/ (trust it with curl --cacert)
	@mkdir -p $(dir $(LOCAL_CERT))
	docker exec names-local cat /etc/nginx/tls/selfsigned.crt > $(LOCAL_CERT)
	@echo "curl --cacert $(LOCAL_CERT) $(LOCAL_URL)"

.PHONY: bench
bench: venv ## Benchmark the local target (INVENTORY=inventories/cluster: the fleet) with NAMES=N names: wrk ceiling of the page, a deep page, /healthz and a static file, as ratios; locust visitors (build/bench*.json, .html)
	@command -v wrk >/dev/null || tools/apt-install.sh wrk
	@mkdir -p $(dir $(BENCH_CERT))
	docker exec $(if $(IS_CLUSTER),names-web-1,names-local) cat /etc/nginx/tls/selfsigned.crt > $(BENCH_CERT)
	$(BIN)/python -m tests.lifecycle.bench --url $(BENCH_URL:/=) --cacert $(BENCH_CERT) \
	  --app-container $(if $(IS_CLUSTER),names-app-1,names-local) $(if $(NAMES),--names $(NAMES)) $(if $(RUNS),--runs $(RUNS))

.PHONY: bench-deploy
bench-deploy: venv ## Time make deploy on the local target: no-op, upgrade (also under 120 requests/s), onto a new container (medians of RUNS=3)
	$(BIN)/python -m tests.lifecycle.bench_deploy --version $(VERSION) --runs $(or $(RUNS),3)

.PHONY: bench-metrics
bench-metrics: deploy ## The app's metrics on and off in turn on the local target (one release): wrk's page ceiling for each, RUNS=8 rounds (build/bench-metrics.json)
	@command -v wrk >/dev/null || tools/apt-install.sh wrk
	$(BIN)/python -m tests.lifecycle.bench_metrics --version $(VERSION) --runs $(or $(RUNS),8)

.PHONY: bench-reloads
bench-reloads: deploy local-cert ## Chain reloads of the local target's app server every EVERY=3 s for SECONDS=300 under locust's form-posting load: every failed request, harakiri kill and worker death (build/bench-reloads.json)
	$(BIN)/python -m tests.lifecycle.bench_reloads --seconds $(or $(SECONDS),300) --every $(or $(EVERY),3)

.PHONY: test
test: ## Everything: lint, unit, release checks, every Molecule scenario
	@# What the suite needs, side by side where missing: the venv and the tarball under
	@# test, the engine and both base images, the browser (apt installs take turns).
	@$(MAKE) --no-print-directory -j 4 --output-sync=target venv images browser testssl tarball
	MAKE="$(MAKE)" tools/test-suite.sh

.PHONY: clean
clean: ## Remove build outputs (dist/, build/, caches); keeps the virtualenv
	rm -rf dist build .pytest_cache .ruff_cache .coverage htmlcov
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
