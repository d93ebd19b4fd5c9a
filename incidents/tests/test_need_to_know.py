"""The leak test of need-to-know (docs/need-to-know.md): restricted incidents with a marker in every text
field, then, for every role not allowed to see them, every URL of the URLconf (GET and POST),
every API endpoint with every kind of token, searches, exports, the handoff summary, and every
email and Slack message queued: a marker (or the reference, outside the Slack line that may
carry it) anywhere fails.

The routes are read from the resolver (incidents/tests/urlconf.py, shared with the role matrix
of incidents/tests/test_permissions.py): a new URL is fetched here the day it is added, with the
restricted incident's reference in its <ref>.
"""

import json
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.test import Client
from django.utils.timezone import localdate, now

from conftest import make_user
from incidents import roles, workflow
from incidents.api.tests.support import call, integration_token, personal_token
from incidents.models import (
    CustomField,
    IncidentType,
    Notification,
    ResponseRole,
    ReviewSection,
    StatusUpdate,
    Subscription,
    Task,
    TimelineEntry,
    Webhook,
)
from incidents.models.webhooks import Event as WebhookEvent
from incidents.oncall import paging
from incidents.oncall.tests.data import give_calendar_token, make_rotation
from incidents.tests.factories import ServiceFactory
from incidents.tests.urlconf import routes
from reviews import lifecycle
from reviews.models import ActionItem

MARK = "ZQXSECRET"
NOT_ALLOWED = ["anonymous", "nobody", "reporter", "responder", "viewer"]

# Every value a form of Beacon might want, so that a POST reaches past form validation.
POST_DATA = {
    "text": "probe",
    "reason": "probe",
    "summary": "probe",
    "confirmed": "on",
    "message": "probe",
    "public": "1",
    "severity": "critical",
    "lead": "",
    "name": "probe",
    "username": "rob",
    "state": "done",
    "action": "regenerate",
    "min_severity": "high",
    "title": "probe",
    "role": "scribe",
    "person": "rob",
}


