"""The API area: Beacon's JSON API at /api/ (django-ninja; contract: docs/api.md, schema:
/api/openapi.json), in endpoints.py (which composes the rest), actions.py (workflow verbs, edits),
timeline.py (timeline, notes, updates, following), catalog.py (types, who is on call), common.py
(what they share, and the kit lent to reviews/api.py), schemas.py, errors.py, auth.py (tokens and
roles) and docs.py; the personal token page (tokens.py); /metrics for Prometheus (metrics.py); and the
admin of integrations (admin.py).

Imports the core only.
"""
