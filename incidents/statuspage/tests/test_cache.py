"""The public pages come from a cache (incidents/statuspage/cache.py) that never shows what changed.

Every test first loads the pages so they are cached, makes one change the way Beacon makes it,
and loads them again: the change must show at once, on every page that shows it.
"""

import pytest
from django.db import connection

from incidents import workflow
from incidents.models import Incident, Service, StatusPageGeneration, StatusUpdate
from incidents.statuspage import cache
from incidents.statuspage.tests.data import incident_in
from incidents.tests.factories import ServiceFactory


def pages(client, incident) -> dict[str, str]:
    """The three public pages an incident may appear on, as text."""
    return {
        "index": client.get("/status/").content.decode(),
        "incident": client.get(f"/status/incidents/{incident.ref}/").content.decode(),
        "feed": client.get("/status/feed.atom").content.decode(),
    }


@pytest.fixture
def shown(responder):
    incident = incident_in("acknowledged", by=responder, title="Card payments fail", severity="critical")
    workflow.post_update(incident, by=responder, message="We are looking into card payments.", public=True)
    return incident


def test_a_page_is_served_from_the_cache_while_nothing_changes(client, shown, django_assert_num_queries):
    first = pages(client, shown)
    with django_assert_num_queries(3):  # one generation look-up per page, nothing else
        assert pages(client, shown) == first


def test_making_an_incident_private_drops_it_from_every_cached_page_at_once(client, responder, shown):
    before = pages(client, shown)
    assert all("Card payments fail" in html for html in before.values())
    assert "Major outage" in before["index"]

    workflow.set_public(shown, by=responder, public=False)

    after = pages(client, shown)
    assert not any("Card payments fail" in html for html in after.values())
    assert not any("We are looking into card payments." in html for html in after.values())
    assert "All services are operational." in after["index"]
    assert client.get(f"/status/incidents/{shown.ref}/").status_code == 404


def test_making_an_incident_public_shows_it_where_a_404_was_cached(client, responder):
    internal = incident_in("acknowledged", by=responder, title="Search is slow", public=False)
    assert client.get(f"/status/incidents/{internal.ref}/").status_code == 404
    assert "Search is slow" not in client.get("/status/").content.decode()

    workflow.set_public(internal, by=responder, public=True)

    assert client.get(f"/status/incidents/{internal.ref}/").status_code == 200
    assert "Search is slow" in client.get("/status/").content.decode()


def test_a_public_update_shows_at_once_and_an_internal_one_changes_nothing(client, responder, shown):
    pages(client, shown)
    generation = cache.current()
    workflow.post_update(shown, by=responder, message="Internal: the gateway's TLS certificate expired.", public=False)
    assert cache.current() == generation, "an internal update must not cost the public pages their cache"
    assert not any("TLS certificate" in html for html in pages(client, shown).values())

    workflow.post_update(shown, by=responder, message="A fix is rolling out.", public=True)

    assert all("A fix is rolling out." in html for html in pages(client, shown).values())


def test_a_state_change_shows_at_once(client, responder, shown):
    assert "Investigating" in pages(client, shown)["incident"]
    workflow.mitigate(shown, by=responder)
    after = pages(client, shown)
    assert "Monitoring" in after["incident"] and "Monitoring" in after["index"]
    assert "Some services are degraded." in after["index"]


def test_a_severity_change_and_an_edit_show_at_once(client, responder, shown):
    pages(client, shown)
    workflow.change_severity(shown, by=responder, severity="low", reason="Only a few cards")
    shown.refresh_from_db()
    workflow.edit(shown, by=responder, version=shown.version, changes={"title": "Some card payments fail"})
    after = pages(client, shown)
    assert all("Some card payments fail" in html for html in after.values())
    assert "Minor impact" in after["incident"]


def test_hiding_a_service_or_renaming_it_shows_at_once(client, shown):
    assert "Checkout" in pages(client, shown)["index"]
    service = Service.objects.get(pk=shown.service_id)
    service.name = "Payments"
    service.save()
    assert "Payments" in client.get("/status/").content.decode()

    service.is_public = False
    service.save()

    after = pages(client, shown)
    assert "Payments" not in after["index"] and "Card payments fail" not in after["index"]
    assert "Card payments fail" not in after["feed"]
    assert client.get(f"/status/incidents/{shown.ref}/").status_code == 404


def test_a_new_public_service_shows_at_once(client, db):
    assert "Search" not in client.get("/status/").content.decode()
    ServiceFactory(name="Search")
    assert "Search" in client.get("/status/").content.decode()


def test_an_update_deleted_in_the_admin_disappears_at_once(client, shown):
    assert "We are looking into card payments." in pages(client, shown)["feed"]
    StatusUpdate.objects.get(incident=shown).delete()
    assert not any("We are looking into card payments." in html for html in pages(client, shown).values())


