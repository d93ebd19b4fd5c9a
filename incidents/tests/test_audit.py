"""The audit log of configuration changes (django-auditlog): who, when, before and after;
from the admin and from Beacon's own pages alike; readable by managers; append-only."""

from auditlog.models import LogEntry
from django.contrib.auth.models import Group, User

from incidents.models import ApiToken, Integration, RotationMember, Service
from incidents.oncall.tests.test_pages import rotation_post
from incidents.tests.factories import ServiceFactory


def entries_for(obj) -> list[LogEntry]:
    return list(LogEntry.objects.get_for_object(obj).order_by("timestamp", "pk"))


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
