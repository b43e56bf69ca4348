# The two commands: `make run` (main job on the embedded database) and `make test` (the test suite).
# Each creates .venv with Python 3.11 and installs, on a fresh machine, exactly the versions pinned in
# requirements.lock (the ones CI tested); see CONTRIBUTING.md for how to upgrade them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
# pytest-xdist workers for the database tests (1: in this process, one test after the other)
WORKERS ?= 2
IEM_HOME ?= .iem

.PHONY: run test test-fast test-db lint fix lock lock-upgrade install browser ui validate clean dbt-docs dbt-unit-test

# uv (its version pinned in requirements.lock) installs the lock: ~8 s on this machine where pip took ~100 s.
# --compile-bytecode: uv, unlike pip, leaves the packages without their .pyc files, and where
# PYTHONDONTWRITEBYTECODE is set (it is on these machines) Python never writes them either: every process then
# compiles all it imports from source, each time (the Dagster definitions took 7 s to import instead of 3.4 s,
# `dbt --version` 3.2 s instead of 1.9 s). Compiling them once makes the install ~20 s instead of ~7 s; the
# project's own packages are compiled too (a stale .pyc is ignored: Python checks each source's mtime and size).
$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$$(grep '^uv==' requirements.lock)"
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q -j 0 orchestration ingestion expectations dashboards benchmarks tests >/dev/null
	touch $@

install: $(BIN)/.installed

run: $(BIN)/.installed
	$(BIN)/iem run

browser: $(BIN)/.installed
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(BIN)):$$PATH bash .ci/install-browser.sh

# everything, on one database
test: $(BIN)/.installed browser
	$(BIN)/python -m pytest -q $(XDIST)

# the fast loop: the tests that need no database
test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m "not database"

# the tests that talk to PostgreSQL (IEM_DATABASE_URL, else the embedded server)
test-db: $(BIN)/.installed browser
	$(BIN)/python -m pytest -q -m database $(XDIST)

# a module's tests stay on one worker (tests/conftest.py groups them), so module fixtures build once; the
# groups are handed out in the order tests/conftest.py gives them (the longest first), not by test count
XDIST = $(if $(filter-out 1,$(WORKERS)),-n $(WORKERS) --dist loadgroup --no-loadscope-reorder)

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

# the UI on the instance the command line records its runs in ($IEM_HOME/dagster unless DAGSTER_HOME is set)
ui: $(BIN)/.installed
	home=$${DAGSTER_HOME:-$(abspath $(IEM_HOME))/dagster}; \
	  $(BIN)/python -c "import sys, pathlib; from orchestration.pipeline import prepare_dagster_home as p; p(pathlib.Path(sys.argv[1])).dispose()" "$$home" && \
	  DAGSTER_HOME="$$home" $(BIN)/dagster dev -m orchestration.definitions

# dbt's documentation site of the warehouse the command line uses (after `make run`): the models, sources
# and columns as built, written to $(IEM_HOME)/dbt_docs and served on port 8080 (DBT_DOCS_PORT=… for another;
# Ctrl-C stops it). The exports are read here, at the repository's root, with IEM_HOME made absolute: from
# dbt_project/ a relative IEM_HOME named another, empty embedded database.
dbt-docs: $(BIN)/.installed
	export IEM_HOME="$(abspath $(IEM_HOME))" && eval "$$($(BIN)/python -m orchestration.dbt_env --exports)" && \
	  $(BIN)/dbt docs generate --project-dir dbt_project --target-path "$$IEM_HOME/dbt_docs" && \
	  $(BIN)/dbt docs serve --project-dir dbt_project --target-path "$$IEM_HOME/dbt_docs" --port "$${DBT_DOCS_PORT:-8080}"

validate: $(BIN)/.installed
	$(BIN)/dagster definitions validate -m orchestration.definitions

clean:
	rm -rf .iem dbt_project/target dbt_project/logs test-artifacts

# dbt's unit tests, on the warehouse the command line uses (after `make run`: they need its tables' columns).
# The platform's builds leave them out; CI runs them in tests/integration/test_indicators.py.
dbt-unit-test: $(BIN)/.installed
	export IEM_HOME="$(abspath $(IEM_HOME))" && eval "$$($(BIN)/python -m orchestration.dbt_env --exports)" && \
	  $(BIN)/dbt test --select test_type:unit --project-dir dbt_project --target-path "$$IEM_HOME/dbt_unit_test"
