# BeeAPI application image: WEB_CONCURRENCY daphne processes (default: one per core)
# sharing port 8000 (HTTP + WebSocket). Migrations are not run here: the compose stack's
# one-off `migrate` service runs them once before any app container starts.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

# .dockerignore keeps tests, devtools, CI scripts, .env and secrets out.
COPY . .
# Static files (admin, API docs, live page) are collected at build time and served by
# WhiteNoise from the app itself: daphne serves no files. The database URLs only satisfy
# the settings (nothing is connected to); they carry no password.
RUN DEBUG=false SECRET_KEY=collectstatic-only \
    POSTGRES_URL=postgresql://build@localhost/none TIMESCALE_URL=postgresql://build@localhost/none_ts \
    python manage.py collectstatic --no-input \
    && useradd --system --no-create-home beeapi
USER beeapi

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=6s --start-period=20s --retries=3 \
    CMD ["python", "deploy/healthcheck.py", "http", "8000"]
CMD ["python", "manage.py", "serve", "--host", "0.0.0.0", "--port", "8000", "--", "--proxy-headers"]
