# The README's commands. Each target sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# The browser tests drive Debian's Chromium (no test tool may download a browser).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint typecheck unit bench fuzz clean help

help:
	@echo "make demo   set up and run the main job on the embedded log (./data)"
	@echo "make test   set up and run the whole test suite (lint, types, tests)"
	@echo "make bench  run the benchmarks and write bench/results.json"
	@echo "make fuzz   import 100,000 hostile CloudTrail records; fail on a crash, hang or secret"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/rolecall demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

unit: $(VENV)/.installed-dev $(CHROMIUM)
	$(BIN)/pytest

test: lint typecheck unit

# Another apt-get or dpkg holding the lock (an unattended upgrade) is waited for, up to
# 10 minutes, rather than failing the run.
APT_GET := $(SUDO) apt-get -o DPkg::Lock::Timeout=600

$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests"
	@$(APT_GET) update -qq >/dev/null
	@DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq chromium chromium-driver >/dev/null

bench: $(VENV)/.installed
	$(BIN)/rolecall bench

# FUZZ_RECORDS and FUZZ_SEED change the run (see tests/reliability/fuzz_import.py).
FUZZ_RECORDS ?= 100000
FUZZ_SEED ?= 1
fuzz: $(VENV)/.installed-dev
	$(BIN)/python -m tests.reliability.fuzz_import --records $(FUZZ_RECORDS) --seed $(FUZZ_SEED)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .hypothesis
