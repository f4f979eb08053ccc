# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
# Each creates .venv on first use and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint install browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned to the builds this project is tested with (they install from local disk here)
	$(BIN)/pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/pip install --quiet -e ".[dev,lite,deploy]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/learned-resizer demo --out demo-output

# Debian's Chromium for the browser tests (report page, web UI); skipped cleanly without it.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: browser tests will be skipped"

test: $(STAMP) browser lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

# ruff, pinned in the dev extra: lint and format are checked, never rewritten, by `make test`
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) demo-output runs
