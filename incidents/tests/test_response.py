"""Response roles and task lists (docs/response.md): the shipped defaults, the checklist copied at
report time, resolve refused while required tasks are open, assigning and ticking from the
incident page per role, need-to-know for assignees, the assignee's notifications, "My roles" on
the dashboard, and bounded queries."""

import pytest
from django.contrib.auth.models import Group

from conftest import make_user
from incidents import roles, workflow
from incidents.alerts.tests.support import am, integration  # noqa: F401 - fixtures
from incidents.models import (
    ChecklistItem,
    IncidentType,
    Notification,
    Profile,
    ResponseRole,
    RoleAssignment,
    Task,
    TimelineEntry,
)
from incidents.tests.factories import ServiceFactory, make_incident

Kind = TimelineEntry.Kind


def security_incident(by, **fields):
    return make_incident(by=by, type=IncidentType.objects.get(slug="security"), **fields)


def role(slug: str) -> ResponseRole:
    return ResponseRole.objects.get(slug=slug)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- shipped defaults and the checklist copied at report time ---------------------------------


def test_the_shipped_roles_and_checklists_exist(db):
    assert list(ResponseRole.objects.values_list("name", flat=True)) == [
        "Incident commander",
        "Communications lead",
        "Scribe",
    ]
    security = IncidentType.objects.get(slug="security")
    required = list(security.checklist.filter(required=True).values_list("title", flat=True))
    assert required == [
        "Preserve evidence (logs, disk images) before changing systems",
        "Rotate credentials",
        "Assess data exposure",
        "Notify legal",
    ]
    # Downtime and performance have checklists, none of them required: resolving them is as before.
    for slug in ("downtime", "performance"):
        kind = IncidentType.objects.get(slug=slug)
        assert kind.checklist.exists() and not kind.checklist.filter(required=True).exists()


def test_reporting_copies_the_types_checklist_into_the_incidents_tasks(reporter, responder):
    security = IncidentType.objects.get(slug="security")
    incident = security_incident(responder)
    tasks = list(incident.tasks.order_by("position"))
    assert [(t.title, t.required) for t in tasks] == list(
        security.checklist.order_by("position").values_list("title", "required")
    )
    assert all(t.item_id and not t.done for t in tasks)
    entry = incident.timeline.get(kind=Kind.REPORTED)
    assert entry.data["tasks"] == 5
    # A later change to the checklist leaves incidents already reported as they were.
    ChecklistItem.objects.filter(type=security).delete()
    assert incident.tasks.count() == 5
    assert Task.objects.filter(incident=incident).exclude(item=None).count() == 0  # the link is cleared, the task stays


def test_a_type_without_checklist_gives_no_tasks(reporter):
    custom = IncidentType.objects.create(name="Data loss", slug="data-loss")
    incident = make_incident(by=reporter, type=custom)
    assert incident.tasks.count() == 0
    assert "tasks" not in incident.timeline.get(kind=Kind.REPORTED).data


def test_the_report_form_path_copies_the_checklist_too(clients, responder):
    from incidents.tests.test_report import valid

    response = clients["responder"].post(
        "/incidents/new/", valid(ServiceFactory(name="Checkout"), type="security", title="Leaked key", severity="high")
    )
    assert response.status_code == 302
    task_titles = Task.objects.filter(incident__title="Leaked key").values_list("title", flat=True)
    assert "Rotate credentials" in task_titles


def test_an_alertmanager_incident_gets_its_types_checklist(am):  # noqa: F811 - the fixture
    from incidents.alerts.tests.support import load
    from incidents.models import Incident

    payload = load("firing")
    payload["commonLabels"]["incident_type"] = "security"
    assert am.post(payload).status_code == 200
    incident = Incident.objects.get()
    assert incident.tasks.filter(required=True).count() == 4
    assert incident.timeline.get(kind=Kind.REPORTED).data["tasks"] == 5


# --- resolving with required tasks open -----------------------------------------------------------


