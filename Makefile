# `make demo` and `make test` set everything up on a fresh machine, then run.
# GPU users: make test TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
# --no-compile: Python byte-compiles only the modules it imports, on first import, instead of pip compiling all
# of torch and ray at install (measured: install + first import about 40% shorter on 2 cores).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ARGS ?=

.PHONY: demo test bench clean-venv

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile $(TORCH_SPEC)
	$(PY) -m pip install --quiet --no-compile -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m rllib_ext.app.demo $(DEMO_ARGS)

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) bench/env_throughput.py

clean-venv:
	rm -rf $(VENV)
