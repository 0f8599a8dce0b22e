# The two set-up commands of the README, and the steps they are made of.
#   make demo   installs into .venv and runs the end-to-end demo on the embedded defaults
#   make test   installs into .venv (with dev extras) and runs ruff and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -n 3 --dist worksteal --durations=25

.PHONY: install demo test lint dev clean

install: $(VENV)/.installed

# The sandbox is a distribution of its own (xero_sandbox/), on no index: the dev extra needs
# it, so it is installed from here in the same pip command.
$(VENV)/.installed: pyproject.toml xero_sandbox/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ./xero_sandbox -e '.[dev,celery]'
	touch $@

demo: install
	$(BIN)/xero-pipelines demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Bytecode is written (an empty PYTHONDONTWRITEBYTECODE is off): the suite starts hundreds
# of Python processes, each of which would otherwise compile the package again. Three
# workers on two cores: the end-to-end tests mostly wait on the processes they start (the
# request flows and killed runs use ~30 CPU-s in 111 s), so a third worker fills that
# time (a fresh clone: 598 s with two, 472 s with three). worksteal lets an idle worker
# take queued tests from the others, around the long end-to-end ones.
# `dagster definitions validate` runs inside the suite (tests/test_definitions.py), beside
# the other tests, not as 4 s of its own before them.
test: lint
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest $(PYTEST_ARGS)

dev: install
	mkdir -p .xero_pipelines/dagster && cp dagster.yaml .xero_pipelines/dagster/
	DAGSTER_HOME=$(CURDIR)/.xero_pipelines/dagster $(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
