# The two commands a newcomer needs are `make demo` and `make test`; both install first.
SHELL := /bin/bash
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
PYTEST_WORKERS ?= 2

.PHONY: install demo sim test lint typecheck unit bench clean

install: $(VENV)/.installed

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	touch $@

demo: install
	$(VENV)/bin/pilothouse demo $(ARGS)

sim: install
	$(VENV)/bin/pilothouse sim $(ARGS)

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) -q

test: lint typecheck unit

bench: install
	$(VENV)/bin/python bench/sim.py

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
