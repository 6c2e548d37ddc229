# The two commands: `make demo` and `make test`. Everything else is set-up they call.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install browser lint clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tagpipe demo

# Debian's chromium drives the browser tests; install it when we may (root) and it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || true

# Dependencies point one way (import-linter), strict types where the contracts live, ruff everywhere.
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/mypy --strict src/tagpipe/contracts src/tagpipe/codec src/tagpipe/bus src/tagpipe/sandbox
	$(BIN)/ruff check src tests benchmarks

test: $(STAMP) browser lint
	$(BIN)/pytest -q -p no:cacheprovider --durations=25

clean:
	rm -rf $(VENV) tagpipe-data
