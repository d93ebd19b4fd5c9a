"""Fixtures every test may use: one user and one signed-in client per role, built from the
real groups the data migration creates (incidents/roles.py)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import Client

from incidents import roles


@pytest.fixture(autouse=True)
def _fast_and_plain(settings):
    # Test-only speed-ups: a cheap password hash; static files without the build manifest.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.SECURE_SSL_REDIRECT = False
    # QUEUES empty: any queue name is accepted (email, slack, ... as in settings.py).
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": []}}
    # Each test's database starts again at the same status page generation: forget pages kept by
    # the previous test (incidents/statuspage/cache.py).
    cache.clear()


def make_user(username: str, role: str | None = None, **extra):
    user = get_user_model().objects.create_user(
        username=username, password="pw", email=f"{username}@example.com", **extra
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def reporter(db):
    return make_user("rita", roles.REPORTER, first_name="Rita", last_name="Reporter")


@pytest.fixture
def responder(db):
    return make_user("rob", roles.RESPONDER, first_name="Rob", last_name="Responder")


@pytest.fixture
def other_responder(db):
    return make_user("ola", roles.RESPONDER, first_name="Ola", last_name="Oncall")


@pytest.fixture
def manager(db):
    return make_user("maya", roles.MANAGER, first_name="Maya", last_name="Manager")


@pytest.fixture
def viewer(db):
    return make_user("vic", roles.VIEWER, first_name="Vic", last_name="Viewer")


@pytest.fixture
def nobody(db):
    """A signed-up account that a manager has not given a role yet."""
    return make_user("nora")


def _client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def clients(reporter, responder, manager, viewer, nobody) -> dict[str, Client]:
    return {
        "anonymous": _client_for(None),
        "nobody": _client_for(nobody),
        "reporter": _client_for(reporter),
        "responder": _client_for(responder),
        "manager": _client_for(manager),
        "viewer": _client_for(viewer),
    }


@pytest.fixture
def users(reporter, responder, manager, viewer, nobody) -> dict:
    return {"reporter": reporter, "responder": responder, "manager": manager, "viewer": viewer, "nobody": nobody}
