# Two commands on a fresh machine with Python 3.11+: `make run` starts the platform,
# `make test` runs every test. Both create .venv/ on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVICES := $(sort $(notdir $(wildcard services/*)))
# The developer tools, pinned (tox.ini and .pre-commit-config.yaml pin ruff, mypy and hooks).
TOOLS := tox==4.67.15 tox-uv==1.37.1 uv==0.13.9 pre-commit==4.7.0

# uv (used by tox-uv) trusts only its own CA roots unless told otherwise; the system bundle also
# holds any CA a site adds, e.g. for a proxy.
ifneq ($(wildcard /etc/ssl/certs/ca-certificates.crt),)
export SSL_CERT_FILE ?= /etc/ssl/certs/ca-certificates.crt
endif

.PHONY: run test tools install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.tools: $(BIN)/python Makefile
	$(BIN)/python -m pip install -q $(TOOLS)
	touch $@

$(VENV)/.installed: $(VENV)/.tools $(wildcard */*/pyproject.toml)
	$(BIN)/python -m pip install -q -e libs/common $(addprefix -e services/,$(SERVICES)) \
		-e deploy/docs -e deploy/local
	touch $@

tools: $(VENV)/.tools  ## tox and pre-commit

install: $(VENV)/.installed  ## every package editable (and the `platform` command)

run: install  ## the platform without Docker: gateway on http://127.0.0.1:8080 (platform up)
	$(BIN)/platform up

test: tools  ## lint, types and every package's tests, each in its own tox env
	$(BIN)/tox

clean:
	rm -rf $(VENV) .tox .platform services/*/instance
