from datetime import timedelta

from django.utils.timezone import now

from incidents import workflow
from incidents.models import Incident, ResponseRole, RoleAssignment, TimelineEntry
from incidents.tests.factories import ServiceFactory, make_incident
from incidents.tests.test_list import bulk_incidents


def shown(response) -> list[str]:
    return [i.ref for i in response.context["incidents"]]


def test_open_incidents_most_severe_first_then_oldest(clients, reporter, responder, manager):
    low = make_incident(by=reporter, severity="low")
    crit_new = make_incident(by=reporter, severity="critical")
    crit_old = make_incident(by=reporter, severity="critical")
    Incident.objects.filter(pk=crit_old.pk).update(reported_at=now() - timedelta(hours=2))
    done = make_incident(by=reporter, severity="critical")
    workflow.resolve(done, by=responder, summary="ok", confirmed=True)
    response = clients["responder"].get("/")
    assert shown(response) == [crit_old.ref, crit_new.ref, low.ref]
    assert response.context["counts"]["critical"] == 2
    assert response.context["counts"]["low"] == 1
    assert [i.ref for i in response.context["recently_resolved"]] == [done.ref]


def test_unacknowledged_stand_out_and_title_counts_them(clients, reporter, responder):
    waiting = make_incident(by=reporter)
    Incident.objects.filter(pk=waiting.pk).update(reported_at=now() - timedelta(minutes=7))
    seen = make_incident(by=reporter)
    workflow.acknowledge(seen, by=responder)
    html = clients["responder"].get("/").content.decode()
    assert "<title>(1) Dashboard — Beacon</title>" in html
    assert 'class="incident-row unacknowledged" data-ref="' + waiting.ref in html
    assert "waiting 7 min" in html
    assert "unacknowledged" not in html.split(f'data-ref="{seen.ref}"')[0].rsplit("<tr", 1)[1]


def test_assigned_to_me(clients, reporter, responder, other_responder):
    mine = make_incident(by=reporter)
    theirs = make_incident(by=reporter)
    workflow.take(mine, by=responder)
    workflow.take(theirs, by=other_responder)
    response = clients["responder"].get("/")
    assert [i.ref for i in response.context["mine"]] == [mine.ref]


def test_one_click_acknowledge_and_take_from_the_dashboard(clients, reporter, responder):
    incident = make_incident(by=reporter)
    html = clients["responder"].get("/").content.decode()
    assert f'action="/incidents/{incident.ref}/acknowledge/"' in html
    response = clients["responder"].post(f"/incidents/{incident.ref}/acknowledge/", {"next": "/"})
    assert response["Location"] == "/"
    incident.refresh_from_db()
    assert incident.status == "acknowledged" and incident.lead == responder


