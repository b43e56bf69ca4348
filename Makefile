# The two commands: `make run` (main job on the embedded database) and `make test` (the test suite).
# Each creates .venv with Python 3.11 and installs what it needs on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test install install-test browser ui validate clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

run: $(BIN)/.installed
	$(BIN)/iem run

browser: $(BIN)/.installed
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(BIN)):$$PATH bash .ci/install-browser.sh

test: $(BIN)/.installed browser
	$(BIN)/python -m pytest -q

ui: $(BIN)/.installed
	$(BIN)/dagster dev -m orchestration.definitions

validate: $(BIN)/.installed
	$(BIN)/dagster definitions validate -m orchestration.definitions

clean:
	rm -rf .iem dbt_project/target dbt_project/logs test-artifacts
