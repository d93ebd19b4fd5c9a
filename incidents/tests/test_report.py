from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from conftest import make_user
from incidents.models import Incident, Subscription, TimelineEntry
from incidents.tests.factories import ServiceFactory, make_incident

URL = "/incidents/new/"


@pytest.fixture
def service(db):
    return ServiceFactory(name="Checkout")


def valid(svc, **overrides):
    data = {
        "type": "downtime",
        "title": "Checkout returns 500",
        "description": "Card payments fail.",
        "occurred_at": (timezone.localtime() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "impact": "Nobody can pay.",
        "logs": 'Traceback (most recent call last):\n  File "pay.py", line 1\n<b>not bold</b>',
        "service": svc.pk,
        "severity": "critical",
    }
    data.update(overrides)
    return data


def test_it_shows_the_form_with_severity_definitions(clients, service):
    response = clients["reporter"].get(URL + "?type=downtime")
    html = response.content.decode()
    assert response.status_code == 200
    for name in ["type", "title", "description", "occurred_at", "impact", "logs", "service", "severity"]:
        assert f'name="{name}"' in html
    assert "Major impact on users, needs immediate attention." in html
    assert "Minimal impact, can wait for a future release." in html


def test_it_reports_and_lands_on_the_incident(clients, service, reporter):
    response = clients["reporter"].post(URL, valid(service), follow=True)
    incident = Incident.objects.get()
    assert response.redirect_chain == [(f"/incidents/INC-{incident.pk}/", 302)]
    html = response.content.decode()
    assert f"<title>INC-{incident.pk} · Checkout returns 500" in html
    assert f"INC-{incident.pk} reported" in html
    assert incident.reporter == reporter
    assert incident.status == Incident.Status.REPORTED
    assert incident.source == Incident.Source.WEB
    assert incident.logs.endswith("<b>not bold</b>")  # verbatim
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html  # shown as text
    assert list(incident.timeline.values_list("kind", flat=True)) == [TimelineEntry.Kind.REPORTED]


def test_occurred_at_is_read_in_the_site_time_zone_and_stored_in_utc(clients, service, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    clients["reporter"].post(URL, valid(service, occurred_at="2026-01-15T10:30"))
    stored = Incident.objects.get().occurred_at
    assert stored.utcoffset() == timedelta(0)
    assert (stored.hour, stored.minute) == (9, 30)


def test_occurred_at_is_read_in_the_users_own_time_zone(clients, service, reporter):
    from incidents.models import Profile

    Profile.objects.create(user=reporter, time_zone="America/New_York")
    clients["reporter"].post(URL, valid(service, occurred_at="2026-01-15T10:30"))
    assert Incident.objects.get().occurred_at.hour == 15


def test_occurred_at_defaults_to_now(clients, service):
    html = clients["reporter"].get(URL + "?type=downtime").content.decode()
    now_local = timezone.localtime().strftime("%Y-%m-%dT%H:")
    assert f'value="{now_local}' in html


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("title", "", "This field is required."),
        ("title", "   ", "This field is required."),
        ("title", "x" * 201, "at most 200 characters"),
        ("description", "", "This field is required."),
        ("impact", "", "This field is required."),
        ("occurred_at", "yesterday-ish", "Enter a date and time like"),
        ("occurred_at", "2999-01-01T10:00", "cannot lie in the future"),
        ("severity", "apocalyptic", "Choose one of critical, high, medium or low."),
        ("severity", "", "This field is required."),
        ("service", "999999", "Choose one of the listed services."),
        ("service", "not-a-number", "Choose one of the listed services."),
        ("type", "", "Choose the type of incident."),
        ("type", "earthquake", "Choose one of the listed incident types."),
        ("title", "nul\x00byte", "Null characters are not allowed."),
    ],
)
def test_bad_input_is_refused_beside_the_field(clients, service, field, value, message):
    response = clients["reporter"].post(URL, valid(service, **{field: value}))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert f'id="error_1_id_{field}"' in response.content.decode()  # beside that field
    assert Incident.objects.count() == 0
    assert TimelineEntry.objects.count() == 0


def test_viewer_may_not_report(clients, service):
    assert clients["viewer"].post(URL, valid(service)).status_code == 403
    assert Incident.objects.count() == 0


