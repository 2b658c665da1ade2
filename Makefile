# flux-flex — every target works on a fresh clone: each depends on `setup`, which bootstraps
# uv (with pip) when it is absent and builds .venv from uv.lock.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
export PYTHONDONTWRITEBYTECODE := 1
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.flux-flex-setup

.PHONY: help setup regenerate drift upstream-check lint test contract demo mock-server bench mutants clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv from uv.lock with every extra and group (no-op when up to date)

$(STAMP): pyproject.toml uv.lock
	@command -v python3 >/dev/null || { echo "error: python3 (>= 3.11) is not on PATH; install it and run make again." >&2; exit 2; }
	@$(UV) --version >/dev/null 2>&1 || { echo "uv not found: installing it with 'python3 -m pip install uv'"; \
	  python3 -m pip install --quiet uv >/dev/null 2>&1 || { echo "error: could not install uv with pip; install uv yourself (pip install uv) and run make again." >&2; exit 2; }; }
	@$(UV) sync --locked --all-extras --all-groups --quiet || { echo "error: 'uv sync --locked' failed. If you changed pyproject.toml, run 'uv lock' and commit uv.lock." >&2; exit 2; }
	@touch $@

regenerate: setup ## rewrite generated/ from spec/ with openapi-python-client
	@$(BIN)/python scripts/regenerate.py

drift: setup ## fail if generated/ differs from a fresh regeneration of spec/
	@$(BIN)/python scripts/regenerate.py --check

UPSTREAM ?= https://api.bfl.ai/openapi.json
upstream-check: setup ## compare spec/ with the vendor's published document (UPSTREAM=path or URL)
	@$(BIN)/python scripts/upstream_check.py "$(UPSTREAM)"

lint: setup ## ruff check, ruff format --check, mypy --strict on wrapper/ and benchmarks/
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy

test: setup lint drift ## lint, drift check, and every test (the contract suite included)
	@$(BIN)/pytest -q contract_tests tests

contract: setup ## the contract suite alone
	@$(BIN)/pytest -q -m "not live" contract_tests

demo: setup ## make an image offline, on the built-in fake of the API
	@$(BIN)/flux-flex generate "a red fox in fresh snow, golden hour" -o out/demo.png --mock

mock-server: setup ## serve the fake API on 127.0.0.1:8787 until interrupted
	@$(BIN)/flux-flex mock-server --host 127.0.0.1 --port 8787

bench: setup ## benchmarks against baselines, as ratios (not part of `make test`)
	@$(BIN)/python -m benchmarks

mutants: setup ## apply deliberate breakages one at a time; the suite must catch each
	@$(BIN)/python scripts/mutants.py

clean: ## remove .venv and build leftovers
	rm -rf $(VENV) dist build out .pytest_cache .mypy_cache .ruff_cache .hypothesis
