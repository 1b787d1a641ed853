# The two commands: `make run` (the shop, its worker, beat and broker) and `make test`.
# Both create the virtualenv and install what they need first; only Python 3.11 is assumed.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-pg lint clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "The browser tests need Chromium at $(CHROMIUM); install it."; exit 1; }
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

# The dev server's port: make run PORT=8001 (a second copy beside the first).
PORT ?= 8000

run: $(STAMP)  ## set up and run the shop: dev server, Celery worker and beat, Redis (PORT=8000)
	$(BIN)/python -m devstack --port $(PORT)

# Two test workers per core, at most 8 (TEST_WORKERS=0: all in this process), each test file
# whole on one worker (tests/conftest.py makes a file a group): the flow modules' stacks start
# once, and the session stack once per worker. The flow tests mostly wait on their processes
# (about 40 % of a core each), so a second worker per core fills the waits: on 2 cores, 4
# workers ran the SQLite suite in 9.5 min against 14 min with 2.
TEST_WORKERS ?= $(shell n=$$(nproc); echo $$(( n * 2 < 8 ? n * 2 : 8 )))
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25

test: lint $(CHROMIUM)  ## set up, lint, and run the whole suite (starts its own Redis, server and worker)
	$(PYTEST)

# No lint here: CI runs `make test` first, and the code checked is the same.
test-pg: $(STAMP) $(CHROMIUM)  ## the suite with the shop and the span store on PostgreSQL (default the local server)
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/threadline} \
	TELEMETRY_DATABASE_URL=$${TELEMETRY_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/threadline_traces} \
	$(PYTEST)

lint: $(STAMP)  ## ruff (lint and format), the import-linter contracts, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

clean:  ## remove the virtualenv and local databases
	rm -rf $(VENV) var
