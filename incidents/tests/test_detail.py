import pytest
from django.utils.timezone import now

from incidents import workflow
from incidents.models import ResponseRole, RoleAssignment, Task, TimelineEntry
from incidents.tests.factories import make_incident


def test_it_shows_every_reported_field(clients, reporter):
    incident = make_incident(
        by=reporter, title="Checkout down", description="Pay fails", impact="All users", logs="ERR 42\n  at x()"
    )
    response = clients["viewer"].get(f"/incidents/{incident.ref}/")
    html = response.content.decode()
    assert f"<title>{incident.ref} · Checkout down" in html
    for text in ["Checkout down", "Pay fails", "All users", "ERR 42\n  at x()", "Rita Reporter", "High", "Reported"]:
        assert text in html
    assert '<pre class="logs' in html


def test_it_accepts_references_in_any_case_and_rejects_garbage(clients, reporter):
    incident = make_incident(by=reporter)
    assert clients["viewer"].get(f"/incidents/inc-{incident.pk}/").status_code == 200
    assert clients["viewer"].get("/incidents/INC-abc/").status_code == 404
    assert clients["viewer"].get("/incidents/INC-99999999999999999999999/").status_code == 404


def test_html_in_every_field_is_text(clients, reporter):
    evil = "<img src=x onerror=alert(1)>"
    incident = make_incident(by=reporter, title=evil, description=evil, impact=evil, logs=evil)
    workflow.add_note(incident, by=reporter, text=evil)
    html = clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    assert "<img src=x" not in html
    # The title twice (<title> and the heading), description, impact, logs and the note (markdown).
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") == 6


def test_an_authors_name_in_the_timeline_is_text(clients, reporter):
    # Each entry's header is drawn in Python (incident_tags.entry_header): the name escaped there.
    reporter.first_name = "<b>Rita</b>"
    reporter.save()
    incident = make_incident(by=reporter)
    workflow.add_note(incident, by=reporter, text="seen")
    html = clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    timeline = html.split('id="timeline"')[1]
    assert "<b>Rita</b>" not in timeline and "&lt;b&gt;Rita&lt;/b&gt; Reporter" in timeline


def test_detail_runs_a_fixed_number_of_queries(clients, reporter, responder, django_assert_max_num_queries):
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)
    TimelineEntry.objects.bulk_create(
        TimelineEntry(incident=incident, author=responder if i % 2 else reporter, kind="note", text=f"note {i}")
        for i in range(200)
    )
    # Roles held and many tasks, given and ticked (written directly: the timeline is counted below).
    RoleAssignment.objects.bulk_create(
        RoleAssignment(incident=incident, role=role, user=responder if n % 2 else reporter)
        for n, role in enumerate(ResponseRole.objects.all())
    )
    Task.objects.bulk_create(
        Task(
            incident=incident, title=f"Task {n}", position=100 + n, assignee=reporter, done_by=responder, done_at=now()
        )
        for n in range(30)
    )
    client = clients["responder"]
    client.get(f"/incidents/{incident.ref}/")
    # Session, user, profile, permissions, the incident, whether it has links, duplicates,
    # participants, tasks, role holders, pages, deliveries and whether the user follows it or its
    # service (one statement), its timeline, the updates, the review; two for the response (who
    # holds the roles, the tasks: it has both). The roles, the lead list and the type's fields
    # come from the cache (incidents/choices.py).
    with django_assert_max_num_queries(11):
        response = client.get(f"/incidents/{incident.ref}/")
    html = response.content.decode()
    # The newest 25, newest first (the newest 10 open, the rest folded), and a way to earlier ones.
    assert html.count('class="timeline-entry') == 25
    assert html.index("note 199") < html.index("note 175") and "note 174<" not in html
    assert f'href="/incidents/{incident.ref}/?entries=50#older-entries">Show earlier entries</a>' in html
    with django_assert_max_num_queries(11):
        response = client.get(f"/incidents/{incident.ref}/?entries=250")
    html = response.content.decode()
    assert html.count('class="timeline-entry') == 202
    assert "Show earlier entries" not in html