def content_of(response) -> bytes:
    """The body of any answer, streamed ones (a file: /favicon.ico) included."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def marked(field: str) -> str:
    return f"{MARK}-{field} secret words"


@pytest.fixture
def world(db, settings, users, other_responder):
    """Two restricted incidents full of markers (one open, one resolved with its review and an
    action item), people who follow or subscribe to everything, and one unrestricted incident."""
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/slack"
    service = ServiceFactory(name="Checkout")
    service.slack_webhook_url = "http://127.0.0.1:9/service-slack"
    service.save()
    security = make_user("sam", roles.RESPONDER, first_name="Sam", last_name="Security")
    security.groups.add(Group.objects.get(name=roles.SECURITY))
    participant = make_user("pat", roles.VIEWER, first_name="Pat", last_name="Participant")
    responder, viewer, manager = users["responder"], users["viewer"], users["manager"]
    # Subscriptions made before (or regardless of) any restriction: the service, every incident
    # of some severity, an outside stakeholder address.
    Subscription.objects.create(user=responder, service=service)
    Subscription.objects.create(user=viewer, min_severity="low")
    Subscription.objects.create(email="press@outside.example", service=service)
    # An outgoing webhook that hears every event, not allowed restricted incidents (the default).
    hook = Webhook(name="chat bot", url="http://127.0.0.1:9/hook", events=list(WebhookEvent.values))
    hook.set_new_secret()
    hook.save()

    # The Security type's custom fields and review sections: their values are incident text too.
    security_type = IncidentType.objects.get(slug="security")
    CustomField.objects.create(type=security_type, label="Data affected?", kind="choice", choices="yes\nno")
    CustomField.objects.create(type=security_type, label="What leaked", kind="text")
    CustomField.objects.create(type=security_type, label="Leak notes", kind="text")
    ReviewSection.objects.create(type=security_type, title="Data exposure")

    def restricted_incident(**extra):
        incident = workflow.report(
            by=security,
            type=security_type,
            custom_fields={"data_affected": "yes", "what_leaked": marked("custom-field")},
            title=marked("title"),
            description=marked("description"),
            impact=marked("impact"),
            logs=marked("logs"),
            occurred_at=now() - timedelta(minutes=30),
            severity="critical",
            service=service,
            **extra,
        )
        assert incident.restricted
        workflow.add_participant(incident, by=security, user=participant)
        workflow.add_note(incident, by=security, text=marked("note"))
        workflow.post_update(incident, by=security, message=marked("internal-update"), public=False)
        workflow.post_update(incident, by=security, message=marked("public-update"), public=True)
        workflow.change_severity(incident, by=security, severity="high", reason=marked("severity-reason"))
        workflow.change_severity(incident, by=security, severity="critical", reason=marked("raise-reason"))
        workflow.acknowledge(incident, by=security)
        # A changed value is an edit entry on the timeline, old and new value both.
        fields = {"data_affected": "yes", "what_leaked": marked("custom-field-edited"), "leak_notes": marked("notes")}
        incident.refresh_from_db()
        workflow.edit(incident, by=security, version=incident.version, changes={"custom_fields": fields})
        # Its response: a task with a marker in its title (given to the participant, ticked), and roles.
        task = workflow.add_task(incident, by=security, title=marked("task"))
        workflow.assign_task(incident, by=security, task=task, user=participant)
        workflow.tick_task(incident, by=security, task=task, done=True)
        workflow.add_task(incident, by=security, title=marked("open-task"))
        scribe, commander = ResponseRole.objects.get(slug="scribe"), ResponseRole.objects.get(slug="commander")
        workflow.assign_role(incident, by=security, role=scribe, user=participant)
        workflow.assign_role(incident, by=security, role=commander, user=security)
        return incident

    open_one = restricted_incident()
    # Followed by the responder before it was restricted (e.g. a follow on an old incident).
    Subscription.objects.create(user=responder, incident=open_one)
    workflow.post_update(open_one, by=security, message=marked("after-follow"), public=True)

    resolved = restricted_incident()
    for task in resolved.tasks.filter(required=True):
        workflow.tick_task(resolved, by=security, task=task, done=True)
    workflow.resolve(resolved, by=security, summary=marked("resolution"), confirmed=True)
    review = lifecycle.start(resolved, by=security)
    sections = {name: marked(f"review-{name}") for name in ("summary", "root_cause", "lessons_learned")}
    sections["type_sections"] = {"data_exposure": marked("review-data-exposure")}
    review = lifecycle.edit(review, by=security, version=review.version, changes=sections)
    # Owned by someone who may not see the incident: they must not hear of it either.
    item = lifecycle.add_action_item(
        review,
        by=security,
        owner=responder,
        title=marked("action-item"),
        type=ActionItem.Type.PREVENTIVE,
        priority=ActionItem.Priority.HIGH,
        due_date=localdate() + timedelta(days=3),
        tracker_url="",
    )
    lifecycle.save_runbook(
        service, by=security, text="Restart the pods.", base_revision=0, comment="probe", review=review
    )
    plain = workflow.report(
        by=users["reporter"],
        title="Search is slow",
        description="p99 is 3 s.",
        impact="Slow search.",
        occurred_at=now() - timedelta(minutes=5),
        severity="high",
        service=service,
    )
    rotation = make_rotation(members=[responder, other_responder, security], services=[service])
    return {
        "restricted": [open_one, resolved],
        "plain": plain,
        "item": item,
        "review": review,
        "service": service,
        "rotation": rotation,
        "allowed": {security.pk, participant.pk, manager.pk},
        "security": security,
        "participant": participant,
        "calendar": give_calendar_token(responder),
    }


def leaks(text: str, refs: list[str]) -> list[str]:
    """The markers and references of restricted incidents found in `text`."""
    found = sorted(set(re.findall(rf"{MARK}-[\w-]+", text)))
    found += [ref for ref in refs if re.search(rf"\b{ref}\b(?!\d)", text)]
    return found


def fill(route: str, world: dict, ref: str) -> str:
    """A concrete path for `route`: the restricted reference in <ref>, the restricted action
    item's id in every <int:…>, the service's slug, a real calendar token."""
    values = {
        "ref": ref,
        "slug": world["service"].slug,
        "pk": str(world["item"].pk),
        "uidb64": "MQ",
        "token": world["calendar"],
    }

    def one(match: re.Match) -> str:
        name = match.group(1).split(":")[-1]
        return values.get(name, str(world["item"].pk))

    path = re.sub(r"<([^>]+)>", one, route)
    return path.replace("^", "").replace("$", "")


def refused(response, url: str) -> bool:
    """A refusal: not found, forbidden, unauthenticated, a method refused, or the sign-in page."""
    if response.status_code in (400, 401, 403, 404, 405):
        return True
    return response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def _client(role: str, users) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(users[role])
    return client


@pytest.mark.parametrize("role", NOT_ALLOWED)
def test_no_url_shows_a_restricted_incident_to_a_role_not_allowed(role, world, users):
    refs = [i.ref for i in world["restricted"]]
    timeline_before = TimelineEntry.objects.filter(incident__in=world["restricted"]).count()
    follows_before = Subscription.objects.filter(incident__in=world["restricted"]).count()
    problems = []
    all_routes = routes()
    client = _client(role, users)
    for route in all_routes:
        for incident in world["restricted"]:
            url = fill(route, world, incident.ref)
            for method in ("get", "post"):
                response = client.post(url, POST_DATA) if method == "post" else client.get(url)
                if "logout" in route:
                    client = _client(role, users)  # signed in again after signing out
                body = content_of(response).decode(errors="replace") + response.get("Location", "")
                # The requested address echoed back (the sign-in page's ?next=) tells nothing new.
                body = body.replace(quote(url, safe=""), "").replace(url, "")
                found = leaks(body, refs)
                if found:
                    problems.append(f"{method.upper()} {url} ({response.status_code}) shows {found}")
                # Routes naming the incident (or its action item) must refuse; other ids (a
                # rotation, a token) may exist.
                names_it = "<str:ref>" in route or "<ref>" in route or route.startswith("/reviews/actions/<")
                if names_it and not refused(response, url):
                    problems.append(f"{method.upper()} {url} answered {response.status_code}, not a refusal")
    assert not problems, "\n".join(problems)
    # Nothing was done to them either: no note, acknowledgement, follow or review change.
    assert TimelineEntry.objects.filter(incident__in=world["restricted"]).count() == timeline_before
    assert Subscription.objects.filter(incident__in=world["restricted"]).count() == follows_before


@pytest.mark.parametrize("role", NOT_ALLOWED)
def test_searches_lists_and_counts_leave_restricted_incidents_out(role, world, users):
    if role in ("anonymous", "nobody"):
        pytest.skip("no incident list at all (the URL walk checks their refusals)")
    client = _client(role, users)
    refs = [i.ref for i in world["restricted"]]
    for query in [MARK, "secret words", *refs, str(world["restricted"][0].pk)]:
        for url in ["/incidents/", "/reviews/", "/reviews/actions/", "/"]:
            response = client.get(url, {"q": query})
            assert response.status_code == 200
            if query in refs or query.isdigit():
                # The page repeats what was searched for; what it found is the question.
                if "page" in response.context:
                    assert response.context["page"].paginator.count == 0, (url, query)
            else:
                assert not leaks(content_of(response).decode(), refs), (url, query)
    listed = client.get("/incidents/")
    assert listed.context["page"].paginator.count == 1  # the unrestricted one only
    board = client.get("/")
    assert board.context["counts"]["total"] == 1
    assert [i.pk for i in board.context["incidents"]] == [world["plain"].pk]
    assert client.get("/incidents/?type=security").context["page"].paginator.count == 0


@pytest.mark.parametrize("who", ["reporter", "responder", "viewer", "integration"])
def test_no_api_endpoint_shows_a_restricted_incident(who, world, users):
    token = integration_token() if who == "integration" else personal_token(users[who])
    refs = [i.ref for i in world["restricted"]]
    listing = call("get", "/api/incidents?limit=100", token)
    assert listing.status_code == 200
    assert listing.json()["count"] == 1
    for query in [f"?q={MARK}", f"?q={refs[0]}", "?type=security", "?open=true"]:
        response = call("get", "/api/incidents" + query, token)
        assert not leaks(content_of(response).decode(), refs), query
    for incident in world["restricted"]:
        for method, path, body in [
            ("get", "", None),
            ("post", "/updates", {"message": "probe", "public": False}),
            ("post", "/acknowledge", None),
            ("post", "/resolve", {"summary": "probe", "confirmed": True}),
            ("get", "/roles", None),
            ("post", "/roles", {"role": "scribe", "person": "rob"}),
            ("get", "/tasks", None),
            ("post", f"/tasks/{incident.tasks.first().pk}", {"done": True}),
        ]:
            response = call(method, f"/api/incidents/{incident.ref}{path}", token, body)
            assert response.status_code in (403, 404), (who, path, response.status_code)
            # Exactly the answer for a reference that does not exist: existence is information.
            missing = call(method, f"/api/incidents/INC-999999{path}", token, body)
            assert (response.status_code, content_of(response).decode().replace(incident.ref, "INC-999999")) == (
                missing.status_code,
                missing.content.decode(),
            )
    assert StatusUpdate.objects.filter(incident__in=world["restricted"], message="probe").count() == 0
    assert not Task.objects.filter(incident__in=world["restricted"], title__startswith="probe").exists()


def test_managers_security_and_participants_do_see_them(world, users):
    """The other side: the allowed see everything (or the test above could pass by showing nothing)."""
    for user in [users["manager"], world["security"], world["participant"]]:
        client = Client()
        client.force_login(user)
        for incident in world["restricted"]:
            page = client.get(f"/incidents/{incident.ref}/")
            assert page.status_code == 200
            assert marked("title") in page.content.decode()
            # The custom field values are on the page (and the edit entry): the walk above would see them.
            assert marked("custom-field-edited") in page.content.decode()
            assert marked("custom-field") in page.content.decode()
            assert marked("task") in page.content.decode()  # the tasks are there for those allowed
        assert client.get("/incidents/").context["page"].paginator.count == 3
        token = personal_token(user, name=f"t-{user.pk}")
        assert call("get", "/api/incidents", token).json()["count"] == 3
    review = Client()
    review.force_login(world["participant"])
    review_page = review.get(f"/reviews/{world['restricted'][1].ref}/").content.decode()
    assert marked("review-root_cause") in review_page
    assert marked("review-data-exposure") in review_page
    token = personal_token(world["participant"], name="participant")
    fields = call("get", f"/api/incidents/{world['restricted'][0].ref}", token).json()["fields"]
    assert fields["leak_notes"] == marked("notes")


def test_no_email_slack_or_webhook_message_tells_anyone_not_allowed(world, users):
    refs = [i.ref for i in world["restricted"]]
    rows = list(
        Notification.objects.filter(incident__in=world["restricted"])
        | Notification.objects.filter(incident__isnull=True)
    )
    assert rows, "the fixture queued nothing: the test would prove nothing"
    slack = [r for r in rows if r.channel == Notification.Channel.SLACK]
    # Slack channels hear that each restricted incident was opened: ref and severity only, once.
    assert sorted(r.body_text for r in slack) == sorted(
        f"A restricted incident was opened: {i.ref}, Critical." for i in world["restricted"] for _ in range(2)
    )
    for row in rows:
        if row.channel == Notification.Channel.EMAIL and row.user_id not in world["allowed"]:
            text = f"{row.subject}\n{row.body_text}\n{row.body_html}"
            assert not leaks(text, refs), (row.recipient, row.subject)
    # A webhook not allowed restricted incidents hears that each was created: reference and severity.
    hooked = [json.loads(r.body_text) for r in rows if r.channel == Notification.Channel.WEBHOOK]
    assert sorted((e["type"], e["incident"]["reference"]) for e in hooked) == sorted(
        ("incident.created", i.ref) for i in world["restricted"]
    )
    assert all(set(e["incident"]) == {"id", "reference", "severity", "restricted", "url"} for e in hooked)
    assert not any(leaks(r.body_text, []) for r in rows if r.channel == Notification.Channel.WEBHOOK)
    told = {r.recipient for r in rows if r.channel == Notification.Channel.EMAIL}
    assert "press@outside.example" not in told
    assert users["responder"].email not in told  # follows the service and the incident, owns an action item
    assert users["viewer"].email not in told  # subscribed to every severity
    assert world["participant"].email in told  # added by name: told so
    # And what was sent (the immediate task backend delivers at commit; locmem keeps it).
    for message in mail.outbox:
        if not set(message.to) & {world["security"].email, world["participant"].email, users["manager"].email}:
            assert not leaks(f"{message.subject}\n{message.body}", refs)


def test_the_handoff_summary_and_metrics_leave_them_out(world, users, client):
    refs = [i.ref for i in world["restricted"]]
    _, subject, text = paging.handoff_summary(
        world["rotation"], incoming=users["responder"], at=now() + timedelta(days=1)
    )
    assert not leaks(subject + text, refs)
    assert world["plain"].ref in text
    _, _, allowed_text = paging.handoff_summary(
        world["rotation"], incoming=world["security"], at=now() + timedelta(days=1)
    )
    assert refs[0] in allowed_text  # the open one, to someone allowed
    metrics = client.get("/metrics").content.decode()
    assert 'beacon_open_incidents{severity="high"} 1.0' in metrics
    assert 'beacon_open_incidents{severity="critical"} 0.0' in metrics


def test_the_admin_shows_restricted_incidents_only_to_those_allowed(world, users):
    refs = [i.ref for i in world["restricted"]]
    auditor = make_user("audrey", roles.VIEWER, is_staff=True)
    from django.contrib.auth.models import Permission

    auditor.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=["incidents", "reviews"], codename__startswith="view_"
        ).exclude(codename="view_restricted_incident"),
        Permission.objects.get(codename="access_admin"),
    )
    client = Client()
    client.force_login(auditor)
    pages = [
        "/admin/incidents/incident/",
        f"/admin/incidents/incident/?q={MARK}",
        f"/admin/incidents/incident/?q={refs[0]}",
        "/admin/incidents/notification/",
        "/admin/incidents/subscription/",
        "/admin/reviews/review/",
        "/admin/reviews/actionitem/",
        "/admin/reviews/runbookrevision/",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        if "?q=INC-" in url:  # the search box and filter links repeat the query: count the results
            assert response.context["cl"].result_count == 0
        else:
            assert not leaks(content_of(response).decode(), refs), url
    for incident in world["restricted"]:
        assert client.get(f"/admin/incidents/incident/{incident.pk}/change/").status_code in (302, 404)
    assert client.get(f"/admin/reviews/actionitem/{world['item'].pk}/change/").status_code in (302, 404)
    manager = Client()
    manager.force_login(users["manager"])
    assert marked("title") in manager.get("/admin/incidents/incident/").content.decode()
