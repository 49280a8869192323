# `make demo`, `make test` and `make docs` each create or refresh .venv themselves: nothing else is
# needed on a fresh machine with Python >= 3.10.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test lint typecheck pytest chromium docs figures screenshots test-reference clean

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
	$(BIN)/ruff check src tests benchmarks docs/guide
	$(BIN)/ruff format --check src tests benchmarks docs/guide

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy src/mobilenets

# One worker per core, at most 4; whole test files go to one worker (module fixtures stay shared).
pytest: $(VENV)/.installed-dev chromium
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadfile

# The guide's browser test (tests/guide/test_site.py) drives the system's Chromium and skips without
# one. As root on Debian or Ubuntu, install it, quietly; a failed install never fails the tests.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  echo "installing chromium and a CJK font for the guide's browser test (apt-get)" && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null 2>&1; }; }; } || true

# The guide (docs/guide) as a static site in site/, offline, from the committed figures and numbers.
# It needs only the docs extra; a venv that already has the dev extras (which include it) is used as is.
# NO_MKDOCS_2_WARNING: Material's banner about MkDocs 2, printed on every build.
DOCS_STAMP := $(if $(wildcard $(VENV)/.installed-dev),$(VENV)/.installed-dev,$(VENV)/.installed-docs)
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Remake the guide's figures and numbers from the package (a few minutes), then `make docs`.
figures: $(VENV)/.installed-dev
	$(BIN)/python docs/guide/make_figures.py

# Full-page screenshots of three guide pages into docs/screenshots/ (needs Chromium).
screenshots: $(VENV)/.installed-dev chromium
	$(BIN)/python docs/guide/screenshots.py

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
	rm -rf $(VENV) $(REF_VENV) .pytest_cache .mypy_cache .ruff_cache site