def test_resolve_is_refused_naming_the_open_required_tasks(responder):
    incident = security_incident(responder)
    tasks = {t.title: t for t in incident.tasks.all()}
    workflow.tick_task(
        incident, by=responder, task=tasks["Preserve evidence (logs, disk images) before changing systems"], done=True
    )
    workflow.tick_task(incident, by=responder, task=tasks["Assess data exposure"], done=True)
    with pytest.raises(workflow.InvalidTransition) as refusal:
        workflow.resolve(incident, by=responder, summary="Key rotated.", confirmed=True)
    assert str(refusal.value) == "Resolve blocked: 2 required tasks open: Rotate credentials, Notify legal."
    incident.refresh_from_db()
    assert incident.status == "reported" and incident.resolved_at is None
    # Mitigating is not blocked.
    workflow.mitigate(incident, by=responder, text="Key revoked at the provider.")
    workflow.tick_task(incident, by=responder, task=tasks["Rotate credentials"], done=True)
    with pytest.raises(workflow.InvalidTransition, match=r"^Resolve blocked: 1 required task open: Notify legal\.$"):
        workflow.resolve(incident, by=responder, summary="Key rotated.", confirmed=True)
    workflow.tick_task(incident, by=responder, task=tasks["Notify legal"], done=True)
    # The optional one may stay open.
    workflow.resolve(incident, by=responder, summary="Key rotated.", confirmed=True)
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_resolve_on_the_page_shows_the_blocking_tasks(clients, responder):
    incident = security_incident(responder)
    response = clients["responder"].post(
        f"/incidents/{incident.ref}/resolve/", {"summary": "Done.", "confirmed": "on"}, follow=True
    )
    assert (
        "Resolve blocked: 4 required tasks open: Preserve evidence (logs, disk images) before changing systems, "
        "Rotate credentials, Assess data exposure, Notify legal." in messages_of(response)
    )
    incident.refresh_from_db()
    assert incident.status == "reported"
    html = response.content.decode()
    assert "Required before resolving:" in html


def test_a_required_task_of_a_resolved_incident_cannot_be_opened_again(responder):
    incident = security_incident(responder)
    for task in incident.tasks.filter(required=True):
        workflow.tick_task(incident, by=responder, task=task, done=True)
    workflow.resolve(incident, by=responder, summary="Done.", confirmed=True)
    task = incident.tasks.filter(required=True).first()
    with pytest.raises(workflow.InvalidTransition, match="reopen the incident first"):
        workflow.tick_task(incident, by=responder, task=task, done=False)
    optional = incident.tasks.get(required=False)
    workflow.tick_task(incident, by=responder, task=optional, done=True)  # still allowed after resolving


# --- tasks on the page: per role, bad input, timeline -------------------------------------------


@pytest.mark.parametrize(
    "who, allowed", [("responder", True), ("manager", True), ("reporter", False), ("viewer", False)]
)
def test_who_may_add_tick_and_assign_tasks(who, allowed, clients, reporter, responder):
    incident = make_incident(by=reporter)
    task = incident.tasks.first()
    client = clients[who]
    entries = TimelineEntry.objects.filter(incident=incident).count()
    answers = [
        client.post(f"/incidents/{incident.ref}/tasks/", {"title": "Check the CDN"}),
        client.post(f"/incidents/{incident.ref}/tasks/{task.pk}/", {"action": "tick"}),
        client.post(f"/incidents/{incident.ref}/tasks/{task.pk}/", {"action": "assign", "person": "rob"}),
        client.post(f"/incidents/{incident.ref}/roles/", {"role": "scribe", "person": "rob"}),
    ]
    if allowed:
        assert [a.status_code for a in answers] == [302] * 4
        assert answers[0]["Location"] == f"/incidents/{incident.ref}/#tasks"
        task.refresh_from_db()
        assert task.done and task.assignee == responder
        assert incident.tasks.filter(title="Check the CDN", required=False).exists()
        kinds = list(incident.timeline.order_by("pk").values_list("kind", "data__action")[entries:])
        assert kinds == [(Kind.TASK, "added"), (Kind.TASK, "ticked"), (Kind.TASK, "assigned"), (Kind.ROLE, None)]
        assert RoleAssignment.objects.get(incident=incident, role=role("scribe")).user == responder
    else:
        assert [a.status_code for a in answers] == [403] * 4
        assert TimelineEntry.objects.filter(incident=incident).count() == entries
        assert not RoleAssignment.objects.exists()


