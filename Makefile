# Beacon developer tasks.  Everything runs from the project's own virtualenv (.venv).
#   make run      migrate, seed demo data and serve on http://127.0.0.1:8000 (DEBUG on by default)
#   make test     the whole pytest suite, in parallel (PYTEST_ARGS="-k foo -x" to narrow it; TEST_WORKERS=0
#                 for one process; DATABASE_URL is passed through)
#   make lint     ruff check and ruff format --check
#   make typecheck  mypy (django-stubs) on the core and the notifications, status page, Slack and mail-in areas
#   make check    missing migrations + Django's deployment checks
#   make worker   the background task worker
#   make sweeper  the notification sweeper (re-sends due and stranded notifications)
#   make mail-intake  the email receiver on 127.0.0.1:2525 (MAIL_INTAKE_ADDRESSES must be set; docs/email-in.md)
#   make bench    benchmarks: HTTP mode with gunicorn and wrk on PostgreSQL (bench/loadtest.py);
#                 BENCH_MODE=client for the in-process one (bench/run.py)
#   make mutate   mutation testing of the modules that carry promises (MODULE="workflow intake" for some;
#                 RECHECK=1 reruns the last unexplained survivors, RESUME=1 goes on, REPORT=1 reports; docs/mutation.md)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := venv

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MANAGE := $(PY) manage.py
PYTEST_ARGS ?=
# pytest-xdist processes, each with its own test database: "auto" is one per CPU core (the suite
# waits on PostgreSQL, SMTP and browsers as much as it computes); 0 runs it in this process.
TEST_WORKERS ?= auto
# The single sign-on tests' OpenID Connect provider (node's oidc-provider, incidents/tests/test_sso.py).
OIDC_PROVIDER := tests/oidc/node_modules/.package-lock.json

# Local development runs with DEBUG on unless the caller says otherwise.
DEV_ENV = DEBUG="$${DEBUG:-1}"

# A syntactically valid production-like configuration, only for `check --deploy`.
DEPLOY_CHECK_ENV = env -u SECURE_SSL_REDIRECT -u SECURE_COOKIES -u SECURE_HSTS_SECONDS -u BEHIND_PROXY \
	DEBUG=0 \
	SECRET_KEY=CINz9-5mo5uKN5COK71c7vMpXMYTatBNB8tZXOuaonGbbXP1-xXCHij31DXC \
	ALLOWED_HOSTS=beacon.example.com \
	METRICS_TOKEN=deploy-check-only \
	SITE_URL=https://beacon.example.com

# What mypy checks: the core and two areas (pyproject.toml [tool.mypy] has the settings).
TYPED = incidents/models incidents/workflow.py incidents/access.py incidents/roles.py incidents/people.py \
	incidents/panels.py incidents/signals.py incidents/inbound.py incidents/notifications incidents/statuspage \
	incidents/slack incidents/mailin

.PHONY: venv run test lint typecheck check bench worker sweeper mail-intake mutate

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Beacon needs Python >= 3.11 (found %d.%d); run make PYTHON=python3.11" % sys.version_info[:2])'
	$(PYTHON) -m venv $(VENV)

# Reinstall only when a requirements file is newer than the stamp.
$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "$(VENV) uses Python %d.%d; Beacon needs >= 3.11: remove $(VENV) and run make again" % sys.version_info[:2])'
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@touch $@

venv: $(STAMP)

run: venv
	$(DEV_ENV) $(MANAGE) migrate --noinput
	$(DEV_ENV) $(MANAGE) seed_demo
	$(DEV_ENV) $(MANAGE) runserver 127.0.0.1:8000

# The test-only environment (a throwaway SECRET_KEY, no HTTPS redirect) is in pyproject.toml.
test: venv $(OIDC_PROVIDER)
	$(VENV)/bin/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

$(OIDC_PROVIDER): tests/oidc/package-lock.json
	cd tests/oidc && npm ci --no-audit --no-fund

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(DEV_ENV) SECRET_KEY="$${SECRET_KEY:-typecheck-only}" $(VENV)/bin/mypy $(TYPED)

check: venv
	$(DEV_ENV) $(MANAGE) makemigrations --check --dry-run
	$(DEPLOY_CHECK_ENV) $(MANAGE) check --deploy --fail-level WARNING

BENCH_MODE ?= http
bench: venv
	$(PY) bench/run.py $(BENCH_MODE)

# Not part of `make test` or CI (minutes to an hour per module); run it on a module you changed.
MODULE ?=
mutate: venv
	$(PY) mutation/run.py $(if $(RECHECK),--recheck)$(if $(RESUME),--resume)$(if $(REPORT),--report) $(MODULE)

worker: venv
	$(DEV_ENV) $(MANAGE) db_worker --no-reload --queue-name '*'

sweeper: venv
	$(DEV_ENV) $(MANAGE) run_sweeper

MAIL_INTAKE_PORT ?= 2525
mail-intake: venv
	$(DEV_ENV) $(MANAGE) run_mail_intake --host 127.0.0.1 --port $(MAIL_INTAKE_PORT)
