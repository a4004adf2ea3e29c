# BeeAPI developer commands. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint mypy-baseline fmt manage bench check-deploy compose-secrets compose-config compose-config-if-available clean-db help

help:
	@echo "make run     start local databases (or use POSTGRES_URL/TIMESCALE_URL), migrate, serve on 127.0.0.1:8000"
	@echo "make test    run the test suite against throwaway PostgreSQL servers (or the URLs given)"
	@echo "make lint    ruff, import contracts (.importlinter), mypy against its baseline, makemigrations --check"
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
	$(VENV)/bin/lint-imports
	$(PY) -m devtools.mypy_baseline
	DEBUG=true BEEAPI_DEVTOOLS=true DJANGO_SETTINGS_MODULE=devtools.settings_nodb $(PY) manage.py makemigrations --check --dry-run

# mypy errors may only shrink (devtools/mypy_baseline.py): lock in the current counts.
mypy-baseline: $(STAMP)
	$(PY) -m devtools.mypy_baseline --update

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

manage: $(STAMP)
	$(PY) -m devtools.devstack manage $(ARGS)

# Production settings must pass Django's deployment checks.
check-deploy: $(STAMP)
	DEBUG=false SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	POSTGRES_URL=postgresql://beeapi@db.example.org/beeapi \
	TIMESCALE_URL=postgresql://beeapi@tsdb.example.org/beeapi_telemetry \
	ALLOWED_HOSTS=beeapi.example.org $(PY) manage.py check --deploy --fail-level WARNING

# The compose stack's secrets (docker-compose.yml), each a random value unless it exists.
# The folder is private (0700); the files are readable (0644) because compose mounts them
# with these modes and the app runs as an unprivileged user inside its container.
COMPOSE_SECRETS := postgres_password timescale_password replication_password secret_key mqtt_admin_password
compose-secrets:
	@mkdir -p secrets && chmod 700 secrets
	@for name in $(COMPOSE_SECRETS); do \
		if [ ! -s secrets/$$name ]; then \
			$(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))' > secrets/$$name; \
			chmod 644 secrets/$$name; echo "secrets/$$name: created"; \
		else echo "secrets/$$name: kept"; fi; \
	done
	@test -e secrets/email_host_password || { : > secrets/email_host_password; chmod 644 secrets/email_host_password; echo "secrets/email_host_password: created empty (set it if your mail server needs a login)"; }

compose-config:
	docker-compose -f docker-compose.yml config --quiet

clean-db:
	rm -rf .localdb

# CI validates the compose file where docker-compose is installed (Debian: docker-compose).
compose-config-if-available:
	@if command -v docker-compose >/dev/null 2>&1; then docker-compose -f docker-compose.yml config --quiet && echo "docker-compose.yml: valid"; else echo "docker-compose not installed: skipping compose validation"; fi
