# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv and install the project into it first (once; the stamp file
# is refreshed when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_SPEC ?= sweeps/quickstart.yaml

.PHONY: demo test test-fast lint install bench clean chromium notebook screenshots

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cifarsweep run $(DEMO_SPEC)
	$(BIN)/cifarsweep report

# Everything CI runs: lint, format check, types, then every test (slow ones included).
test: lint
	$(BIN)/python -m pytest -q --durations=25 tests

# The edit-run loop: lint and the fast tests only (no trainings, sweeps or real processes).
test-fast: lint
	$(BIN)/python -m pytest -q -m "not slow" tests

# Headless Chromium for the browser test (tests/test_browser.py runs this when it is missing).
chromium:
	test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver)

# Screenshots of the demo report for the README: the offline demo sweep in build/screenshots, its
# report, and headless Chromium (Debian's package, installed by `chromium` above) at 1,280 px.
SHOTS := build/screenshots
SCREENSHOT_SPEC ?= sweeps/synthetic_demo.yaml
CHROME := /usr/bin/chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1
screenshots: $(STAMP) chromium
	rm -rf $(SHOTS) && mkdir -p $(SHOTS) docs
	cd $(SHOTS) && $(CURDIR)/$(BIN)/cifarsweep run $(CURDIR)/$(SCREENSHOT_SPEC) && $(CURDIR)/$(BIN)/cifarsweep report
	$(CHROME) --window-size=1280,1000 --screenshot=$(CURDIR)/docs/report_top.png \
	  file://$(CURDIR)/$(SHOTS)/reports/synthetic_demo/index.html
	$(CHROME) --window-size=1280,4200 --screenshot=$(CURDIR)/docs/report_full.png \
	  file://$(CURDIR)/$(SHOTS)/reports/synthetic_demo/index.html

# The walkthrough in Jupyter (the `notebook` extra); `make test` executes it headless.
notebook: $(STAMP)
	$(BIN)/pip install --quiet -e '.[notebook]'
	$(BIN)/jupyter lab notebooks/walkthrough.ipynb

lint: $(STAMP)
	$(BIN)/ruff check cifarsweep tests benchmarks
	$(BIN)/ruff format --check cifarsweep tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/augment.py
	$(BIN)/python benchmarks/logging_overhead.py
	$(BIN)/python benchmarks/report_bench.py
	$(BIN)/python benchmarks/trial_overhead.py

clean:
	rm -rf $(VENV) build *.egg-info