def test_the_page_shows_tasks_and_roles_to_readers_without_the_forms(clients, reporter, responder):
    incident = make_incident(by=reporter)
    workflow.assign_role(incident, by=responder, role=role("commander"), user=responder)
    workflow.tick_task(incident, by=responder, task=incident.tasks.first(), done=True)
    viewer_html = clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    assert "Confirm who is affected and how" in viewer_html and "Incident commander" in viewer_html
    assert "Rob Responder" in viewer_html and "1 of 4 done" in viewer_html
    assert f"/incidents/{incident.ref}/tasks/" not in viewer_html
    assert f"/incidents/{incident.ref}/roles/" not in viewer_html
    responder_html = clients["responder"].get(f"/incidents/{incident.ref}/").content.decode()
    assert f'action="/incidents/{incident.ref}/tasks/"' in responder_html
    assert f'action="/incidents/{incident.ref}/roles/"' in responder_html


def test_bad_task_input_is_refused_naming_the_field(clients, reporter):
    incident = make_incident(by=reporter)
    task = incident.tasks.first()
    before = (incident.tasks.count(), TimelineEntry.objects.filter(incident=incident).count())
    cases = [
        (f"/incidents/{incident.ref}/tasks/", {"title": ""}, "New task: This field is required."),
        (f"/incidents/{incident.ref}/tasks/", {"title": "x" * 201}, "New task: Ensure this value has at most 200"),
        (f"/incidents/{incident.ref}/tasks/", {"title": "   "}, "New task: This field is required."),
        (f"/incidents/{incident.ref}/tasks/{task.pk}/", {"action": "burn"}, "Action: Tick, untick or assign."),
        (
            f"/incidents/{incident.ref}/tasks/{task.pk}/",
            {"action": "assign", "person": "nosuchperson"},
            "Person (username): There is nobody with the username “nosuchperson”.",
        ),
        (f"/incidents/{incident.ref}/tasks/{task.pk}/", {"action": "untick"}, "is not ticked."),
        (
            f"/incidents/{incident.ref}/tasks/{task.pk}/",
            {"action": "assign", "person": "rob", "expected": "abc"},
            "This is not the form Beacon drew; reload the page.",
        ),
    ]
    for url, data, wanted in cases:
        response = clients["responder"].post(url, data, follow=True)
        assert response.status_code == 200
        assert any(wanted in m for m in messages_of(response)), (data, messages_of(response))
    assert (incident.tasks.count(), TimelineEntry.objects.filter(incident=incident).count()) == before
    # A task of another incident is not found through this one.
    other = make_incident(by=reporter)
    foreign = other.tasks.first()
    assert (
        clients["responder"].post(f"/incidents/{incident.ref}/tasks/{foreign.pk}/", {"action": "tick"}).status_code
        == 404
    )
    foreign.refresh_from_db()
    assert not foreign.done


def test_ticking_twice_names_who_ticked_it(responder, other_responder, reporter):
    incident = make_incident(by=reporter)
    task = incident.tasks.first()
    workflow.tick_task(incident, by=responder, task=task, done=True)
    with pytest.raises(workflow.InvalidTransition, match="was already ticked by Rob Responder"):
        workflow.tick_task(incident, by=other_responder, task=task, done=True)
    workflow.tick_task(incident, by=other_responder, task=task, done=False)
    task.refresh_from_db()
    assert task.done_at is None and task.done_by is None
    assert list(incident.timeline.filter(kind=Kind.TASK).values_list("data__action", flat=True)) == [
        "ticked",
        "unticked",
    ]