def test_a_change_committed_by_another_process_is_seen_although_this_one_kept_the_page(client, shown):
    """Another gunicorn worker has its own memory cache; it only shares the database. It hides the
    incident and bumps the generation in one transaction, touching nothing in this process."""
    assert "Card payments fail" in client.get("/status/").content.decode()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Incident._meta.db_table} SET public = %s WHERE id = %s", [False, shown.pk])
        cursor.execute(f"UPDATE {StatusPageGeneration._meta.db_table} SET generation = generation + 1 WHERE id = 1")
    assert "Card payments fail" not in client.get("/status/").content.decode()


def test_the_generation_row_may_be_missing(client, responder, shown):
    StatusPageGeneration.objects.all().delete()
    assert cache.current() == 0
    assert "Card payments fail" in client.get("/status/").content.decode()
    workflow.set_public(shown, by=responder, public=False)
    assert cache.current() == 1
    assert "Card payments fail" not in client.get("/status/").content.decode()


@pytest.mark.parametrize("url", ["/status/", "/status/incidents/{ref}/", "/status/feed.atom"])
def test_every_page_has_an_etag_and_last_modified_and_answers_304(client, responder, shown, url):
    url = url.format(ref=shown.ref)
    first = client.get(url)
    assert first.status_code == 200
    etag, modified = first["ETag"], first["Last-Modified"]
    assert etag.startswith('"') and modified.endswith("GMT")

    again = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == etag and again["Cache-Control"] == "public, max-age=30"
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=modified).status_code == 304
    assert client.get(url, HTTP_IF_NONE_MATCH='"something-else"').status_code == 200

    workflow.post_update(shown, by=responder, message="A fix is rolling out.", public=True)

    changed = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert "A fix is rolling out." in changed.content.decode()


def test_a_head_request_is_served_like_a_get(client, shown):
    get = client.get("/status/")
    head = client.head("/status/")
    assert head.status_code == 200 and head["ETag"] == get["ETag"]


def test_references_written_differently_share_one_entry_and_nonsense_is_a_404(client, shown):
    number = shown.pk
    answers = [client.get(f"/status/incidents/{ref}/") for ref in (f"INC-{number}", f"inc{number}", str(number))]
    assert {a.status_code for a in answers} == {200}
    assert len({a["ETag"] for a in answers}) == 1
    assert client.get("/status/incidents/nonsense/").status_code == 404


def test_the_feed_is_kept_per_host_because_its_links_are_absolute(client, shown, settings):
    settings.ALLOWED_HOSTS = ["testserver", "status.example.com"]
    assert "http://testserver/status/" in client.get("/status/feed.atom").content.decode()
    other = client.get("/status/feed.atom", HTTP_HOST="status.example.com").content.decode()
    assert "http://status.example.com/status/" in other and "testserver" not in other


def test_nothing_but_ok_and_not_found_is_kept(client, db):
    assert client.post("/status/").status_code == 405
    assert client.get("/status/").status_code == 200


def test_with_redis_as_the_cache_a_private_incident_drops_at_once(client, responder, shown, settings):
    """The production set-up: Django's built-in RedisCache on the Redis at 127.0.0.1:6379."""
    import uuid

    from django.core.cache import caches

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
            "KEY_PREFIX": f"beacon-test-{uuid.uuid4().hex}",  # other runs may share this Redis
        }
    }
    try:
        caches["default"].set("probe", 1, 5)
    except Exception as error:  # noqa: BLE001 — say what is missing rather than fail obscurely
        pytest.skip(f"no Redis on 127.0.0.1:6379 ({error})")
    first = client.get("/status/")
    assert "Card payments fail" in first.content.decode()
    assert client.get("/status/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304

    workflow.set_public(shown, by=responder, public=False)

    assert "Card payments fail" not in client.get("/status/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_generation_query_is_the_health_check_and_a_dropped_connection_is_replaced(client, shown, monkeypatch):
    """A cached page costs one round trip, not two, and still survives a connection the database
    dropped (a restart, an idle timeout): cache.current() reconnects once, the reader sees 200."""
    if connection.vendor != "postgresql":
        pytest.skip("connection health checks are PostgreSQL's here (SQLite connections are not kept)")
    import psycopg

    assert client.get("/status/").status_code == 200  # the connection stays open (CONN_MAX_AGE)
    assert connection.health_check_enabled and connection.connection is not None
    checks = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or True)
    # What request_started does under gunicorn (Django's test client leaves it out).
    connection.close_if_unusable_or_obsolete()
    assert client.get("/status/").status_code == 200
    assert checks == [], "Django's SELECT 1 ran besides the generation query"

    old_pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [old_pid])
    monkeypatch.undo()
    connection.close_if_unusable_or_obsolete()
    response = client.get("/status/")
    assert response.status_code == 200
    assert "Card payments fail" in response.content.decode()
    assert connection.connection.info.backend_pid != old_pid
