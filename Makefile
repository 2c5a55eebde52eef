# `make demo` and `make test` set everything up on a fresh machine, then run.
# GPU users: make test TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
# torch comes from pip (a pinned file; uv does not look where this machine keeps it), the rest from uv, which
# resolves the same versions and installs them faster than pip (pip takes over if uv cannot install). Both
# byte-compile at install: where PYTHONDONTWRITEBYTECODE is set (as on these machines) Python never caches what
# it compiles, and every process, Ray's workers included, would compile torch, Ray and RLlib again (measured:
# 20 s instead of 8 s to import the CLI).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ARGS ?=

.PHONY: demo test bench clean-venv

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -e ".[test]" || $(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m rllib_ext.app.demo $(DEMO_ARGS)

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) bench/env_throughput.py

clean-venv:
	rm -rf $(VENV)
