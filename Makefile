# Two commands on a fresh machine with Python 3.11:  make demo  ·  make test
# Each creates .venv (once) with everything it needs; nothing downloads at run time.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The console's browser tests drive Debian's chromium; Playwright's own download is
# not used (nothing downloads at run time).
CHROMIUM := /usr/bin/chromium

.PHONY: demo test lint typecheck unit integration e2e dev schemas clean

$(STAMP): pyproject.toml setup.py api/proto/recoup/v1/recoup.proto
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Installed once, quietly, where it is missing (as root, as CI runs).
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: $(STAMP)
	$(BIN)/recoup demo

dev: $(STAMP)
	$(BIN)/recoup dev

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy .

# Tests by how much they run: unit (pure, seconds), integration (real services and a
# Temporal server per test session), e2e (the recoup command and benchmarks end to end).
# `make test` runs the fast part first, so a broken rule fails in seconds.
unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

e2e: $(STAMP) $(CHROMIUM)
	$(BIN)/pytest tests/e2e

test: lint typecheck unit integration e2e

schemas: $(STAMP)
	$(BIN)/recoup playbook schema > docs/playbook.schema.json
	$(BIN)/python -c "from simulators.population import population_json_schema as s; print(s(), end='')" > docs/population.schema.json

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