def test_a_closed_incident_keeps_its_roles_and_tasks(reporter, responder, manager):
    incident = make_incident(by=reporter)
    workflow.resolve(incident, by=responder, summary="Fixed.", confirmed=True)
    workflow.close(incident, by=manager)
    with pytest.raises(workflow.InvalidTransition, match="closed"):
        workflow.add_task(incident, by=responder, title="Late")
    with pytest.raises(workflow.InvalidTransition, match="closed"):
        workflow.assign_role(incident, by=responder, role=role("scribe"), user=responder)


# --- roles: assign, conflict, need-to-know -----------------------------------------------------


def test_assigning_and_unassigning_a_role(clients, reporter, responder, other_responder):
    incident = make_incident(by=reporter)
    url = f"/incidents/{incident.ref}/roles/"
    response = clients["manager"].post(url, {"role": "commander", "person": "ROB", "expected": ""}, follow=True)
    assert f"Rob Responder is Incident commander of {incident.ref} now." in messages_of(response)
    # Changing it: the form carries the holder it was drawn with.
    clients["manager"].post(url, {"role": "commander", "person": "ola", "expected": str(responder.pk)})
    assert RoleAssignment.objects.get(incident=incident).user == other_responder
    clients["manager"].post(url, {"role": "commander", "person": "", "expected": str(other_responder.pk)})
    assert not RoleAssignment.objects.filter(incident=incident).exists()
    entries = list(incident.timeline.filter(kind=Kind.ROLE).order_by("pk").values_list("data", flat=True))
    assert [(e["old"], e["new"]) for e in entries] == [
        (None, "Rob Responder"),
        ("Rob Responder", "Ola Oncall"),
        ("Ola Oncall", None),
    ]
    page = clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    assert "Incident commander" in page and "Rob Responder → Ola Oncall" in page


def test_a_stale_role_form_is_a_conflict_and_changes_nothing(clients, reporter, responder, other_responder):
    incident = make_incident(by=reporter)
    workflow.assign_role(incident, by=responder, role=role("commander"), user=responder)
    # Someone else opened the page when nobody held it, and assigns Ola.
    response = clients["manager"].post(
        f"/incidents/{incident.ref}/roles/", {"role": "commander", "person": "ola", "expected": ""}, follow=True
    )
    assert any("changed since you opened the page: Rob Responder holds it now" in m for m in messages_of(response))
    assert RoleAssignment.objects.get(incident=incident).user == responder
    assert incident.timeline.filter(kind=Kind.ROLE).count() == 1


def test_bad_role_input_is_refused_naming_the_field(clients, reporter, nobody):
    incident = make_incident(by=reporter)
    url = f"/incidents/{incident.ref}/roles/"
    cases = [
        ({"role": "pope", "person": "rob"}, "Role: There is no such role; reload the page."),
        ({"person": "rob"}, "Role: Choose a role."),
        ({"role": "scribe", "person": "ghost"}, "Person (username): There is nobody with the username “ghost”."),
        ({"role": "scribe", "person": ""}, "Nobody is Scribe of"),
        ({"role": "scribe", "person": "nora"}, "has no role in Beacon"),
    ]
    for data, wanted in cases:
        response = clients["responder"].post(url, data, follow=True)
        assert any(wanted in m for m in messages_of(response)), (data, messages_of(response))
    assert not RoleAssignment.objects.exists()
    assert not incident.timeline.filter(kind=Kind.ROLE).exists()


