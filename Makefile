# csv-pipeline: every target bootstraps the virtualenv it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
ARGS ?=

.PHONY: test lint typecheck unit local bench clean native

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## make native: the optional C scanner (native/build.py; skipped without a compiler)
native: $(STAMP)
	$(BIN)/python native/build.py

## make test: lint, types, infra linters, then every test tier
test: lint typecheck infra-lint native
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

## make unit: the fast tier only (no servers)
unit: native
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

## make local: the whole pipeline on this machine, no AWS account
local: native
	$(BIN)/python -m devstack $(ARGS)

clean:
	rm -rf $(VENV) $(INFRA_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Infrastructure, deploy and the infra linters (own virtualenv): see infra.mk.
include infra.mk
# Benchmarks (make bench): see bench.mk and docs/benchmarks.md.
-include bench.mk
