# Activation Desk. `make run` starts everything locally; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
VENV := .venv
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))
# One command line for `make messages` and for the test that fails when it would change the catalogue.
MAKEMESSAGES_ARGS := $(shell cat locale/makemessages.args)
PY := $(VENV)/bin/python
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

WEB_BIND ?= 127.0.0.1:8000
WEB_WORKERS ?= 2
RQ_WORKERS ?= 1
CORE_PORT ?= 8001
export WEB_BIND WEB_WORKERS CORE_PORT
# With REDIS_URL set, that Redis is used and no embedded one is started; with CORE_GATEWAY_URL
# set, that core banking is used and the reference core-banking service is not started.
PROCESSES := $(if $(REDIS_URL),,redis) $(if $(CORE_GATEWAY_URL),,core) worker cron web

.PHONY: help install run test lint format clean bench loadtest reliability messages

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(UV):
	@command -v python3 >/dev/null || { echo "python3 is needed to bootstrap uv"; exit 1; }
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed: $(UV) pyproject.toml uv.lock .python-version
	$(UV) sync --frozen
	@touch $@

install: $(VENV)/.installed $(CATALOGUES)  ## Create the virtual environment from the lock file; compile the translations.

# The translations: locale/<language>/LC_MESSAGES/django.po is the source, its .mo is built here
# (with polib: no GNU gettext needed) and never committed.
$(CATALOGUES): %.mo: %.po $(VENV)/.installed
	$(PY) manage.py compile_catalogues

messages: $(VENV)/.installed  ## Extract the strings to translate into locale/ (needs GNU gettext), then compile.
	$(PY) manage.py makemessages $(MAKEMESSAGES_ARGS)
	$(PY) manage.py compile_catalogues

# make run writes every SMS and email to var/outbox/ so the demo can be followed end to end, and
# talks to the reference core-banking service over HTTP (docs/core-banking.openapi.yaml).
run: export SMS_BACKEND ?= accounts.sms.FileSmsBackend
run: export EMAIL_BACKEND ?= django.core.mail.backends.filebased.EmailBackend
run: export CORE_GATEWAY ?= http
run: export CORE_GATEWAY_URL ?= http://127.0.0.1:$(CORE_PORT)
run: install  ## Migrate, load demo data and start Redis, core banking, the RQ worker and the web server.
	@mkdir -p var/corebank
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	$(if $(filter core,$(PROCESSES)),$(PY) manage.py export_core_cards var/corebank/seed.jsonl)
	@echo ""
	@echo "  Activation Desk: http://$(WEB_BIND)/   (Ctrl-C stops everything)"
	@echo ""
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" exec $(VENV)/bin/honcho start --concurrency worker=$(RQ_WORKERS) $(PROCESSES)

test: install  ## Run the whole test suite (browser tests need /usr/bin/chromium).
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install  ## Measure pages and jobs at scale (BENCH_ACCOUNTS, BENCH_CASES; see README).
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) bench/run.py

loadtest: install  ## 60 s of 20 staff users against gunicorn on 127.0.0.1 (locust); needs seed_demo data.
	$(PY) bench/loadtest.py

reliability: install  ## Real gunicorn, RQ worker and Redis with scripted faults; DATABASE_URL: a throwaway PostgreSQL database.
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) bench/reliability.py

lint: install  ## Ruff (lint and format check), mypy, the import contracts, and pip-audit of the lock file.
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports
	$(PY) scripts/audit_dependencies.py

format: install  ## Fix what ruff can fix and format the code.
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:  ## Remove the virtual environments and everything under var/.
	rm -rf $(VENV) .tools var
