import pytest

from incidents import workflow
from incidents.models import TimelineEntry
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
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 5


def test_detail_runs_a_fixed_number_of_queries(clients, reporter, responder, django_assert_max_num_queries):
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)
    TimelineEntry.objects.bulk_create(
        TimelineEntry(incident=incident, author=responder if i % 2 else reporter, kind="note", text=f"note {i}")
        for i in range(200)
    )
    client = clients["responder"]
    client.get(f"/incidents/{incident.ref}/")
    # Session, user, permissions, the incident, its timeline, and each panel (updates, ledger, review, …).
    with django_assert_max_num_queries(18):
        response = client.get(f"/incidents/{incident.ref}/")
    assert response.content.decode().count('class="timeline-entry') == 202


@pytest.mark.parametrize("role, sees_actions", [("viewer", False), ("reporter", False), ("responder", True)])
def test_action_buttons_follow_the_role(clients, reporter, role, sees_actions):
    incident = make_incident(by=reporter)
    html = clients[role].get(f"/incidents/{incident.ref}/").content.decode()
    assert (">Acknowledge</button>" in html) is sees_actions
    assert (">Resolve…</summary>" in html) is sees_actions