def test_htmx_poll_returns_only_the_board(clients, reporter):
    make_incident(by=reporter)
    page = clients["viewer"].get("/").content.decode()
    fragment = clients["viewer"].get("/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 15s"' in page
    assert fragment.lstrip().startswith('<div id="board"')
    assert "<nav" not in fragment
    assert 'data-title="(1) Dashboard — Beacon"' in fragment
    assert 'href="/">Refresh</a>' in page  # without JavaScript


def test_viewer_sees_no_action_buttons(clients, reporter):
    make_incident(by=reporter)
    html = clients["viewer"].get("/").content.decode()
    assert "Acknowledge</button>" not in html


def test_account_without_role_is_told_to_ask_a_manager(clients):
    html = clients["nobody"].get("/").content.decode()
    assert "A manager must give you a role" in html


def test_dashboard_runs_a_fixed_number_of_queries(clients, reporter, responder, django_assert_max_num_queries):
    services = [ServiceFactory(name=f"S{i}") for i in range(4)]
    bulk_incidents(1000, reporter, services)
    incident = Incident.objects.first()
    TimelineEntry.objects.bulk_create(
        TimelineEntry(incident=incident, author=responder, kind="note", text=f"n{i}") for i in range(200)
    )
    # The responder holds roles on many open incidents ("My roles").
    commander = ResponseRole.objects.get(slug="commander")
    RoleAssignment.objects.bulk_create(
        RoleAssignment(incident=i, role=commander, user=responder) for i in Incident.objects.open()[:50]
    )
    # Some resolved in the last day: their list must not load anything per row either.
    resolved = list(Incident.objects.open().order_by("-pk").values_list("pk", flat=True)[:5])
    Incident.objects.filter(pk__in=resolved).update(status="resolved", resolved_at=now())
    client = clients["responder"]
    client.get("/")
    # 12 before incident types: one more for the type filter's list; two for "My roles"; two for the
    # maintenance windows and silences in force (incidents/maintenance/test_pages.py fills them).
    with django_assert_max_num_queries(17):
        response = client.get("/")
    assert len(response.context["incidents"]) == 100
    assert response.context["counts"]["total"] == 595
    assert sorted(i.pk for i in response.context["recently_resolved"]) == sorted(resolved)
    assert len(response.context["my_roles"]) == 20
    with django_assert_max_num_queries(17):
        client.get("/", HTTP_HX_REQUEST="true")


def test_managers_see_failed_deliveries(clients, reporter):
    from incidents.models import Notification

    incident = make_incident(by=reporter)
    Notification.objects.create(
        event_key="entry:x",
        channel="email",
        recipient="gone@example.com",
        incident=incident,
        state=Notification.State.FAILED,
        last_error="550 5.1.1 User unknown",
        permanent_error=True,
    )
    manager_html = clients["manager"].get("/").content.decode()
    assert "1 notification could not be delivered." in manager_html
    assert "/admin/incidents/notification/?state__exact=failed" in manager_html
    assert "could not be delivered" not in clients["responder"].get("/").content.decode()


def test_counts_mine_and_roles_agree_whether_every_open_incident_fits_or_not(
    clients, reporter, responder, other_responder, monkeypatch, django_assert_max_num_queries
):
    """Up to DASHBOARD_LIMIT open incidents the page counts and picks from the rows it loaded;
    beyond, it asks the database. Both give the same answers."""
    from incidents import views

    incidents = [make_incident(by=reporter, severity=s) for s in ("critical", "high", "low", "low", "medium")]
    workflow.acknowledge(incidents[1], by=responder)
    workflow.take(incidents[3], by=responder)
    workflow.take(incidents[4], by=other_responder)
    workflow.mitigate(incidents[0], by=other_responder)
    RoleAssignment.objects.create(
        incident=incidents[2], role=ResponseRole.objects.get(slug="commander"), user=responder
    )
    done = make_incident(by=reporter)
    workflow.resolve(done, by=responder, summary="ok", confirmed=True)
    client = clients["responder"]

    def answers():
        context = client.get("/").context
        return (
            shown_refs(context["incidents"]),
            dict(context["counts"]),
            shown_refs(context["mine"]),
            [(i.ref, [a.role.slug for a in i.my_roles]) for i in context["my_roles"]],
        )

    client.get("/")
    # Two of them for the maintenance windows and silences in force.
    with django_assert_max_num_queries(14):
        all_in_hand = answers()
    monkeypatch.setattr(views, "DASHBOARD_LIMIT", 2)
    asked = answers()

    assert (
        all_in_hand[1] == asked[1] == {"total": 5, "unacknowledged": 3, "critical": 1, "high": 1, "medium": 1, "low": 2}
    )
    assert all_in_hand[2] == asked[2] == shown_refs([incidents[1], incidents[3]])
    assert all_in_hand[3] == asked[3] == [(incidents[2].ref, ["commander"])]
    assert len(all_in_hand[0]) == 5 and asked[0] == all_in_hand[0][:2]


def shown_refs(incidents) -> list[str]:
    return [i.ref for i in incidents]


def test_every_text_in_a_row_is_shown_as_text(clients, reporter, responder):
    # The rows are drawn in Python (incident_tags.dashboard_row): each value must be escaped there.
    evil = '<img src=x onerror="alert(1)">'
    service = ServiceFactory(name=f"Payments {evil}")
    incident = make_incident(by=reporter, service=service, title=f"Checkout {evil} & co")
    responder.first_name = f"Rob {evil}"
    responder.save()
    workflow.set_lead(incident, by=responder, lead=responder)
    workflow.restrict(incident, by=responder, reason="breach")  # managers see restricted ones
    html = clients["manager"].get("/").content.decode()
    row = html.split(f'data-ref="{incident.ref}"')[1].split("</tr>")[0]
    assert "<img" not in row and 'onerror="' not in row
    escaped = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    assert f"Checkout {escaped} &amp; co" in row
    assert f"Payments {escaped}" in row and f"lead Rob {escaped}" in row and ">Restricted<" in row
    assert row.count('name="csrfmiddlewaretoken"') == 2 and "Acknowledge" in row and "Take it" in row
