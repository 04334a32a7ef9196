# webbench-lab: `make lab bench` (as root) builds, provisions and benchmarks the lab; `make test` checks it.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WBL := $(BIN)/webbench-lab
INVENTORY ?=
ENGINE ?= pyinfra
SUITE ?=
QUICK ?=
BENCH_ARGS ?=
PYTEST_ARGS ?=

# Control-machine packages: always, and for the local lab only.
APT_DEPS := python3-venv openssh-client iproute2 git
APT_DEPS_LOCAL := debootstrap apt-cacher-ng util-linux
# For `make test` only: the report's browser test loads report.html in headless Chromium.
APT_DEPS_TEST := chromium

.PHONY: help deps deps-local venv lab down status provision audit audit-check bench bench-overhead test test-unit lint lock clean-cache

help:
	@echo "make lab [INVENTORY=path] [ENGINE=pyinfra|ansible]  build the local lab (or use INVENTORY) and provision it"
	@echo "make audit | make audit-check [INVENTORY=path]    what the hosts are made of (audits/) | drift, exit 1 on drift"
	@echo "make bench [SUITE=fastapi_gin_2025] [QUICK=1] [INVENTORY=path]  run a suite into results/"
	@echo "make down | make status                          stop the local lab | show its hosts"
	@echo "make test | make lint | make lock                 tests (e2e as root) | ruff, mypy, yamllint, ansible-lint | re-pin apps/python-stack.lock"

# Install what the control machine lacks (as root, from Debian's packages). The Go command is only
# needed to fetch the pinned toolchain module: Debian's golang-go is enough when none is installed.
deps:
	@need=""; for p in $(APT_DEPS) $(if $(INVENTORY),,$(APT_DEPS_LOCAL)) $(if $(filter test,$(MAKECMDGOALS)),$(APT_DEPS_TEST)); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || need="$$need $$p"; \
	done; \
	command -v go >/dev/null || need="$$need golang-go"; \
	if [ -n "$$need" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make: missing packages:$$need; run as root (make ... as root, or sudo make ...)" >&2; exit 2; fi; \
	  echo "installing:$$need"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$need; \
	fi

venv: $(WBL)

# The lab's FastAPI stack at the lock's versions too (only packages .venv lacks): the unit test of
# fastapi_app runs it against a real aiohttp upstream.
STACK_FOR_TESTS := fastapi aiohttp redis

$(WBL): pyproject.toml apps/python-stack.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -c apps/python-stack.lock $(STACK_FOR_TESTS)
	@touch $(WBL)

lab: deps venv
ifeq ($(INVENTORY),)
	$(WBL) lab up
	$(WBL) provision --engine $(ENGINE)
else
	$(WBL) provision -i $(INVENTORY) --engine $(ENGINE)
endif

provision: venv
	$(WBL) provision $(if $(INVENTORY),-i $(INVENTORY)) --engine $(ENGINE)

audit: venv
	$(WBL) audit $(if $(INVENTORY),-i $(INVENTORY))

audit-check: venv
	$(WBL) audit --check $(if $(INVENTORY),-i $(INVENTORY))

bench: venv
	$(WBL) bench $(if $(SUITE),--suite $(SUITE)) $(if $(QUICK),--quick) $(if $(INVENTORY),-i $(INVENTORY)) $(BENCH_ARGS)

# Benchmark of the runner itself (not a test): wall time / (measurement + warm-up), goal <= 1.10.
bench-overhead: venv
	$(BIN)/python -m webbench_lab.bench.overhead $(if $(SUITE),--suite $(SUITE)) $(if $(INVENTORY),-i $(INVENTORY)) $(BENCH_ARGS)

down: venv
	$(WBL) lab down

status: venv
	$(WBL) lab status

# The gate: the lint first, so that a change that breaks it does not land. The unit tests run in the
# background while the e2e tests build their first lab (mostly downloads); their output follows the
# e2e tests'. Each test's and each lab step's time goes to .lab/test-times-{unit,e2e}.json
# (benchmarks/make_test_times.py prints where it went). Exit 5 is pytest's "nothing selected", for a
# PYTEST_ARGS that selects only unit or only e2e tests.
test: deps venv lint
	@mkdir -p .lab && rm -f .lab/test-times-unit.json .lab/test-times-e2e.json
	@echo "make test: the unit tests in the background (.lab/test-unit.log), the e2e tests meanwhile"
	@$(BIN)/pytest -ra -m "not e2e" --times-json .lab/test-times-unit.json $(PYTEST_ARGS) \
	    > .lab/test-unit.log 2>&1 & unit=$$!; \
	$(BIN)/pytest -ra -m e2e --durations=15 --times-json .lab/test-times-e2e.json $(PYTEST_ARGS); e2e=$$?; \
	wait $$unit; unit=$$?; \
	echo "---- the unit tests (.lab/test-unit.log) ----"; cat .lab/test-unit.log; \
	echo "make test: e2e exit $$e2e, unit exit $$unit"; \
	for rc in $$e2e $$unit; do case $$rc in 0|5) ;; *) exit $$rc ;; esac; done

test-unit: venv
	$(BIN)/pytest -ra -m "not e2e" $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check webbench_lab tests benchmarks
	$(BIN)/ruff format --check webbench_lab tests benchmarks
	$(BIN)/mypy
	$(BIN)/yamllint -s .
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/ansible-lint --nocolor playbooks roles

lock: venv
	$(BIN)/python -m webbench_lab.provision.lockfile

clean-cache:
	rm -rf .lab/cache
