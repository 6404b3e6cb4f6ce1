# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv and install the project into it first (once; the stamp file
# is refreshed when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cifarsweep run sweeps/quickstart.yaml
	$(BIN)/cifarsweep report --sweep quickstart

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/augment.py

clean:
	rm -rf $(VENV) build *.egg-info
