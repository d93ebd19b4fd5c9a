"""The API area: Beacon's JSON API at /api/ (django-ninja; contract: docs/api.md, schema:
/api/openapi.json), in endpoints.py, schemas.py, errors.py, auth.py (tokens and roles) and
docs.py; the personal token page (tokens.py); /metrics for Prometheus (metrics.py); and the
admin of integrations (admin.py).

Imports the core only.
"""
