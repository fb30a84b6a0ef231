# ipsec-remote — set-up and checks. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
export IPSEC_REMOTE_USER ?= LAB\admin

.PHONY: install test lint demo bench bench-quick clean

$(BIN)/ipsec-remote: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/ipsec-remote

test: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy

# Starts a lab fleet from inventory.toml and rolls IPsec out on it (apply → status → drill → promote → status).
demo: install
	$(BIN)/ipsec-remote plan inventory.toml --offline
	$(BIN)/ipsec-remote lab up inventory.toml --detach
	$(BIN)/ipsec-remote apply inventory.toml --lab; \
	  rc=$$?; $(BIN)/ipsec-remote status inventory.toml --lab; \
	  [ $$rc -eq 0 ] && $(BIN)/ipsec-remote doctor inventory.toml --lab --drill && \
	  $(BIN)/ipsec-remote promote --to require -i inventory.toml --lab; \
	  $(BIN)/ipsec-remote status inventory.toml --lab; \
	  $(BIN)/ipsec-remote lab down inventory.toml; exit $$rc

bench: install
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python bench/run.py

bench-quick: install
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) .ipsec-remote .pytest_cache .mypy_cache .ruff_cache
