# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv and install the project into it first (once; the stamp file
# is refreshed when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_SPEC ?= sweeps/quickstart.yaml

.PHONY: demo test test-fast lint install bench clean

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
	$(BIN)/python -m pytest -q tests

# The edit-run loop: lint and the fast tests only (no trainings, sweeps or real processes).
test-fast: lint
	$(BIN)/python -m pytest -q -m "not slow" tests

lint: $(STAMP)
	$(BIN)/ruff check cifarsweep tests benchmarks
	$(BIN)/ruff format --check cifarsweep tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/augment.py
	$(BIN)/python benchmarks/logging_overhead.py
	$(BIN)/python benchmarks/report_bench.py

clean:
	rm -rf $(VENV) build *.egg-info
