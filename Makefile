# Set-up and the everyday commands. `make repro` and `make test` each build .venv first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# Set-up installs every package at the version constraints.txt pins (`make lock` rewrites it);
# pyproject.toml's own ranges stay open. torch goes first, alone (its dependencies come with
# the rest): TORCH_SPEC, from TORCH_INDEX where one is given; else, where no NVIDIA GPU is found
# (no nvidia-smi) and pip has no index of the user's own, PyTorch's CPU wheel index, sparing
# the multi-GB CUDA wheels PyPI serves on Linux; else the sources pip is configured with (PyPI
# by default). Another build: TORCH_INDEX=--index-url=URL, the URL pytorch.org's selector gives
# (e.g. https://download.pytorch.org/whl/cu128); another version: TORCH_SPEC='torch==X.Y.Z'.
TORCH_SPEC ?= $(shell grep -m1 '^torch==' constraints.txt)
TORCH_INDEX ?=
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
export DVC_NO_ANALYTICS := 1
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help install lock repro test lint bench fuzz kills cuts clean gpu-wheels
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# $(call install-torch,VENV): install TORCH_SPEC into VENV, from where the comment above says.
# `pip config list` shows the PIP_* variables too, so one look covers files and environment.
define install-torch
	index='$(TORCH_INDEX)'; \
	if [ -z "$$index" ] && ! command -v nvidia-smi >/dev/null 2>&1 \
			&& ! $(1)/bin/python -m pip config list | grep -E '(index-url|find-links)=' >/dev/null; then \
		index='--index-url=$(TORCH_CPU_INDEX)'; fi; \
	echo "installing $(TORCH_SPEC) $${index:-from the sources pip is configured with}"; \
	$(1)/bin/python -m pip install --quiet --no-deps $$index '$(TORCH_SPEC)'
endef

# The pins less torch's: the torch just installed stays, whichever TORCH_SPEC chose it.
$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(call install-torch,$(VENV))
	grep -v '^torch==' constraints.txt > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -c $(VENV)/constraints.txt -e '.[test]'
	touch $@

install: $(BIN)/.installed  ## create .venv and install the project with its test tools

# A throw-away venv takes the newest versions pyproject.toml allows, but torch's is TORCH_SPEC:
# it moves only when asked (`make lock TORCH_SPEC='torch==X.Y.Z'`). Its local label (+cpu) is
# dropped, so a CUDA build of the same version satisfies the pin.
lock:  ## rewrite constraints.txt from a fresh install without it
	venv=$$(mktemp -d) && trap 'rm -rf "$$venv"' EXIT && \
	$(PYTHON) -m venv "$$venv" && \
	"$$venv/bin/python" -m pip install --quiet --upgrade pip && \
	{ $(call install-torch,"$$venv"); } && \
	"$$venv/bin/python" -m pip install --quiet -e '.[test]' && \
	made_with=$$("$$venv/bin/python" -c 'import platform as p; \
		print("Python", p.python_version(), "on", p.system(), p.machine())') && \
	{ echo "# The versions every set-up installs (make install, so CI too): the set the tests"; \
	  echo "# last passed with. pyproject.toml's ranges stay open for those who install the"; \
	  echo "# library into an environment of their own. torch's local label (+cpu) is left off,"; \
	  echo "# so a CUDA build of the same version matches too. Written by \`make lock\` with"; \
	  echo "# $$made_with: rerun it to refresh, rather than editing by hand."; \
	  "$$venv/bin/python" -m pip freeze --exclude-editable | sed -E 's/^(torch==[^+]+)\+.*/\1/'; \
	} > "$$venv/constraints.txt" && mv "$$venv/constraints.txt" constraints.txt

# A killed dvc can leave dvc.lock or .dvc/tmp/rwlock half-written: repaired first (docs/faults.md).
# The repair lives in tools/, which no stage depends on.
repro: install  ## run the whole pipeline (dvc repro)
	python tools/dvc_repair.py
	dvc repro

test: install  ## run the whole test suite, end-to-end runs included
	pytest

lint: install  ## ruff
	ruff check .

bench: install  ## speed and memory against the tutorial's own loop
	python benchmarks/run_all.py

fuzz: install  ## every parser of untrusted bytes, 10,000 inputs each (CI runs 300)
	HYPOTHESIS_PROFILE=fuzz pytest tests/test_fuzz.py -p no:cacheprovider --hypothesis-show-statistics

kills: install  ## SIGKILL a first dvc repro at 18 seeded random moments, then compare (CI runs 5)
	python tests/kill_runs.py --per-stage 2

cuts: install  ## cut a real dvc.lock at every line and 300 random bytes, repair, check (CI runs 7)
	python tests/lock_cuts.py --random 300

clean:  ## remove .venv
	rm -rf $(VENV)

# What benchmarks/gpu_check.sh needs on a GPU machine that has torch (Python 3.12) but not the
# project's other packages and no network: carried there in .whl/, installed by the script.
gpu-wheels:  ## wheels a GPU machine with torch lacks (.whl/, for benchmarks/gpu_check.sh)
	$(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
		--implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 --platform any -d .whl $$(grep -E \
		'^(pydantic|pydantic_core|annotated-types|typing-inspection|typing_extensions)==' \
		constraints.txt)
