# ipsec-remote — set-up and checks. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
export IPSEC_REMOTE_USER ?= LAB\admin

.PHONY: install test lint demo bench bench-quick bench-big clean kerberos kerberos-python mutation

# Kerberos: Debian's MIT KDC and tools (the lab's realm), libkrb5-dev (to build the gssapi and krb5 Python
# packages) and faketime (the lab's skewed-KDC fault). Needs root or sudo for apt-get.
KRB5_DEBS = krb5-kdc krb5-admin-server krb5-user libkrb5-dev faketime
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(BIN)/ipsec-remote: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/ipsec-remote

# Installs the Debian packages if any is missing, then the project's kerberos extra.
kerberos: install
	@if ! [ -x /usr/sbin/krb5kdc ] || ! command -v krb5-config >/dev/null || ! command -v faketime >/dev/null; then \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(KRB5_DEBS); fi
	$(BIN)/pip install --quiet -e ".[dev,kerberos]"

# Where the KDC is installed, the Kerberos tests run: make sure the Python side is there too.
kerberos-python: install
	@if [ -x /usr/sbin/krb5kdc ] && ! $(BIN)/python -c "import gssapi, krb5" 2>/dev/null; then \
	  $(BIN)/pip install --quiet -e ".[dev,kerberos]" || { echo "make kerberos first (libkrb5-dev)"; exit 1; }; fi

test: install kerberos-python
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
	$(BIN)/ipsec-remote apply inventory.toml --lab --yes; \
	  rc=$$?; $(BIN)/ipsec-remote status inventory.toml --lab; \
	  [ $$rc -eq 0 ] && $(BIN)/ipsec-remote doctor inventory.toml --lab --drill && \
	  $(BIN)/ipsec-remote promote --to require -i inventory.toml --lab --yes; \
	  $(BIN)/ipsec-remote status inventory.toml --lab; \
	  $(BIN)/ipsec-remote lab down inventory.toml; exit $$rc

bench: install
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python bench/run.py

bench-quick: install
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python bench/run.py --quick

# Mutation testing (mutmut, pinned in the `mutation` extra; not part of `make test`): the pure core and the
# orchestration against the unit and in-process tests, then the two scores (docs/mutation.md). Long: run
# niced. MUTATION_ARGS="--group pure" for one group, "--report" to re-read the last run.
mutation: install
	$(BIN)/pip install --quiet -e ".[dev,mutation]"
	nice -n 15 $(BIN)/python tools/mutation.py $(MUTATION_ARGS)

# 10,000 hosts, apply with proof (not part of `make test`; measured: 19 min, lab 3.8 GB, controller 1.2 GB on two cores;
# the one-process lab runs with a 30 s WinRM idle timeout there to stay under 20,000 open files — README).
bench-big: install
	$(BIN)/python bench/run.py --scale 10000

clean:
	rm -rf mutants $(VENV) .ipsec-remote .pytest_cache .mypy_cache .ruff_cache