def test_a_restricted_incidents_role_goes_only_to_someone_allowed_to_see_it(clients, responder, viewer):
    security = make_user("sam", roles.RESPONDER, first_name="Sam", last_name="Security")
    security.groups.add(Group.objects.get(name=roles.SECURITY))
    incident = security_incident(security)
    # The responder may not see it: refused, with the way in named; no access granted behind anyone's back.
    with pytest.raises(workflow.InvalidTransition) as refusal:
        workflow.assign_role(incident, by=security, role=role("scribe"), user=responder)
    assert str(refusal.value) == (
        f"Rob Responder may not see {incident.ref}: it is restricted (need-to-know). "
        "Add them as a participant first, then give them the role Scribe."
    )
    with pytest.raises(workflow.InvalidTransition, match="Add them as a participant first"):
        workflow.assign_task(incident, by=security, task=incident.tasks.first(), user=responder)
    assert not incident.participants.exists() and not RoleAssignment.objects.exists()
    # Added by name, they may hold it.
    workflow.add_participant(incident, by=security, user=viewer)
    workflow.assign_role(incident, by=security, role=role("scribe"), user=viewer)
    assert RoleAssignment.objects.get(incident=incident).user == viewer
    # The responder, not allowed, gets a 404 for the incident's forms as for the incident.
    for url, data in [
        (f"/incidents/{incident.ref}/roles/", {"role": "scribe", "person": "rob"}),
        (f"/incidents/{incident.ref}/tasks/", {"title": "probe"}),
        (f"/incidents/{incident.ref}/tasks/{incident.tasks.first().pk}/", {"action": "tick"}),
    ]:
        assert clients["responder"].post(url, data).status_code == 404


# --- who hears of it ----------------------------------------------------------------------------


def test_the_assignee_is_told_by_email_and_slack_in_the_same_transaction(
    settings, reporter, responder, other_responder
):
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/slack"
    Profile.objects.create(user=other_responder, slack_member_id="U0OLA")
    incident = make_incident(by=reporter)
    workflow.set_lead(incident, by=responder, lead=responder)
    workflow.assign_role(incident, by=responder, role=role("commander"), user=other_responder)
    entry = incident.timeline.filter(kind=Kind.ROLE).get()
    rows = Notification.objects.filter(entry=entry)
    email = rows.get(channel=Notification.Channel.EMAIL, user=other_responder)
    assert email.reason == "assigned"
    assert "Ola Oncall is Incident commander" in email.subject
    assert f"you are Incident commander of {incident.ref}" in email.body_text
    slack = rows.get(channel=Notification.Channel.SLACK)
    assert (
        slack.body_text.startswith("<@U0OLA> *" + incident.ref)
        and "Ola Oncall is Incident commander" in slack.body_text
    )
    # The one who assigned (the lead here) is not told of their own action.
    assert not rows.filter(user=responder).exists()
    # A task given to someone tells them too; ticks tell nobody.
    task = incident.tasks.first()
    workflow.assign_task(incident, by=responder, task=task, user=other_responder)
    workflow.tick_task(incident, by=other_responder, task=task, done=True)
    assigned, ticked = incident.timeline.filter(kind=Kind.TASK).order_by("pk")
    assert Notification.objects.filter(entry=assigned, user=other_responder, channel="email").exists()
    assert not Notification.objects.filter(entry=ticked).exclude(channel="slack_app").exists()


def test_a_rollback_leaves_neither_assignment_nor_notification(reporter, responder, other_responder):
    incident = make_incident(by=reporter)

    def explode(entry):
        if entry.kind == Kind.ROLE:
            raise RuntimeError("disk full")

    workflow.on_entry(explode)
    try:
        with pytest.raises(RuntimeError):
            workflow.assign_role(incident, by=responder, role=role("scribe"), user=other_responder)
    finally:
        workflow._entry_listeners.remove(explode)
    assert not RoleAssignment.objects.exists()
    assert not Notification.objects.filter(user=other_responder).exists()


def test_restricted_assignments_never_reach_slack(settings, responder, viewer):
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/slack"
    security = make_user("sam", roles.RESPONDER, first_name="Sam", last_name="Security")
    security.groups.add(Group.objects.get(name=roles.SECURITY))
    Profile.objects.create(user=viewer, slack_member_id="U0VIC")
    incident = security_incident(security)
    workflow.add_participant(incident, by=security, user=viewer)
    workflow.assign_role(incident, by=security, role=role("scribe"), user=viewer)
    entry = incident.timeline.filter(kind=Kind.ROLE).get()
    assert not Notification.objects.filter(entry=entry, channel=Notification.Channel.SLACK).exists()
    assert Notification.objects.filter(entry=entry, channel=Notification.Channel.EMAIL, user=viewer).exists()


