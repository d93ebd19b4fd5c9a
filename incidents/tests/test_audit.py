"""The audit log of configuration changes (django-auditlog): who, when, before and after;
from the admin and from Beacon's own pages alike (every page that changes a setting has a test
here); readable by managers; append-only."""

import datetime as dt
import re

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, User
from django.core import mail
from django.utils.timezone import now

from incidents.models import (
    ApiToken,
    IncidentType,
    Integration,
    Override,
    Profile,
    RotationMember,
    Service,
    Subscription,
)
from incidents.oncall.tests.data import make_rotation
from incidents.oncall.tests.test_pages import rotation_post
from incidents.tests.factories import ServiceFactory, make_incident, type_inlines_unchanged

CREATE, UPDATE, DELETE = LogEntry.Action.CREATE, LogEntry.Action.UPDATE, LogEntry.Action.DELETE


def entries_for(obj) -> list[LogEntry]:
    return list(LogEntry.objects.get_for_object(obj).order_by("timestamp", "pk"))


def entries_of(model, **filters) -> list[LogEntry]:
    """Entries about rows of `model` (deleted ones included), oldest first."""
    return list(LogEntry.objects.get_for_model(model).filter(**filters).order_by("timestamp", "pk"))


def recent(entry: LogEntry, since: dt.datetime) -> bool:
    return since <= entry.timestamp <= now()


def test_a_role_given_in_the_admin_is_logged_with_who_and_what(clients, manager, nobody):
    responder_role = Group.objects.get(name="Responder")
    data = {
        "username": nobody.username,
        "email": nobody.email,
        "is_active": "on",
        "groups": [responder_role.pk],
        "date_joined_0": nobody.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": nobody.date_joined.strftime("%H:%M:%S"),
    }
    assert clients["manager"].post(f"/admin/auth/user/{nobody.pk}/change/", data).status_code == 302
    (entry,) = [e for e in entries_for(nobody) if "groups" in (e.changes_dict or {})]
    assert entry.actor == manager
    assert entry.changes_dict["groups"]["objects"] == ["Responder"]


def test_tokens_made_and_revoked_on_the_token_page_are_logged(clients, reporter):
    clients["reporter"].post("/accounts/tokens/", {"name": "deploy script"})
    token = ApiToken.objects.get()
    clients["reporter"].post(f"/accounts/tokens/{token.pk}/revoke/")
    created, revoked = entries_for(token)
    assert created.action == LogEntry.Action.CREATE and created.actor == reporter
    assert revoked.action == LogEntry.Action.UPDATE and revoked.changes_dict["is_active"] == ["True", "False"]
    assert "token_hash" not in created.changes_dict  # the secret's digest stays out of the log


def test_rotations_edited_on_the_on_call_pages_are_logged_member_by_member(
    clients, manager, responder, other_responder
):
    checkout = ServiceFactory(name="Checkout")
    response = clients["manager"].post("/oncall/rotations/new/", rotation_post(services=[checkout.pk]))
    assert response.status_code == 302, response.content.decode()[-3000:]
    members = LogEntry.objects.get_for_model(RotationMember)
    assert members.filter(action=LogEntry.Action.CREATE).count() == 2
    assert all(entry.actor == manager for entry in members)


def test_service_changes_keep_before_and_after_and_mask_the_webhook(db, manager):
    service = ServiceFactory(name="Checkout")
    service.is_public = False
    service.slack_webhook_url = "https://hooks.slack.example/services/T000/B000/secret-part-here"
    service.save()
    update = entries_for(service)[-1]
    assert update.changes_dict["is_public"] == ["True", "False"]
    assert "secret-part-here" not in str(update.changes_dict["slack_webhook_url"])


def test_integrations_disabled_in_the_admin_are_logged(clients, manager):
    integration = Integration.objects.create(name="prod-alertmanager", token_hash="x" * 64, token_hint="abc")
    response = clients["manager"].post(
        "/admin/incidents/integration/", {"action": "disable", "_selected_action": [integration.pk]}
    )
    assert response.status_code == 302
    assert entries_for(integration)[-1].changes_dict["is_active"] == ["True", "False"]


