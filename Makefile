# Set-up and the everyday commands. `make repro` and `make test` each build .venv first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# Where no NVIDIA GPU is present, the CPU build of torch is installed first so set-up skips the
# multi-GB CUDA wheels. Override, e.g. TORCH_SPEC='torch==2.13.0' TORCH_INDEX=--index-url=URL.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
export DVC_NO_ANALYTICS := 1
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help install repro test lint bench fuzz kills clean
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	if ! command -v nvidia-smi >/dev/null 2>&1; then \
		$(BIN)/python -m pip install --quiet $(TORCH_INDEX) "$(TORCH_SPEC)"; fi
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed  ## create .venv and install the project with its test tools

repro: install  ## run the whole pipeline (dvc repro)
	dvc repro

test: install  ## run the whole test suite, end-to-end runs included
	pytest

lint: install  ## ruff
	ruff check .

bench: install  ## speed and memory against the tutorial's own loop
	python benchmarks/run_all.py

fuzz: install  ## every parser of untrusted bytes, 10,000 inputs each (CI runs 300)
	HYPOTHESIS_PROFILE=fuzz pytest tests/test_fuzz.py -p no:cacheprovider --hypothesis-show-statistics

kills: install  ## SIGKILL a first dvc repro at 26 seeded random moments, then compare (CI runs 5)
	python tests/kill_runs.py --per-stage 2

clean:  ## remove .venv
	rm -rf $(VENV)