# --- the dashboard's "My roles" and bounded pages ----------------------------------------------


def test_my_roles_on_the_dashboard(clients, reporter, responder):
    open_one = make_incident(by=reporter, title="Open one")
    resolved = make_incident(by=reporter, title="Resolved one")
    workflow.assign_role(open_one, by=responder, role=role("commander"), user=responder)
    workflow.assign_role(open_one, by=responder, role=role("scribe"), user=responder)
    workflow.assign_role(resolved, by=responder, role=role("scribe"), user=responder)
    workflow.resolve(resolved, by=responder, summary="Fixed.", confirmed=True)
    response = clients["responder"].get("/")
    mine = response.context["my_roles"]
    assert [i.pk for i in mine] == [open_one.pk]
    assert [a.role.name for a in mine[0].my_roles] == ["Incident commander", "Scribe"]
    assert "Incident commander, Scribe" in response.content.decode()
    assert clients["viewer"].get("/").context["my_roles"] == []


def test_my_roles_runs_a_fixed_number_of_queries(clients, reporter, responder, django_assert_max_num_queries):
    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert clients["responder"].get("/").status_code == 200
        return len(queries)

    first = make_incident(by=reporter)
    workflow.assign_role(first, by=responder, role=role("scribe"), user=responder)
    few = count()
    for n in range(15):
        incident = make_incident(by=reporter, title=f"Incident {n}")
        workflow.assign_role(incident, by=responder, role=role("commander"), user=responder)
        workflow.assign_role(incident, by=responder, role=role("scribe"), user=responder)
    with django_assert_max_num_queries(few):
        clients["responder"].get("/")


def test_the_incident_page_runs_a_fixed_number_of_queries(clients, reporter, responder, django_assert_max_num_queries):
    incident = make_incident(by=reporter)

    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert clients["responder"].get(f"/incidents/{incident.ref}/").status_code == 200
        return len(queries)

    few = count()
    people = [make_user(f"helper{n}", roles.RESPONDER) for n in range(8)]
    for n in range(8):
        ResponseRole.objects.create(name=f"Role {n}", position=50 + n)
    for n, made in enumerate(ResponseRole.objects.all()):
        workflow.assign_role(incident, by=responder, role=made, user=people[n % len(people)])
    for n in range(60):
        task = workflow.add_task(incident, by=responder, title=f"Task {n}")
        workflow.assign_task(incident, by=responder, task=task, user=people[n % len(people)])
        if n % 2:
            workflow.tick_task(incident, by=people[0], task=task, done=True)
    # One more at most: past 50 deliveries (these assignments sent more) the ledger counts them
    # with a query of its own instead of from the rows it shows (notifications/views.py).
    assert Notification.objects.filter(incident=incident).count() > 50
    with django_assert_max_num_queries(few + 1):
        html = clients["responder"].get(f"/incidents/{incident.ref}/").content.decode()
    assert "Task 59" in html and "Role 7" in html


def test_managers_edit_roles_and_checklists_in_the_admin_and_it_is_audited(clients, manager):
    from auditlog.models import LogEntry

    security = IncidentType.objects.get(slug="security")
    page = clients["manager"].get(f"/admin/incidents/incidenttype/{security.pk}/change/").content.decode()
    assert "response checklist" in page.lower() and "Rotate credentials" in page
    assert "Incident commander" in clients["manager"].get("/admin/incidents/responserole/").content.decode()
    response = clients["manager"].post(
        "/admin/incidents/responserole/add/", {"name": "Liaison to legal", "slug": "legal", "position": 40}
    )
    assert response.status_code == 302
    assert ResponseRole.objects.filter(slug="legal").exists()
    assert LogEntry.objects.get_for_model(ResponseRole).filter(actor=manager).exists()
    assert clients["responder"].get("/admin/incidents/responserole/").status_code == 403
