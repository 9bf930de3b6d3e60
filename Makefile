# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint ui mlflow-ui

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

install: $(INSTALLED)

# Writes demo batches only when the landing folder is empty, then runs the pipeline once.
run: install
	$(BIN)/ml-pipeline demo-data --if-empty
	$(BIN)/ml-pipeline run

# One pytest worker per core; a test module stays on one worker, so the project a module
# trains once is shared by its tests. xdist starts the modules with the most tests first,
# which leaves the live ones, mostly waiting on servers, to overlap the CPU-bound tests;
# starting the live ones first made the suite slower on two cores.
TEST_WORKERS ?= 2

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check ml_pipeline ml_pipeline_tests

ui: install
	$(BIN)/ml-pipeline ui

mlflow-ui: install
	$(BIN)/ml-pipeline mlflow-ui