def test_managers_read_the_log_and_nobody_edits_it(clients, manager, db):
    Service.objects.create(name="Search", slug="search")
    entry = LogEntry.objects.latest("timestamp")
    listing = clients["manager"].get("/admin/auditlog/logentry/")
    assert listing.status_code == 200 and "Search" in listing.content.decode()
    assert clients["manager"].get(f"/admin/auditlog/logentry/{entry.pk}/change/").status_code == 200
    assert clients["manager"].post(f"/admin/auditlog/logentry/{entry.pk}/change/", {}).status_code == 403
    assert clients["manager"].post(f"/admin/auditlog/logentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert clients["responder"].get("/admin/auditlog/logentry/").status_code == 403
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    clients["manager"].force_login(root)
    assert clients["manager"].post(f"/admin/auditlog/logentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LogEntry.objects.filter(pk=entry.pk).exists()


# --- each person's own settings, changed on Beacon's pages ---------------------------------


def test_the_settings_page_logs_who_changed_what_from_what(clients, responder):
    client = clients["responder"]
    started = now()
    assert client.get("/accounts/profile/").status_code == 200
    assert not Profile.objects.filter(user=responder).exists()  # looking at the page changes nothing
    settings = {"time_zone": "Europe/Berlin", "email_notifications": "on", "slack_member_id": "U024BE7LH"}
    assert client.post("/accounts/profile/", {**settings, "theme": "dark"}).status_code == 302
    profile = Profile.objects.get(user=responder)
    (created,) = entries_for(profile)
    assert (created.action, created.actor) == (CREATE, responder) and recent(created, started)
    assert created.changes_dict["time_zone"] == ["None", "Europe/Berlin"]
    assert created.changes_dict["slack_member_id"] == ["None", "U024BE7LH"]

    changed = {**settings, "time_zone": "America/New_York", "email_notifications": ""}
    assert client.post("/accounts/profile/", changed).status_code == 302
    update = entries_for(profile)[-1]
    assert (update.action, update.actor) == (UPDATE, responder)
    assert update.changes_dict == {
        "time_zone": ["Europe/Berlin", "America/New_York"],
        "email_notifications": ["True", "False"],
    }
    # A refused change is not logged.
    assert client.post("/accounts/profile/", {**changed, "slack_member_id": "nope"}).status_code == 422
    assert len(entries_for(profile)) == 2


def test_the_menus_colour_scheme_buttons_are_logged(clients, viewer):
    clients["viewer"].post("/accounts/theme/", {"theme": "dark"})
    clients["viewer"].post("/accounts/theme/", {"theme": "light"})
    created, update = entries_for(Profile.objects.get(user=viewer))
    assert (created.action, created.actor, created.changes_dict["theme"]) == (CREATE, viewer, ["None", "dark"])
    assert (update.action, update.actor, update.changes_dict) == (UPDATE, viewer, {"theme": ["dark", "light"]})


def test_the_calendar_feeds_secret_address_is_logged_masked(clients, responder):
    client = clients["responder"]
    client.post("/oncall/calendar/token/", {"action": "regenerate"})
    token = Profile.objects.get(user=responder).calendar_token
    client.post("/oncall/calendar/token/", {"action": "regenerate"})
    client.post("/oncall/calendar/token/", {"action": "revoke"})
    created, made, renewed, revoked = entries_for(Profile.objects.get(user=responder))
    assert created.action == CREATE and created.changes_dict["calendar_token"] == ["", ""]  # none yet
    assert made.changes_dict == {"calendar_token": ["", "(secret, set)"]}
    assert renewed.changes_dict == {"calendar_token": ["(secret, set)", "(secret, set)"]}
    assert revoked.changes_dict == {"calendar_token": ["(secret, set)", ""]}
    assert {e.actor for e in (created, made, renewed, revoked)} == {responder}
    assert not any(token in str(e.changes) for e in LogEntry.objects.all())


def test_the_severity_threshold_is_logged_as_it_comes_and_goes(clients, viewer):
    client = clients["viewer"]
    client.post("/accounts/profile/notifications/", {"min_severity": "high"})
    client.post("/accounts/profile/notifications/", {"min_severity": "critical"})
    client.post("/accounts/profile/notifications/", {"min_severity": ""})
    entries = entries_of(Subscription)
    assert [(e.action, (e.changes_dict.get("min_severity") or [None, None])) for e in entries] == [
        (CREATE, ["None", "high"]),
        (DELETE, ["high", "None"]),
        (CREATE, ["None", "critical"]),
        (DELETE, ["critical", "None"]),
    ]
    assert {e.actor for e in entries} == {viewer}
    assert entries[0].changes_dict["user"] == ["None", str(viewer.pk)]


def test_following_and_unfollowing_services_and_incidents_is_logged(clients, reporter, viewer):
    checkout = ServiceFactory(name="Checkout")
    incident = make_incident(by=reporter)
    client = clients["viewer"]
    client.post(f"/incidents/services/{checkout.slug}/follow/")
    client.post(f"/incidents/services/{checkout.slug}/unfollow/")
    client.post(f"/incidents/{incident.ref}/follow/")
    client.post(f"/incidents/{incident.ref}/unfollow/")
    entries = entries_of(Subscription)
    assert [e.action for e in entries] == [CREATE, DELETE, CREATE, DELETE]
    assert {e.actor for e in entries} == {viewer}
    assert entries[0].changes_dict["service"] == ["None", str(checkout.pk)]
    assert entries[2].changes_dict["incident"] == ["None", str(incident.pk)]
    assert entries[3].changes_dict["user"] == [str(viewer.pk), "None"]


def test_a_password_change_is_logged_without_any_hash(client, responder):
    client.post("/accounts/login/", {"username": "rob", "password": "pw"})
    new = "a-Much-better-pass-77"
    response = client.post("/accounts/password/", {"old_password": "pw", "new_password1": new, "new_password2": new})
    assert response.status_code == 302
    (entry,) = [e for e in entries_for(responder) if e.action == UPDATE and "password" in e.changes_dict]
    assert (entry.action, entry.actor) == (UPDATE, responder)
    assert entry.changes_dict == {"password": ["(secret, set)", "(secret, set)"]}
    responder.refresh_from_db()
    assert responder.password not in str(entry.changes)
    # Signing in (last_login changes) is not a configuration change.
    assert [e.action for e in entries_for(responder)] == [CREATE, UPDATE, UPDATE]  # made, its role, the password


def test_a_password_reset_by_email_link_is_logged_with_no_actor(client, responder):
    client.post("/accounts/password/reset/", {"email": "rob@example.com"})
    link = re.search(r"http://127.0.0.1:8000(/accounts/password/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    new = {"new_password1": "Another-good-one-42", "new_password2": "Another-good-one-42"}
    assert client.post(form.redirect_chain[-1][0], new).status_code == 302
    entry = entries_for(responder)[-1]
    assert (entry.actor, entry.changes_dict) == (None, {"password": ["(secret, set)", "(secret, set)"]})


def test_unsubscribing_by_the_email_link_is_logged(client, viewer):
    from incidents.models import Notification
    from incidents.notifications.unsubscribe import unsubscribe_token

    subscription = Subscription.objects.create(user=viewer, min_severity="high")
    notification = Notification.objects.create(
        user=viewer, recipient=viewer.email, subscription=subscription, reason="subscription", subject="x"
    )
    assert client.post(f"/unsubscribe/{unsubscribe_token(notification)}/").status_code == 200
    deleted = entries_of(Subscription)[-1]
    assert (deleted.action, deleted.actor, deleted.object_pk) == (DELETE, None, str(subscription.pk))


# --- managers' and responders' pages --------------------------------------------------------


def test_a_rotation_edited_on_its_page_keeps_before_and_after(clients, manager, responder, other_responder):
    search = ServiceFactory(name="Search")
    rotation = make_rotation("Search", members=[responder, other_responder], services=[search])
    url = f"/oncall/rotations/{rotation.pk}/edit/"
    change = rotation_post(name="Search (EU)", services=[search.pk], shift_kind="weekly", members="ola\nrob")
    response = clients["manager"].post(url, change)
    assert response.status_code == 302, response.content.decode()[-2000:]
    update = entries_for(rotation)[-1]
    assert (update.action, update.actor) == (UPDATE, manager)
    assert update.changes_dict["name"] == ["Search", "Search (EU)"]
    assert update.changes_dict["shift_kind"] == ["daily", "weekly"]
    members = entries_of(RotationMember, actor=manager)
    assert sorted(e.action for e in members) == [CREATE, CREATE, DELETE, DELETE]
    new_order = [e.changes_dict["user"][1] for e in members if e.action == CREATE]
    assert new_order == [str(other_responder.pk), str(responder.pk)]


def test_overrides_added_and_removed_on_the_on_call_pages_are_logged(clients, manager, responder):
    rotation = make_rotation("Primary", members=[responder])
    start = now() + dt.timedelta(days=1)
    data = {
        "user": manager.pk,
        "covered_user": responder.pk,
        "start": f"{start:%Y-%m-%d} 09:00",
        "end": f"{start:%Y-%m-%d} 17:00",
        "reason": "Dentist",
    }
    response = clients["manager"].post(f"/oncall/rotations/{rotation.pk}/overrides/new/", data)
    assert response.status_code == 302, response.content.decode()[-2000:]
    override = Override.objects.get()
    assert clients["manager"].post(f"/oncall/overrides/{override.pk}/delete/").status_code == 302
    created, deleted = entries_of(Override)
    assert (created.action, created.actor, created.changes_dict["reason"]) == (CREATE, manager, ["None", "Dentist"])
    assert (deleted.action, deleted.actor, deleted.object_pk) == (DELETE, manager, str(override.pk))


def test_a_runbook_saved_in_its_editor_is_logged_on_the_service(clients, responder):
    service = ServiceFactory(name="Checkout")
    response = clients["responder"].post(
        f"/reviews/runbooks/{service.slug}/edit/", {"text": "Restart the pods.", "base_revision": 0}
    )
    assert response.status_code == 302
    update = entries_for(service)[-1]
    assert (update.action, update.actor) == (UPDATE, responder)
    assert update.changes_dict == {"runbook": ["", "Restart the pods."]}


@pytest.mark.parametrize("where", ["admin", "code"])
def test_incident_types_are_logged(where, clients, manager):
    security = IncidentType.objects.get(slug="security")
    if where == "admin":
        data = {
            "name": security.name,
            "slug": security.slug,
            "description": security.description,
            "default_severity": "critical",
            "restricted_by_default": "on",
            "position": security.position,
            **type_inlines_unchanged(),  # the page's inlines: left as they are
        }
        response = clients["manager"].post(f"/admin/incidents/incidenttype/{security.pk}/change/", data)
        assert response.status_code == 302, response.content.decode()[-2000:]
    else:
        security.default_severity = "critical"
        security.save()
    update = entries_for(security)[-1]
    assert update.changes_dict["default_severity"][1] == "critical"
    assert update.actor == (manager if where == "admin" else None)
