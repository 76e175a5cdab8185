# nephlab: set-up, demo, tests, benchmarks, docs.
#
#   make demo    create .venv (Python >= 3.11), install nephlab[ui], serve the app (`nephlab serve`)
#                on http://127.0.0.1:5006 (SERVE_ARGS="--port 8080 --no-show" passes options)
#   make test    install nephlab[test] into .venv, run tests/, doctests and notebooks
#   make bench   install nephlab[bench], run `nephlab bench lindblad`
#   make docs    install nephlab[docs], build the site into site/
#   make clean   remove build outputs (keeps .venv); `make distclean` removes .venv too
#
# Each extra is (re)installed only when pyproject.toml or setup.py changed since the last
# install: a stamp file per extra lives inside .venv.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PYTEST_ARGS ?=
PKG_FILES := pyproject.toml setup.py

.PHONY: demo demo-cli test test-fast bench docs clean distclean venv
.DEFAULT_GOAL := demo

$(BIN)/python:
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else \
	  "nephlab needs Python >= 3.11, but $(PYTHON) is %d.%d (set PYTHON=...)" % v[:2])'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(BIN)/python

# $(VENV)/.stamp-core installs `-e .`; $(VENV)/.stamp-EXTRA installs `-e .[EXTRA]`.
$(VENV)/.stamp-%: $(PKG_FILES) | $(BIN)/python
	$(PIP) install --quiet -e ".$(if $(filter core,$*),,[$*])"
	@touch $@

SERVE_ARGS ?=

demo: $(VENV)/.stamp-ui
	$(BIN)/nephlab serve $(SERVE_ARGS)

# The command-line demo of the Lindblad engine (a table and a PNG, no server).
demo-cli: $(VENV)/.stamp-core
	$(BIN)/nephlab demo

# One pytest run: unit tests, doctests of the nephlab package, notebooks (nbval, lax mode:
# every cell must run; outputs are not compared).
# The suite runs without JAX's persistent compilation cache, so that its many concurrent
# processes (served apps, kernels, subprocesses) compile for themselves;
# tests/test_compilation_cache.py turns it on explicitly where it is tested.
# Measured 2026-12-06 (benchmarks/test_cpu.sh, benchmarks/RESULTS.md "Test-suite CPU"), neither a
# per-run cache nor compile-effort XLA flags are used here: a fresh cache shared by the files
# changed nothing (267 against 270 CPU s for test_mesolve_api, test_rk_dop853, test_mesolve_memory
# in one process; test_mesolve_invariants then found 0 of its 23 cacheable programs in it: the
# quantum files compile different programs, and a process's own repeats already hit jit's cache).
# XLA_FLAGS=--xla_backend_optimization_level=0 (with --xla_llvm_disable_expensive_passes=true)
# cut the quantum files' CPU by 24 % but made a PPO training test 51 % slower (its run time is
# compiled code); --xla_llvm_disable_expensive_passes=true alone cut 8 %, within the noise of a
# load of 6-12.
# A native crash (segfault, abort) would end the run with faulthandler's dump, whose tail is a
# long module list; the dump goes to $(CRASH_LOG) instead and tests/crash_report.py prints the
# test that was running and the innermost frames of each thread.
# The tests run in PYTEST_WORKERS processes (pytest-xdist, a whole file per worker, so a file's
# servers and fixtures are started once; the slowest files start first, see tests/conftest.py
# SLOW_FIRST); PYTEST_WORKERS=0 runs them in this process.
# The slowest tests are listed at the end and test-artifacts/junit.xml keeps every test's time.
CRASH_LOG := .pytest-crash.log
PYTEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder)
PYTEST := NEPHLAB_JAX_CACHE=off NEPHLAB_CRASH_LOG=$(CRASH_LOG) $(BIN)/python -m pytest -p no:faulthandler \
  $(XDIST) --durations=30 --junitxml=test-artifacts/junit.xml
CRASH_REPORT := { rc=$$?; $(BIN)/python tests/crash_report.py $(CRASH_LOG); exit $$rc; }

test: $(VENV)/.stamp-test
	$(PYTEST) tests --doctest-modules nephlab widgets \
	  --nbval-lax --nbval-current-env notebooks $(PYTEST_ARGS) || $(CRASH_REPORT)

# Unit tests only, skipping the slow ones.
test-fast: $(VENV)/.stamp-test
	$(PYTEST) tests -m "not slow and not notebooks" $(PYTEST_ARGS) || $(CRASH_REPORT)

bench: $(VENV)/.stamp-bench
	$(BIN)/nephlab bench lindblad

docs: $(VENV)/.stamp-docs
	NEPHLAB_DOCS_EXECUTE=true NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf build dist site *.egg-info .pytest_cache .hypothesis nephlab-demo.png
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print | xargs rm -rf

distclean: clean
	rm -rf $(VENV)
