# `make test` is the one command CI runs: it makes the virtualenv, installs, lints, type-checks and tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: test test-only test-thorough services lint type demo example golden openapi capabilities bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,lint]"
	touch $@

test: lint type test-only

test-only: $(INSTALLED) services
	$(BIN)/python -m pytest -q

# The property tests with many random examples (hypothesis' `thorough` profile), and the conformance suite: long.
test-thorough: $(INSTALLED) services
	SLUICEWAY_HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest -q tests/conformance tests/core/test_serialization.py

# The database servers the store tests use (reused when running; started, or installed, when not).
services:
	bash scripts/services.sh

lint: $(INSTALLED)
	$(BIN)/ruff check sluiceway tests examples bench
	$(BIN)/ruff format --check sluiceway tests examples bench

type: $(INSTALLED)
	$(BIN)/mypy

# Run the quick-start pipeline on this machine (runs are kept under $$SLUICEWAY_HOME, default ~/.sluiceway).
demo: $(INSTALLED)
	$(BIN)/sluiceway run examples/quickstart.py

example: $(INSTALLED)
	$(BIN)/sluiceway compile examples/quickstart.py -o quickstart.yaml

# Regenerate the checked-in golden IR files and the IR's JSON Schema.
golden: $(INSTALLED)
	SLUICEWAY_UPDATE_GOLDEN=1 $(BIN)/python -m pytest -q tests/test_examples.py tests/core/test_schema.py tests/backends/argo/test_render.py tests/backends/tekton/test_render.py

# Regenerate the checked-in OpenAPI document of the server's REST API.
openapi: $(INSTALLED)
	$(BIN)/python -m sluiceway.server.openapi docs/reference/openapi.json

# Rewrite the capability table in docs/reference/backends.md from the conformance suite's results on every backend.
capabilities: $(INSTALLED)
	SLUICEWAY_UPDATE_CAPABILITIES=1 $(BIN)/python -m pytest -q tests/conformance/test_conformance.py

bench: $(INSTALLED)
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python bench/compile.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
