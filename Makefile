# Two commands on a fresh machine with Python 3.11+: `make run` starts the platform,
# `make test` runs every test. Both create .venv/ on first use.
#
# Everything installs from the one lock file, uv.lock (the uv workspace of pyproject.toml): the
# same versions tox, the service images and CI use. `--locked` stops with "The lockfile ... needs
# to be updated" when a pyproject.toml changed without `uv lock` (docs/development.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
# uv itself, to bootstrap; every other tool (tox, tox-uv, pre-commit) is in pyproject.toml's dev
# group. Keep this pin equal to the dev group's.
UV_PIN := uv==0.13.9

# uv (also under tox-uv) trusts only its own CA roots unless told otherwise; the system bundle
# also holds any CA a site adds, e.g. for a proxy.
ifneq ($(wildcard /etc/ssl/certs/ca-certificates.crt),)
export SSL_CERT_FILE ?= /etc/ssl/certs/ca-certificates.crt
endif

.PHONY: run test tools install clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(UV_PIN)

# --inexact: keep the packages `make install` added (a plain `uv sync` makes .venv exactly the
# selection it names, here the dev group alone).
$(VENV)/.tools: $(UV) uv.lock pyproject.toml Makefile
	$(UV) sync --locked --inexact --only-group dev
	touch $@

$(VENV)/.installed: $(UV) uv.lock pyproject.toml Makefile $(wildcard */*/pyproject.toml)
	$(UV) sync --locked --all-packages
	touch $@ $(VENV)/.tools

tools: $(VENV)/.tools  ## tox and pre-commit

install: $(VENV)/.installed  ## every package editable (and the `platform` command), and the tools

run: install  ## the platform without Docker: gateway on http://127.0.0.1:8080 (platform up)
	$(BIN)/platform up

test: tools  ## lint, types and every package's tests, each in its own tox env
	$(BIN)/tox

clean:
	rm -rf $(VENV) .tox .platform services/*/instance
