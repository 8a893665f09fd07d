# Arena: `make demo` runs the whole arena on this machine; `make test` checks everything.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=

-include mk/serving.mk

.PHONY: help install browser lint format typecheck test test-fast demo serve bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## create ./.venv and install the project with its test tools

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

test: install browser vllm-runtime models lint typecheck  ## everything: lint, types, all tests (SQLite, PostgreSQL, chromium, real vLLM)
	$(PY) -m pytest -W error $(PYTEST_ARGS)

test-fast: install lint typecheck  ## the same without browser and vLLM tests
	$(PY) -m pytest -W error -m "not vllm and not browser" $(PYTEST_ARGS)

demo: install vllm-runtime models  ## two real models on CPU vLLM + the arena on SQLite
	$(PY) -m arena demo

serve: install  ## the arena alone (ARENA_DATABASE_URL, ARENA_HOST, ARENA_PORT)
	$(PY) -m arena serve

bench: install  ## run every benchmark (results in benchmarks/results/)
	for b in benchmarks/bench_*.py; do $(PY) -m benchmarks.$$(basename $$b .py) || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
