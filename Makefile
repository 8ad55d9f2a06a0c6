# Ferry's tasks. `make help` lists them. Every target installs what it needs first.
.DEFAULT_GOAL := help
SHELL := /bin/bash

export UV_PYTHON_DOWNLOADS ?= automatic
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
HOST ?= 127.0.0.1
PORT ?= 8000
APP ?= users_api.main:app

# The second interpreter the suite runs on: uv's own, else a pyenv one, else none.
PY313 = $(shell $(UV) python find 3.13 2>/dev/null || ls $(HOME)/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | head -n1)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

BOOTSTRAP_UV = $(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

.venv/.synced: pyproject.toml $(wildcard packages/*/pyproject.toml apps/*/pyproject.toml) uv.lock
	@$(BOOTSTRAP_UV)
	$(UV) sync --all-packages --all-extras --python 3.11
	@touch $@

.PHONY: sync
sync: .venv/.synced ## install the workspace and its dev tools into .venv

uv.lock: pyproject.toml $(wildcard packages/*/pyproject.toml apps/*/pyproject.toml)
	@$(BOOTSTRAP_UV)
	$(UV) lock

.PHONY: run
run: sync ## serve the demo API on http://127.0.0.1:8000
	@mkdir -p var
	@echo "Ferry demo API on http://$(HOST):$(PORT)  (docs: http://$(HOST):$(PORT)/docs)"
	$(UV) run --no-sync ferry serve $(APP) --host $(HOST) --port $(PORT)

.PHONY: lint
lint: sync ## ruff (lint and format check) and mypy --strict
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy

.PHONY: format
format: sync ## apply ruff's fixes and formatting
	$(UV) run --no-sync ruff check --fix .
	$(UV) run --no-sync ruff format .

.PHONY: test
test: lint ## lint, then the whole suite on 3.11 with coverage (>= 90%), then on 3.13
	$(UV) run --no-sync coverage erase
	$(UV) run --no-sync pytest --cov --cov-report=term --cov-fail-under=90
	@if [ -n "$(PY313)" ]; then \
		echo "== the suite on Python 3.13 ($(PY313))"; \
		UV_PROJECT_ENVIRONMENT=.venv-3.13 $(UV) sync --all-packages --all-extras --python "$(PY313)" --quiet && \
		UV_PROJECT_ENVIRONMENT=.venv-3.13 $(UV) run --no-sync --python "$(PY313)" pytest -q -p no:cacheprovider; \
	else echo "no Python 3.13 interpreter found: skipping the 3.13 run"; exit 1; fi

.PHONY: bench
bench: sync ## benchmarks against the peers, written to docs/performance.md (BENCH_ARGS=--quick)
	$(UV) run --no-sync python bench/run.py $(BENCH_ARGS)

.PHONY: docs
docs: sync ## regenerate the generated pages (configuration, request lifecycle), then build site/ (mkdocs --strict)
	$(UV) run --no-sync python -m docs.gen_configuration
	$(UV) run --no-sync python -m docs.gen_request_lifecycle
	$(UV) run --no-sync mkdocs build --strict

.PHONY: clean
clean: ## remove virtual environments, caches, coverage data and the built site
	rm -rf .venv .venv-3.13 .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* htmlcov site
