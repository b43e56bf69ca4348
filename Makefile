# The two commands: `make run` (main job on the embedded database) and `make test` (the test suite).
# Each creates .venv with Python 3.11 and installs, on a fresh machine, exactly the versions pinned in
# requirements.lock (the ones CI tested); see CONTRIBUTING.md for how to upgrade them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint fix lock lock-upgrade install browser ui validate clean

$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

install: $(BIN)/.installed

run: $(BIN)/.installed
	$(BIN)/iem run

browser: $(BIN)/.installed
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(BIN)):$$PATH bash .ci/install-browser.sh

test: $(BIN)/.installed browser
	$(BIN)/python -m pytest -q

# ruff (lint + format check), sqlfluff on the dbt models and tests, mypy on the libraries
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/tests --processes 2 --disable-progress-bar
	$(BIN)/mypy

fix: $(BIN)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/sqlfluff fix dbt_project/models dbt_project/tests --processes 2 --disable-progress-bar

# requirements.lock from pyproject.toml: `lock` adds what is new and keeps every other pin,
# `lock-upgrade` moves every pin to the newest release PyPI offers within pyproject's ranges
LOCK_COMPILE = $(BIN)/uv pip compile pyproject.toml --extra test --extra lint --extra lock \
	--python-version 3.11 --universal --no-emit-package iem --output-file requirements.lock
lock: $(BIN)/.installed
	$(LOCK_COMPILE)
lock-upgrade: $(BIN)/.installed
	$(LOCK_COMPILE) --upgrade

ui: $(BIN)/.installed
	$(BIN)/dagster dev -m orchestration.definitions

validate: $(BIN)/.installed
	$(BIN)/dagster definitions validate -m orchestration.definitions

clean:
	rm -rf .iem dbt_project/target dbt_project/logs test-artifacts
