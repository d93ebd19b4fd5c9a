# Beacon: gunicorn serving the Django app, WhiteNoise serving its static files.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

RUN groupadd --system beacon \
    && useradd --system --gid beacon --home-dir /app --no-create-home --shell /usr/sbin/nologin beacon

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# Static files are collected into the image (hashed names + compressed copies for
# WhiteNoise). The key below exists only for this build step; the container gets
# its real SECRET_KEY from the environment at run time.
RUN DEBUG=0 \
    SECRET_KEY=build-only-collectstatic-key-not-used-at-runtime-3f9a1c2e7b5d8046 \
    ALLOWED_HOSTS=localhost \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --noinput -v0 \
    && rm -f /tmp/build.sqlite3

USER beacon

EXPOSE 8000

# Several workers: /metrics sums their counters through PROMETHEUS_MULTIPROC_DIR, an empty
# directory made fresh at each start (incidents/api/metrics.py; the same as docker-compose.yml).
# deploy/gunicorn.conf.py warns at start-up when it is missing with more than one worker.
CMD ["sh", "-c", "rm -rf /tmp/beacon-metrics && mkdir -p /tmp/beacon-metrics && PROMETHEUS_MULTIPROC_DIR=/tmp/beacon-metrics exec gunicorn -c deploy/gunicorn.conf.py incidentsite.wsgi:application --bind 0.0.0.0:8000 --workers 3 --access-logfile -"]
