# joey's one interface: install, demo, test, lint, bench.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.joey-installed
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER ?= 0

.PHONY: install demo test lint bench bench-quick screenshots vendor-dashboard clean

install: $(STAMP)

# torch first, pinned, so nothing later pulls another build (and GBs of CUDA).
$(STAMP): pyproject.toml
	@# The store tests start a throwaway PostgreSQL server (tests/support/postgres.py):
	@# Debian's postgresql package (its initdb is off PATH), unless JOEY_TEST_POSTGRES=0.
	@if [ "$${JOEY_TEST_POSTGRES:-}" = 0 ] || command -v initdb >/dev/null 2>&1 \
		|| ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	else \
		if [ "$$(id -u)" = 0 ]; then sudo=; \
		elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
		else sudo=none; fi; \
		if [ "$$sudo" = none ] || ! command -v apt-get >/dev/null 2>&1; then \
			echo "make install: the tests need PostgreSQL's server (initdb, postgres), and it cannot be installed here (Debian's postgresql package needs apt-get, and root or sudo). Install PostgreSQL, or set JOEY_TEST_POSTGRES=0 to skip its tests." >&2; \
			exit 1; \
		fi; \
		echo "make install: installing Debian's postgresql package (for the tests)"; \
		$$sudo apt-get update -q; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql \
			|| { echo "make install: could not install Debian's postgresql package (see above). Install PostgreSQL, or set JOEY_TEST_POSTGRES=0 to skip its tests." >&2; exit 1; }; \
	fi
	@# The dashboard's browser tests drive a headless Chromium (tests/support/dashboard_scene.py):
	@# Debian's chromium package (Playwright never downloads one), unless JOEY_TEST_BROWSER=0.
	@if [ "$${JOEY_TEST_BROWSER:-}" = 0 ] || command -v chromium >/dev/null 2>&1 \
		|| command -v chromium-browser >/dev/null 2>&1; then :; \
	else \
		if [ "$$(id -u)" = 0 ]; then sudo=; \
		elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
		else sudo=none; fi; \
		if [ "$$sudo" = none ] || ! command -v apt-get >/dev/null 2>&1; then \
			echo "make install: the dashboard's tests need Chromium, and it cannot be installed here (Debian's chromium package needs apt-get, and root or sudo). Install Chromium (or point JOEY_CHROMIUM at one), or set JOEY_TEST_BROWSER=0 to skip its tests." >&2; \
			exit 1; \
		fi; \
		echo "make install: installing Debian's chromium package (for the dashboard's tests)"; \
		$$sudo apt-get update -q; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
			|| { echo "make install: could not install Debian's chromium package (see above). Install Chromium, or set JOEY_TEST_BROWSER=0 to skip its tests." >&2; exit 1; }; \
	fi
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
	$(PY) -m benchmarks.token_check

bench-quick: install
	$(PY) -m benchmarks.run --quick

# The dashboard's screenshots (docs/screenshots/, linked from the README): a service with a
# pipeline that served real requests, seen in headless Chromium.
screenshots: install
	$(PY) tests/support/screenshots.py docs/screenshots

# The dashboard's third-party front-end files (uPlot), from the npm packages pinned in
# joey/service/dashboard/vendor/package-lock.json, into joey/service/dashboard/static/vendor/.
vendor-dashboard:
	joey/service/dashboard/vendor/vendor.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
