# README pictures: docs/screenshots/*.png, each from a stated data set. The owners and admin
# pictures come from their browser tests (which write artifacts/screenshots/ only); the
# others from benchmarks/screenshots.py, against fake backends and seeded votes, or with
# DEMO=http://127.0.0.1:8000 against a running `make demo` (real models, scripted votes).
# Included from the main Makefile, which defines PY (= .venv/bin/python).
PY ?= .venv/bin/python
DEMO ?=
SCREENSHOT_BATTLES ?= 20

.PHONY: screenshots

screenshots: install browser  ## refresh docs/screenshots (DEMO=URL: from a running make demo)
	$(PY) -m pytest -W error -q -m browser \
	  tests/web/test_web_owners.py tests/web/test_web_admin.py
	$(PY) -m benchmarks.screenshots $(if $(DEMO),--demo $(DEMO) --battles $(SCREENSHOT_BATTLES))
