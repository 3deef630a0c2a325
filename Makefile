# Two entry points for a newcomer: `make demo` and `make test`. Each makes its own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint unit lab-deps clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/mailprobe demo

# Installs the lab's Debian packages when run as root (skipped otherwise: the lab tests then skip),
# then lints, type-checks and runs every test.
test: $(BIN)/.installed lab-deps lint
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check mailprobe tests bench
	$(BIN)/mypy

unit: $(BIN)/.installed
	$(BIN)/python -m pytest -m 'not lab'

lab-deps:
	@if [ "$$(id -u)" = 0 ]; then bash tests/lab/install-deps.sh; else echo "not root: lab packages not installed, lab tests will skip"; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
