# BeeAPI developer commands. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt manage bench check-deploy compose-config compose-config-if-available clean-db help

help:
	@echo "make run     start local databases (or use POSTGRES_URL/TIMESCALE_URL), migrate, serve on 127.0.0.1:8000"
	@echo "make test    run the test suite against throwaway PostgreSQL servers (or the URLs given)"
	@echo "make lint    ruff"
	@echo "make manage ARGS='...'   manage.py against the make-run databases"

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m devtools.devstack run

test: $(STAMP)
	$(PY) -m devtools.devstack test $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

manage: $(STAMP)
	$(PY) -m devtools.devstack manage $(ARGS)

# Production settings must pass Django's deployment checks.
check-deploy: $(STAMP)
	DEBUG=false SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	ALLOWED_HOSTS=beeapi.example.org $(PY) manage.py check --deploy --fail-level WARNING

compose-config:
	docker-compose -f docker-compose.yml config --quiet

clean-db:
	rm -rf .localdb

# CI validates the compose file where docker-compose is installed (Debian: docker-compose).
compose-config-if-available:
	@if command -v docker-compose >/dev/null 2>&1; then docker-compose -f docker-compose.yml config --quiet && echo "docker-compose.yml: valid"; else echo "docker-compose not installed: skipping compose validation"; fi
