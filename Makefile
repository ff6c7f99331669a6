# joey's one interface: install, demo, test, lint, bench.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.joey-installed
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER ?= 0

.PHONY: install demo test lint bench bench-quick clean

install: $(STAMP)

# torch first, pinned, so nothing later pulls another build (and GBs of CUDA).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[all,dev,bench]'
	touch $(STAMP)

demo: install
	$(PY) -m joey.demo

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check joey mac tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install
	$(PY) -m benchmarks.run

bench-quick: install
	$(PY) -m benchmarks.run --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
