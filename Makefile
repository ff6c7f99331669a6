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

# Then the notebooks (notebooks/), one after another on the embedded default (HTTP on 8000),
# with a throwaway JOEY_HOME; --timeout lifts pytest-timeout's 300 s per test (one notebook).
test: install
	$(PY) -m pytest
	home=$$(mktemp -d) && JOEY_HOME=$$home $(PY) -m pytest -p no:cacheprovider --nbmake \
		--nbmake-timeout=600 --timeout=1200 notebooks; rc=$$?; rm -rf $$home; exit $$rc

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
