# BeeAPI application image: migrations on both databases, then WEB_CONCURRENCY daphne
# processes (default: one per core) sharing port 8000 (HTTP + WebSocket).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files (admin, API docs, live page) are collected at build time and served by
# WhiteNoise from the app itself: daphne serves no files.
RUN DEBUG=false SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input \
    && useradd --system --no-create-home beeapi
USER beeapi

EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --database default --no-input && python manage.py migrate --database telemetry --no-input && python manage.py telemetry_policies --apply && exec python manage.py serve --host 0.0.0.0 --port 8000 -- --proxy-headers"]