def test_references_are_unique_and_immediate(clients, service):
    for _ in range(3):
        clients["reporter"].post(URL, valid(service))
    refs = [i.ref for i in Incident.objects.all()]
    assert len(set(refs)) == 3
    assert all(ref.startswith("INC-") for ref in refs)


def test_the_type_comes_first_and_works_without_javascript(clients, service):
    first = clients["reporter"].get(URL)
    html = first.content.decode()
    assert first.status_code == 200
    assert 'name="title"' not in html  # not yet: the type first
    assert '<form method="get"' in html
    for slug in ["downtime", "performance", "security"]:
        assert f'value="{slug}"' in html
    unknown = clients["reporter"].get(URL + "?type=earthquake")
    assert unknown.status_code == 404
    assert "There is no incident type “earthquake”" in unknown.content.decode()


def test_the_chosen_type_presets_its_severity_and_restriction(clients, service):
    html = clients["reporter"].get(URL + "?type=security").content.decode()
    assert 'value="security" class="form-check-input" id="id_type_2" checked' in html or (
        'value="security"' in html and "checked" in html.split('value="security"')[1].split(">")[0]
    )
    assert "checked" in html.split('name="severity" value="high"')[1].split(">")[0]
    assert "checked" in html.split('name="restricted"')[1].split(">")[0]


def test_a_security_incident_is_restricted_whatever_the_box_says(clients, service, reporter):
    clients["reporter"].post(URL, valid(service, type="security"))
    incident = Incident.objects.get()
    assert incident.type.slug == "security"
    assert incident.restricted
    entry = incident.timeline.get()
    assert entry.data["type"] == "Security incident" and entry.data["restricted"] is True


def test_any_incident_may_be_restricted_when_reported(clients, service):
    clients["reporter"].post(URL, valid(service, restricted="on"))
    incident = Incident.objects.get()
    assert incident.type.slug == "downtime" and incident.restricted


def test_the_reporter_follows_their_report_hears_public_updates_and_can_stop(clients, service, reporter, responder):
    from incidents import workflow
    from incidents.models import Notification, Subscription

    clients["reporter"].post(URL, valid(service))
    incident = Incident.objects.get()
    assert Subscription.objects.filter(user=reporter, incident=incident).exists()
    assert incident.timeline.get(kind="reported").data["reporter_follows"] is True
    body = clients["reporter"].get(f"/incidents/{incident.ref}/").content.decode()
    assert f'action="/incidents/{incident.ref}/unfollow/"' in body
    workflow.post_update(incident, by=responder, message="We are on it.", public=True)
    workflow.post_update(incident, by=responder, message="Internal detail.", public=False)
    told = Notification.objects.filter(channel="email", recipient=reporter.email)
    assert [n.entry.text for n in told] == ["We are on it."]  # public updates, not internal ones
    clients["reporter"].post(f"/incidents/{incident.ref}/unfollow/")
    workflow.post_update(incident, by=responder, message="Fixed.", public=True)
    assert told.count() == 1


def test_an_incident_opened_by_beacon_itself_has_no_reporter_to_follow(service):
    from incidents import workflow
    from incidents.models import Subscription

    incident = workflow.report(
        by=None,
        title="Alert",
        description="d",
        impact="i",
        occurred_at=timezone.now(),
        severity="high",
        service=service,
    )
    assert not Subscription.objects.exists()
    assert "reporter_follows" not in incident.timeline.get().data


def test_a_reporter_who_asks_not_to_follow_their_report_does_not(service, reporter):
    incident = make_incident(by=reporter, service=service, follow=False)
    assert not Subscription.objects.exists()
    assert "reporter_follows" not in incident.timeline.get().data


def test_someone_who_may_report_but_not_follow_is_not_made_to_follow(service):
    outsider = make_user("otto")
    outsider.user_permissions.add(Permission.objects.get(codename="add_incident"))
    outsider = type(outsider).objects.get(pk=outsider.pk)  # permissions read afresh
    incident = make_incident(by=outsider, service=service, follow=True)
    assert incident.reporter == outsider
    assert not Subscription.objects.exists()
    assert "reporter_follows" not in incident.timeline.get().data


def test_a_report_asked_public_is_public_unless_it_is_restricted(service, reporter):
    assert make_incident(by=reporter, service=service, public=True).public is True
    assert make_incident(by=reporter, service=service, public=True, restricted=True).public is False
    assert make_incident(by=reporter, service=service).public is False
