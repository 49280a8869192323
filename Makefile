# `make demo` and `make test` each create or refresh .venv themselves: nothing else is needed
# on a fresh machine with Python >= 3.10.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test lint typecheck pytest test-reference clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One stamp per extras set, refreshed whenever the dependencies change.
$(VENV)/.installed-%: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e ".[$*]"
	touch $@

demo: $(VENV)/.installed-demo
	$(BIN)/mobilenets demo

test: lint typecheck pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy src/mobilenets

# One worker per core, at most 4; whole test files go to one worker (module fixtures stay shared).
pytest: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadfile

# Opt-in: checks the torchvision and timm converters against those libraries themselves. Its own
# venv, because torchvision/timm pin their torch version (a CUDA build: a few GB to download).
REF_VENV := .venv-reference
REF_PINS := torch==2.14.1 torchvision==0.29.1 timm

$(REF_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(REF_VENV)
	$(REF_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(REF_PINS)
	$(REF_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]" $(REF_PINS)
	touch $@

test-reference: $(REF_VENV)/.installed
	$(REF_VENV)/bin/python -m pytest tests/reference -p no:cacheprovider -o addopts="-ra" -s

clean:
	rm -rf $(VENV) $(REF_VENV) .pytest_cache .mypy_cache .ruff_cache
