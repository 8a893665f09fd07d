# Arena: `make demo` runs the whole arena on this machine; `make test` checks everything.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# requirements.lock: every package the project and its tests use, exact versions and hashes;
# requirements-app.lock: the same versions, the app alone (deployments). `make lock` writes both.
LOCK := requirements.lock
APP_LOCK := requirements-app.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | sha256sum | cut -c1-12)
PIP_VERSION := 26.3
UV_VERSION := 0.13.9
UV_VENV := $(VENV)-uv-$(UV_VERSION)
UV := $(UV_VENV)/bin/uv
LOCK_FLAGS := --generate-hashes --universal --python-version 3.11 --custom-compile-command 'make lock'
LOCK_ARGS ?=
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=

-include mk/serving.mk
-include mk/docs.mk

.PHONY: help install lock browser lint format typecheck test test-fast demo serve bench clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

# The lock decides every version; the project itself goes in without dependencies, and
# `pip check` fails when pyproject.toml asks for something the lock does not hold.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q pip==$(PIP_VERSION)
	$(PY) -m pip install -q --require-hashes -r $(LOCK)
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m pip check
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## create ./.venv and install the project with its test tools, from the lock

# uv lives in a venv of its own, never in ./.venv. Versions already in the lock are kept unless
# LOCK_ARGS=--upgrade (or --upgrade-package NAME) says otherwise.
$(UV):
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/pip install -q uv==$(UV_VERSION)

lock: $(UV)  ## re-resolve requirements.lock and requirements-app.lock from pyproject.toml
	$(UV) pip compile -q pyproject.toml --extra test $(LOCK_FLAGS) $(LOCK_ARGS) -o $(LOCK)
	$(UV) pip compile -q pyproject.toml -c $(LOCK) $(LOCK_FLAGS) -o $(APP_LOCK)

browser:  ## Debian's chromium for the browser tests (never a browser download)
	@test -x $(CHROMIUM) || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q chromium fonts-dejavu-core >/dev/null 2>&1 || { \
	    $$SUDO apt-get update -q >/dev/null && \
	    $$SUDO apt-get install -y -q chromium fonts-dejavu-core >/dev/null; }; }
	@$(CHROMIUM) --version

lint: install  ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install  ## mypy --strict on the three packages
	$(VENV)/bin/mypy --strict arena ratings serving

test: install browser deploy-tools vllm-runtime models lint typecheck  ## everything: lint, types, all tests (SQLite, PostgreSQL, chromium, real vLLM)
	$(PY) -m pytest -W error $(PYTEST_ARGS)

test-fast: install lint typecheck  ## the same without browser, vLLM and wheel tests
	$(PY) -m pytest -W error -m "not vllm and not browser and not wheel" $(PYTEST_ARGS)

demo: install vllm-runtime models  ## two real models on CPU vLLM + the arena on SQLite
	$(PY) -m arena demo

serve: install  ## the arena alone (ARENA_DATABASE_URL, ARENA_HOST, ARENA_PORT)
	$(PY) -m arena serve

bench: install  ## run every benchmark (results in benchmarks/results/)
	for b in benchmarks/bench_*.py; do $(PY) -m benchmarks.$$(basename $$b .py) || exit 1; done

clean:
	rm -rf $(VENV) $(VENV)-uv-* .mypy_cache .ruff_cache .pytest_cache
