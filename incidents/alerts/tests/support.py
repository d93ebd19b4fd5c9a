"""Helpers for the Alertmanager intake tests: captured payloads, an integration, a poster."""

import copy
import json
from pathlib import Path

import pytest
from django.test import Client

from incidents.models import Integration, plain

FIXTURES = Path(__file__).parent / "fixtures" / "alertmanager"
URL = "/integrations/alertmanager/"


def plan_setting() -> int:
    """The statement each delivery's transaction opens with on PostgreSQL with prepared statements
    (`SET LOCAL plan_cache_mode`, incidents/models/plain.py `generic_plans`): 1 there, else 0."""
    return int(plain.prepares())


def load(name: str) -> dict:
    """A payload captured from Alertmanager 0.25 (fixtures/alertmanager/README.md), as a fresh dict."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def variant(payload: dict, **changes) -> dict:
    """A deep copy of `payload` with top-level keys changed."""
    result = copy.deepcopy(payload)
    result.update(changes)
    return result


def make_integration(name="prometheus", kind=Integration.Kind.ALERTMANAGER, **fields) -> tuple[Integration, str]:
    integration = Integration(name=name, kind=kind, **fields)
    token = integration.set_new_token()
    integration.save()
    return integration, token


class Poster:
    """Posts payloads with the integration's bearer token, as Alertmanager does."""

    def __init__(self, token: str, url: str = URL):
        self.token = token
        self.url = url
        self.client = Client()

    def post(self, payload, *, token=None, **extra):
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token or self.token}", "HTTP_USER_AGENT": "Alertmanager/0.25.0"}
        return self.client.post(self.url, body, content_type="application/json", **{**headers, **extra})


@pytest.fixture
def integration(db):
    return make_integration()


@pytest.fixture
def am(integration) -> Poster:
    return Poster(integration[1])
