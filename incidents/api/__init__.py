"""Beacon's JSON API at /api/ (django-ninja). Contract: docs/api.md; schema: /api/openapi.json."""
