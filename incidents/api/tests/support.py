"""Helpers for the API tests: real tokens made the way users and managers make them."""

import json

from django.test import Client

from incidents.models import ApiToken, Integration


def personal_token(user, name: str = "script") -> str:
    token = ApiToken(user=user, name=name)
    secret = token.set_new_token()
    token.save()
    return secret


def integration_token(name: str = "deploy bot", kind: str = Integration.Kind.API) -> str:
    integration = Integration(name=name, kind=kind)
    secret = integration.set_new_token()
    integration.save()
    return secret


def call(method: str, url: str, token: str | None = None, body=None, *, client: Client | None = None, **extra):
    """One API request; `body` is sent as JSON unless it is already a str or bytes."""
    client = client or Client()
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if method == "get":
        return client.get(url, **extra)
    data = body if isinstance(body, str | bytes) else json.dumps(body if body is not None else {})
    return getattr(client, method)(url, data=data, content_type="application/json", **extra)


def report_body(**fields) -> dict:
    """A valid POST /api/incidents body (service "checkout"), with `fields` changed; a field
    given as `...` is left out."""
    body = {
        "title": "Checkout returns 500",
        "description": "Card payments fail.",
        "impact": "Nobody can pay.",
        "service": "checkout",
        "severity": "high",
        **fields,
    }
    return {name: value for name, value in body.items() if value is not ...}