@pytest.mark.parametrize("asked, shown", [("nonsense", 25), ("-5", 25), ("55", 55), ("99999999999", 60)])
def test_the_timeline_length_asked_for_is_bounded(clients, reporter, monkeypatch, asked, shown):
    from incidents import views

    monkeypatch.setattr(views, "TIMELINE_MAX", 60)
    incident = make_incident(by=reporter)
    TimelineEntry.objects.bulk_create(
        TimelineEntry(incident=incident, author=reporter, kind="note", text=f"note {i}") for i in range(100)
    )
    html = clients["viewer"].get(f"/incidents/{incident.ref}/?entries={asked}").content.decode()
    assert html.count('class="timeline-entry') == shown
    fragment = clients["viewer"].get(f"/incidents/{incident.ref}/timeline/?entries={asked}", HTTP_HX_REQUEST="true")
    assert fragment.content.decode().count('class="timeline-entry') == shown


def test_a_note_is_rendered_once_when_written_and_stored_sanitised(clients, reporter, responder):
    incident = make_incident(by=reporter)
    entry = workflow.add_note(
        incident, by=responder, text="**bold** <script>alert(1)</script> [x](javascript:alert(1))"
    )
    entry.refresh_from_db()
    assert "<strong>bold</strong>" in entry.html
    assert "<script>" not in entry.html and "javascript:" not in entry.html
    # The page shows what was stored, without rendering the markdown again.
    TimelineEntry.objects.filter(pk=entry.pk).update(html="<p>stored rendering</p>")
    assert "<p>stored rendering</p>" in clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()


@pytest.mark.parametrize("role, sees_actions", [("viewer", False), ("reporter", False), ("responder", True)])
def test_action_buttons_follow_the_role(clients, reporter, role, sees_actions):
    incident = make_incident(by=reporter)
    html = clients[role].get(f"/incidents/{incident.ref}/").content.decode()
    assert (">Acknowledge</button>" in html) is sees_actions
    assert (">Resolve…</summary>" in html) is sees_actions


def test_each_page_flag_says_exactly_what_the_incident_has(rf, reporter, responder):
    """views._page_incident: one statement of EXISTS, read by position. Each thing added turns on
    its own flag and no other; another incident's rows and another user's subscriptions never count."""
    from incidents import views
    from incidents.models import IncidentLink, Notification, Subscription

    incident, other = make_incident(by=reporter), make_incident(by=reporter)
    Notification.objects.filter(incident__in=[incident, other]).delete()
    Task.objects.filter(incident=incident).delete()  # the type's checklist
    TimelineEntry.objects.filter(incident__in=[incident, other], kind__in=["page", "escalation"]).delete()
    # Rows of the other incident and of another user: none of them is this page's.
    Task.objects.create(incident=other, title="elsewhere", position=1)
    Subscription.objects.create(user=reporter, incident=incident)
    Subscription.objects.create(user=reporter, service=incident.service)
    request = rf.get("/")
    request.user = responder

    def flags() -> set[str]:
        found = views._page_incident(request, incident.ref)
        return {name for name, _ in views._page_flags() if getattr(found, name)}

    assert flags() == set()
    steps = [
        ("has_links", lambda: IncidentLink.objects.create(from_incident=other, to_incident=incident)),
        ("has_duplicates", lambda: type(other).objects.filter(pk=other.pk).update(duplicate_of=incident)),
        ("has_participants", lambda: incident.participants.add(reporter)),
        ("has_tasks", lambda: Task.objects.create(incident=incident, title="here", position=1)),
        (
            "has_roles_held",
            lambda: RoleAssignment.objects.create(incident=incident, role=ResponseRole.objects.first(), user=reporter),
        ),
        ("has_pages", lambda: TimelineEntry.objects.create(incident=incident, kind="page", text="paged")),
        (
            "has_notifications",
            lambda: Notification.objects.create(incident=incident, event_key="k", channel="email", recipient="a@b.c"),
        ),
        ("follows_incident", lambda: Subscription.objects.create(user=responder, incident=incident)),
        ("follows_service", lambda: Subscription.objects.create(user=responder, service=incident.service)),
    ]
    expected: set[str] = set()
    for name, add in steps:
        add()
        expected.add(name)
        assert flags() == expected, name
    assert [name for name, _ in steps] == [name for name, _ in views._page_flags()]
