"""Outgoing webhooks against a real HTTP receiver on 127.0.0.1 (docs/webhooks-out.md): the signature
checked with the docs' own Python recipe, retries across an outage, one delivery per event id,
4xx handling, restricted incidents, the events a hook picked, the URL rules, the admin."""

import hashlib
import hmac
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils.timezone import now

from incidents import workflow
from incidents.models import ChannelProblem, Notification, Webhook
from incidents.models.webhooks import Event
from incidents.notifications import delivery, health, transports, webhooks
from incidents.tests.factories import make_incident
from incidents.tests.standins import WebhookReceiver

DOC = Path(__file__).resolve().parents[3] / "docs" / "webhooks-out.md"


def documented_verify():
    """The `verify` function exactly as docs/webhooks-out.md prints it (its Python block that defines it)."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    [code] = [block for block in blocks if "def verify(" in block]
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation, under test
    return namespace["verify"]


verify = documented_verify()


@pytest.fixture
def receiver():
    stand_in = WebhookReceiver().start()
    yield stand_in
    stand_in.stop()


def make_hook(url: str, events=None, **fields) -> tuple[Webhook, str]:
    hook = Webhook(name=fields.pop("name", "Receiver"), url=url, events=list(events or Event.values), **fields)
    secret = hook.set_new_secret()
    hook.full_clean()
    hook.save()
    return hook, secret


def rows(hook: Webhook, **filters):
    return Notification.objects.filter(channel="webhook", recipient=hook.destination, **filters).order_by("pk")


def deliver_all(hook: Webhook) -> list[str]:
    return [delivery.deliver(pk) for pk in rows(hook).values_list("pk", flat=True)]


def body_of(row: Notification) -> dict:
    return json.loads(row.body_text)


# --- the signature, the body, the headers --------------------------------------------------


def test_a_new_incident_is_posted_signed_and_the_documented_recipe_verifies_it(settings, receiver, reporter):
    settings.SITE_URL = "https://beacon.example.com"
    hook, secret = make_hook(receiver.url)
    incident = make_incident(by=reporter, severity="critical")
    [row] = rows(hook)
    assert delivery.deliver(row.pk) == "sent"
    [request] = receiver.requests
    assert request["path"] == "/hooks/beacon"
    headers, body = request["headers"], request["body"]
    assert verify(secret, body, headers["Beacon-Signature"])
    event = json.loads(body)
    assert headers["Beacon-Event-Id"] == event["id"] == str(row.subject.split()[1])
    assert headers["Beacon-Event-Type"] == event["type"] == "incident.created"
    assert headers["Content-Type"] == "application/json" and headers["Beacon-Delivery-Attempt"] == "1"
    assert event["incident"]["reference"] == incident.ref
    assert event["incident"]["title"] == "Checkout is down"
    assert event["incident"]["severity"] == "critical" and event["incident"]["status"] == "reported"
    assert event["incident"]["service"] == {"slug": incident.service.slug, "name": "Checkout"}
    assert event["incident"]["url"] == f"https://beacon.example.com/incidents/{incident.ref}/"
    assert event["occurred_at"] == incident.timeline.get().created_at.isoformat()
    # Never the description, impact or logs.
    assert "Card payments fail" not in body.decode() and "No customer can pay" not in body.decode()
    assert not {"description", "impact", "logs", "reporter", "lead"} & set(event["incident"])
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("sent", 1)


def test_the_body_is_utf_8_as_written_and_verifies_byte_for_byte(receiver, reporter):
    hook, secret = make_hook(receiver.url)
    make_incident(by=reporter, title="Café payments down — “ünïcode”")
    delivery.deliver(rows(hook).get().pk)
    [request] = receiver.requests
    assert "Café payments down — “ünïcode”".encode() in request["body"]  # UTF-8, not \u escapes
    assert verify(secret, request["body"], request["headers"]["Beacon-Signature"])


def test_the_documented_recipe_refuses_a_changed_body_a_wrong_secret_and_an_old_or_bad_header(receiver, reporter):
    hook, secret = make_hook(receiver.url)
    make_incident(by=reporter)
    delivery.deliver(rows(hook).get().pk)
    [request] = receiver.requests
    body, header = request["body"], request["headers"]["Beacon-Signature"]
    timestamp = int(re.match(r"t=(\d+),v1=[0-9a-f]{64}$", header).group(1))
    assert verify(secret, body, header, now=timestamp + 299)
    assert not verify(secret, body + b" ", header)
    assert not verify(secret, body.replace(b"Checkout", b"Checkoux"), header)
    assert not verify(secret + "x", body, header)
    assert not verify(secret, body, header, now=timestamp + 301)  # a replay, later
    assert not verify(secret, body, header, now=timestamp - 301)
    assert not verify(secret, body, header.replace("t=", "t=1"))  # the timestamp is signed too
    assert not verify(secret, body, "v1=" + header.split("v1=")[1])
    assert not verify(secret, body, "")
    assert not verify(secret, body, "t=abc,v1=00")


def test_the_signature_is_the_hmac_the_docs_describe():
    """HMAC-SHA256 keyed with the whole secret over `t + "." + body`, as hex."""
    body, stamp = b'{"id":"x"}', "1700000000"
    expected = hmac.new(b"whsec_test", b'1700000000.{"id":"x"}', hashlib.sha256).hexdigest()
    assert transports.signature("whsec_test", stamp, body) == expected
    assert verify("whsec_test", body, f"t={stamp},v1={expected}", now=1700000000)


# --- which events, to which hooks -------------------------------------------------------


def test_every_event_and_its_data(settings, receiver, reporter, responder, manager):
    from reviews import lifecycle
    from reviews.tests.factories import make_review

    settings.REVIEW_SELF_PUBLISH = False
    hook, _ = make_hook(receiver.url)
    incident = make_incident(by=reporter, severity="high")
    workflow.acknowledge(incident, by=responder)
    workflow.change_severity(incident, by=responder, severity="critical", reason="all regions")
    workflow.post_update(incident, by=responder, message="internal only words", public=False)
    workflow.post_update(incident, by=responder, message="We found the cause.", public=True, phase="Identified")
    workflow.resolve(incident, by=responder, summary="secret summary words", confirmed=True)
    review = make_review(responder=responder, manager=manager, state="published", incident=incident)
    lifecycle.set_public_summary(review, by=manager, text="A short public post-mortem.")  # no event of its own
    events = [body_of(row) for row in rows(hook)]
    assert [e["type"] for e in events] == [
        "incident.created",
        "incident.status_changed",
        "incident.severity_changed",
        "status_update.posted",
        "incident.status_changed",
        "incident.resolved",
        "review.published",
    ]
    assert events[0]["data"] == {} and events[5]["data"] == {}
    assert events[1]["data"] == {"old": "reported", "new": "acknowledged"}
    assert events[1]["incident"]["status"] == "acknowledged" and events[1]["incident"]["acknowledged_at"]
    assert events[2]["data"] == {"old": "high", "new": "critical"}
    assert events[2]["incident"]["severity"] == "critical"
    assert events[3]["data"]["message"] == "We found the cause." and events[3]["data"]["phase"] == "Identified"
    assert events[4]["data"] == {"old": "acknowledged", "new": "resolved"}
    assert events[5]["incident"]["status"] == "resolved" and events[5]["incident"]["resolved_at"]
    assert events[6]["data"]["review_id"] == review.pk
    assert events[6]["data"]["url"].endswith(f"/reviews/{incident.ref}/")
    everything = " ".join(row.body_text for row in rows(hook))
    assert "internal only words" not in everything and "secret summary words" not in everything
    assert "all regions" not in everything  # the severity change's reason is the team's
    # Each event its own id; a resolve is two events.
    assert len({e["id"] for e in events}) == len(events)
    assert all(delivery.deliver(pk) == "sent" for pk in rows(hook).values_list("pk", flat=True))
    assert [json.loads(r["body"])["type"] for r in receiver.requests] == [e["type"] for e in events]


def test_entries_read_back_from_the_database_are_the_same_events(settings, receiver, reporter, responder, manager):
    """The listener sees entries as written (enum members); read back, kinds and data are plain
    strings: the same events come out of both."""
    from reviews.tests.factories import make_review

    hook, _ = make_hook(receiver.url)
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)
    workflow.change_severity(incident, by=responder, severity="critical")
    workflow.post_update(incident, by=responder, message="Public words.", public=True)
    workflow.resolve(incident, by=responder, summary="done", confirmed=True)
    make_review(responder=responder, manager=manager, state="published", incident=incident)
    written = [(body_of(r)["type"], body_of(r)["data"]) for r in rows(hook)]
    assert len(written) == 7
    rows(hook).delete()
    for entry in incident.timeline.order_by("pk"):
        webhooks.queue_for_entry(entry)
    assert [(body_of(r)["type"], body_of(r)["data"]) for r in rows(hook)] == written


def test_a_hook_hears_only_the_events_it_picked(receiver, reporter, responder):
    status_only, _ = make_hook(receiver.url, events=[Event.STATUS_CHANGED], name="status")
    resolved_only, _ = make_hook(receiver.url, events=[Event.INCIDENT_RESOLVED], name="resolved")
    updates_only, _ = make_hook(receiver.url, events=[Event.STATUS_UPDATE_POSTED], name="updates")
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)
    workflow.change_severity(incident, by=responder, severity="low")
    workflow.resolve(incident, by=responder, summary="done", confirmed=True)
    assert [body_of(r)["data"]["new"] for r in rows(status_only)] == ["acknowledged", "resolved"]
    assert {body_of(r)["type"] for r in rows(status_only)} == {"incident.status_changed"}
    assert [body_of(r)["type"] for r in rows(resolved_only)] == ["incident.resolved"]
    assert not rows(updates_only).exists()


def test_a_hook_with_no_events_or_unknown_ones_is_refused(db, receiver):
    for events in ([], ["incident.deleted"], "incident.created", {"incident.created": True}):
        hook = Webhook(name="x", url=receiver.url, events=events)
        hook.set_new_secret()
        with pytest.raises(ValidationError) as refused:
            hook.full_clean()
        assert "events" in refused.value.message_dict


def test_a_disabled_hook_gets_nothing_new_and_its_waiting_deliveries_fail(receiver, reporter, responder):
    hook, _ = make_hook(receiver.url)
    incident = make_incident(by=reporter)
    hook.is_active = False
    hook.save()
    workflow.acknowledge(incident, by=responder)
    [row] = rows(hook)  # the report's only
    assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.permanent_error and "disabled" in row.last_error
    assert receiver.requests == []


def test_a_deleted_hooks_waiting_deliveries_fail(receiver, reporter):
    hook, _ = make_hook(receiver.url)
    make_incident(by=reporter)
    [row] = rows(hook)
    hook.delete()
    assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.permanent_error and "deleted" in row.last_error


def test_entries_that_are_no_event_cost_no_query(django_assert_num_queries, reporter, responder, receiver):
    make_hook(receiver.url)
    incident = make_incident(by=reporter)
    entry = workflow.add_note(incident, by=responder, text="looking")
    with django_assert_num_queries(0):
        webhooks.queue_for_entry(entry)


def test_the_rows_are_written_with_the_change_or_not_at_all(receiver, reporter, responder):
    """A change that rolls back leaves no delivery behind (the rows are in its transaction)."""
    from django.db import transaction

    hook, _ = make_hook(receiver.url)
    incident = make_incident(by=reporter)
    before = rows(hook).count()
    with pytest.raises(RuntimeError), transaction.atomic():
        workflow.acknowledge(incident, by=responder)
        assert rows(hook).count() == before + 1
        raise RuntimeError("the request failed after the change")
    assert rows(hook).count() == before


# --- retries, outages, exactly once -----------------------------------------------------


def test_an_outage_of_the_receiver_is_retried_with_backoff_and_delivered_when_it_is_back(receiver, reporter):
    hook, secret = make_hook(receiver.url)
    make_incident(by=reporter)
    [row] = rows(hook)
    receiver.stop()  # connection refused
    start = now()
    with time_machine.travel(start, tick=False) as clock:
        for attempt, minutes in enumerate([1, 5], start=1):
            assert delivery.deliver(row.pk) == "retry"
            row.refresh_from_db()
            assert (row.state, row.attempts) == ("pending", attempt)
            assert row.next_attempt_at == now() + timedelta(minutes=minutes)
            assert "refused" in row.last_error.lower()
            assert delivery.deliver(row.pk) == "skipped"  # not due yet
            clock.shift(timedelta(minutes=minutes))
        receiver.start()  # back, on the same port
        # The sweeper finds it due and hands it to its task (run at once by the tests' backend).
        assert delivery.sweep(now() + timedelta(minutes=1)) == 1
    row.refresh_from_db()
    assert (row.state, row.attempts, row.last_error) == ("sent", 3, "")
    [request] = receiver.requests
    assert request["headers"]["Beacon-Delivery-Attempt"] == "3"
    assert verify(secret, request["body"], request["headers"]["Beacon-Signature"], now=start.timestamp() + 360)
    assert delivery.deliver(row.pk) == "skipped"  # sent is final
    assert len(receiver.requests) == 1


def test_a_receiver_that_stays_down_fails_the_delivery_after_five_attempts(receiver, reporter):
    hook, _ = make_hook(receiver.url)
    make_incident(by=reporter)
    [row] = rows(hook)
    receiver.set_mode("500")
    with time_machine.travel(now(), tick=False) as clock:
        for minutes in [1, 5, 15, 60]:
            assert delivery.deliver(row.pk) == "retry"
            clock.shift(timedelta(minutes=minutes))
        assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert (row.state, row.permanent_error, row.attempts) == ("failed", False, 5)
    assert "HTTP 500" in row.last_error
    assert not ChannelProblem.objects.exists()  # a failing receiver is not a gone one


def test_the_event_id_and_body_are_the_same_in_every_retry_the_signature_fresh(receiver, reporter):
    hook, secret = make_hook(receiver.url)
    make_incident(by=reporter)
    [row] = rows(hook)
    receiver.modes.extend(["503", "500"])
    start = now()
    with time_machine.travel(start, tick=False) as clock:
        assert delivery.deliver(row.pk) == "retry"
        row.refresh_from_db()
        assert row.next_attempt_at == start + timedelta(minutes=2)  # 503's Retry-After: 120 beats 1 minute
        clock.shift(timedelta(minutes=2))
        assert delivery.deliver(row.pk) == "retry"
        clock.shift(timedelta(minutes=5))
        assert delivery.deliver(row.pk) == "sent"
    first, second, third = receiver.requests
    assert first["body"] == second["body"] == third["body"]
    ids = {r["headers"]["Beacon-Event-Id"] for r in receiver.requests}
    assert ids == {body_of(row)["id"]}
    stamps = [r["headers"]["Beacon-Signature"].split(",")[0] for r in receiver.requests]
    assert len(set(stamps)) == 3  # signed at each attempt
    assert verify(secret, third["body"], third["headers"]["Beacon-Signature"], now=start.timestamp() + 420)


def test_a_timeout_after_the_receiver_got_it_repeats_the_same_event_id(receiver, reporter, monkeypatch):
    """The only duplicate: the receiver stored it but its answer came too late. The id lets it dedupe."""
    monkeypatch.setattr(transports, "HTTP_TIMEOUT", 0.3)
    hook, _ = make_hook(receiver.url)
    make_incident(by=reporter)
    [row] = rows(hook)
    receiver.modes.append("sleep:1")
    with time_machine.travel(now(), tick=False) as clock:
        assert delivery.deliver(row.pk) == "retry"
        row.refresh_from_db()
        assert "timed out" in row.last_error.lower()
        clock.shift(timedelta(minutes=1))
        assert delivery.deliver(row.pk) == "sent"
    assert [r["headers"]["Beacon-Event-Id"] for r in receiver.requests] == [body_of(row)["id"]] * 2


def test_each_event_reaches_each_hook_once(receiver, reporter, responder):
    first, _ = make_hook(receiver.url, name="first")
    second, _ = make_hook(receiver.url, name="second")
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)
    workflow.mitigate(incident, by=responder)
    for hook in (first, second):
        assert deliver_all(hook) == ["sent"] * 3
        assert deliver_all(hook) == ["skipped"] * 3  # a second task for a sent row sends nothing
    delivery.sweep(now() + timedelta(hours=1))
    seen = [(r["headers"]["Beacon-Event-Id"], r["headers"]["Beacon-Signature"]) for r in receiver.requests]
    assert len(seen) == 6
    ids = [event_id for event_id, _ in seen]
    # Three events, each heard once by each hook, under the same id.
    assert len(set(ids)) == 3 and all(ids.count(i) == 2 for i in ids)
    assert [body_of(r)["id"] for r in rows(first)] == [body_of(r)["id"] for r in rows(second)]


def test_writing_an_event_twice_adds_no_second_delivery(receiver, reporter):
    hook, _ = make_hook(receiver.url)
    incident = make_incident(by=reporter)
    entry = incident.timeline.get()
    [row] = rows(hook)
    webhooks.queue_for_entry(entry)  # the same entry again (a repeat): (event, channel, recipient) is unique
    assert list(rows(hook)) == [row]
    assert body_of(rows(hook).get())["id"] == body_of(row)["id"]


# --- answers that are not 2xx --------------------------------------------------------------


@pytest.mark.parametrize("status", ["400", "413", "422"])
def test_a_refused_message_fails_at_once_without_breaking_the_hook(receiver, reporter, status):
    hook, _ = make_hook(receiver.url)
    make_incident(by=reporter)
    [row] = rows(hook)
    receiver.set_mode(status)
    assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert (row.state, row.permanent_error, row.attempts) == ("failed", True, 1)
    assert f"HTTP {status} answer {status}" in row.last_error
    assert not ChannelProblem.objects.exists()


@pytest.mark.parametrize("status", ["401", "403", "404", "410"])
def test_a_gone_or_refusing_receiver_fails_at_once_and_marks_the_hook_broken(receiver, reporter, manager, status):
    hook, _ = make_hook(receiver.url, name="Ticket system")
    make_incident(by=reporter)
    [row] = rows(hook)
    receiver.set_mode(status)
    assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert (row.state, row.permanent_error) == ("failed", True)
    [problem] = ChannelProblem.objects.all()
    assert (problem.channel, problem.destination) == ("webhook", hook.destination)
    assert problem.label == "Outgoing webhook: Ticket system"
    assert health.banner_context(manager)["channel_problems"] == [problem]
    # The next delivery that gets through clears it.
    receiver.set_mode("200")
    assert delivery.retry_now(Notification.objects.filter(pk=row.pk)) == 1  # its task runs at once here
    row.refresh_from_db()
    assert row.state == "sent"
    assert not ChannelProblem.objects.exists()
    first, again = receiver.requests
    assert first["headers"]["Beacon-Event-Id"] == again["headers"]["Beacon-Event-Id"]


def test_managers_see_a_broken_hook_on_the_dashboard_and_are_emailed_once(receiver, reporter, manager, clients):
    hook, _ = make_hook(receiver.url, name="Ticket system")
    make_incident(by=reporter)
    receiver.set_mode("410")
    delivery.deliver(rows(hook).get().pk)
    page = clients["manager"].get("/").content.decode()
    assert "Outgoing webhook: Ticket system" in page and "/admin/incidents/webhook/" in page
    assert "Outgoing webhook" not in clients["responder"].get("/").content.decode()
    assert health.tell_managers() == 1
    (message,) = Notification.objects.filter(event_key__startswith="channel-broken:")
    assert message.subject == "Beacon cannot deliver: Outgoing webhook: Ticket system"
    assert f"/admin/incidents/webhook/{hook.pk}/change/" in message.body_text and "SLACK" not in message.body_text


def test_a_redirect_is_not_followed(receiver, reporter):
    hook, _ = make_hook(receiver.url)
    make_incident(by=reporter)
    [row] = rows(hook)
    receiver.set_mode("301")
    assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.permanent_error and "redirects are not followed" in row.last_error
    assert [r["path"] for r in receiver.requests] == ["/hooks/beacon"]  # never /elsewhere
    assert ChannelProblem.objects.filter(destination=hook.destination).exists()


def test_429_waits_for_retry_after(receiver, reporter):
    hook, _ = make_hook(receiver.url)
    make_incident(by=reporter)
    [row] = rows(hook)
    receiver.set_mode("429")
    with time_machine.travel(now(), tick=False):
        assert delivery.deliver(row.pk) == "retry"
        row.refresh_from_db()
        assert row.next_attempt_at == now() + timedelta(seconds=120)


# --- restricted incidents --------------------------------------------------------------


SECRET_TITLE = "Payroll export leaked"


def test_a_restricted_incident_reaches_only_hooks_allowed_to_see_it(receiver, reporter, responder, manager):
    allowed, allowed_secret = make_hook(receiver.url, name="security", include_restricted=True)
    other, other_secret = make_hook(receiver.url, name="chat")
    incident = make_incident(by=reporter, title=SECRET_TITLE, restricted=True)
    workflow.acknowledge(incident, by=manager)
    workflow.post_update(incident, by=manager, message="Payroll words", public=True)
    workflow.resolve(incident, by=manager, summary="fixed", confirmed=True)
    assert [body_of(r)["type"] for r in rows(allowed)] == [
        "incident.created",
        "incident.status_changed",
        "status_update.posted",
        "incident.status_changed",
        "incident.resolved",
    ]
    assert body_of(rows(allowed).first())["incident"]["title"] == SECRET_TITLE
    # The other hook: that it was opened, the reference and severity, nothing later.
    [created] = rows(other)
    assert body_of(created)["incident"] == {
        "id": incident.pk,
        "reference": incident.ref,
        "severity": "high",
        "restricted": True,
        "url": f"http://127.0.0.1:8000/incidents/{incident.ref}/",
    }
    assert body_of(created)["id"] == body_of(rows(allowed).first())["id"]  # one event, one id
    deliver_all(allowed)
    deliver_all(other)
    to_other = [r for r in receiver.requests if verify(other_secret, r["body"], r["headers"]["Beacon-Signature"])]
    to_allowed = [r for r in receiver.requests if verify(allowed_secret, r["body"], r["headers"]["Beacon-Signature"])]
    assert (len(to_other), len(to_allowed)) == (1, 5)
    assert all(SECRET_TITLE.encode() not in r["body"] and b"Payroll" not in r["body"] for r in to_other)
    assert SECRET_TITLE.encode() in to_allowed[0]["body"]


def test_an_incident_restricted_later_stops_reaching_hooks_not_allowed_and_lifting_it_resumes(
    receiver, reporter, responder, manager
):
    allowed, _ = make_hook(receiver.url, name="security", include_restricted=True)
    other, _ = make_hook(receiver.url, name="chat")
    incident = make_incident(by=reporter, title=SECRET_TITLE)
    workflow.restrict(incident, by=manager, reason="personal data")
    workflow.acknowledge(incident, by=manager)
    workflow.change_severity(incident, by=manager, severity="critical")
    assert [body_of(r)["type"] for r in rows(other)] == ["incident.created"]  # before the restriction
    assert len(rows(allowed)) == 3
    workflow.lift_restriction(incident, by=manager, reason="no personal data after all")
    workflow.mitigate(incident, by=manager)
    last = body_of(rows(other).last())
    assert last["type"] == "incident.status_changed" and last["incident"]["title"] == SECRET_TITLE


# --- the URL ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, says",
    [
        ("ftp://example.com/hook", "only http"),
        ("file:///etc/passwd", "only http"),
        ("http:///no-host", "no host"),
        ("https://user:pw@93.184.216.34/hook", "no user name"),
        ("https://token@93.184.216.34/hook", "no user name"),
        ("https://93.184.216.34:99999/hook", "not a valid URL"),
    ],
)
def test_only_http_urls_with_a_host_are_accepted(url, says):
    refusal = Webhook(name="x", url=url, events=["incident.created"])
    refusal.set_new_secret()
    with pytest.raises(ValidationError) as refused:
        refusal.clean_fields()
    assert says in " ".join(refused.value.message_dict["url"])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.20.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
    ],
)
def test_inner_addresses_are_refused_unless_allowed(settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    hook = Webhook(name="x", url=url, events=["incident.created"])
    hook.set_new_secret()
    with pytest.raises(ValidationError) as refused:
        hook.clean_fields()
    assert "WEBHOOKS_ALLOW_PRIVATE" in " ".join(refused.value.message_dict["url"])
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    hook.clean_fields()


def test_a_public_address_is_accepted(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    hook = Webhook(name="x", url="https://93.184.216.34/hooks/beacon", events=["incident.created"])
    hook.set_new_secret()
    hook.clean_fields()  # an address literal: no name to look up, no traffic


def test_a_url_that_became_inner_fails_at_delivery_and_marks_the_hook_broken(settings, receiver, reporter):
    hook, _ = make_hook(receiver.url)
    make_incident(by=reporter)
    [row] = rows(hook)
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.permanent_error and "refused URL" in row.last_error
    assert receiver.requests == []
    assert ChannelProblem.objects.filter(destination=hook.destination).exists()


def test_the_address_connected_to_is_checked_too(settings, receiver, reporter, monkeypatch):
    """A name that resolved to a public address when checked and to an inner one when connecting
    (DNS rebinding) is stopped at the connection, before anything is sent."""
    hook, _ = make_hook(receiver.url)
    make_incident(by=reporter)
    [row] = rows(hook)
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    monkeypatch.setattr(transports, "url_refusal", lambda url: None)  # the check before saw a public address
    assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.permanent_error and "refused address" in row.last_error and "127.0.0.1" in row.last_error
    assert receiver.requests == []


# --- the secret and the admin ---------------------------------------------------------------


def test_the_secret_is_not_in_repr_or_str(db, receiver):
    hook, secret = make_hook(receiver.url)
    assert secret.startswith("whsec_") and len(secret) > 40
    assert secret not in repr(hook) and secret not in str(hook)
    assert hook.secret_hint == secret[:12]


def test_a_manager_adds_a_hook_in_the_admin_and_sees_its_secret_once(clients, receiver):
    client = clients["manager"]
    response = client.post(
        "/admin/incidents/webhook/add/",
        {
            "name": "Ticket system",
            "url": receiver.url,
            "events": ["incident.created", "incident.resolved"],
            "is_active": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    hook = Webhook.objects.get()
    assert hook.events == ["incident.created", "incident.resolved"] and not hook.include_restricted
    page = response.content.decode()
    assert hook.secret in page and "shown only this once" in page
    for url in ("/admin/incidents/webhook/", f"/admin/incidents/webhook/{hook.pk}/change/"):
        again = client.get(url).content.decode()
        assert hook.secret not in again and hook.secret_hint in again
    from auditlog.models import LogEntry

    logged = " ".join(json.dumps(e.changes) for e in LogEntry.objects.all())
    assert "Ticket system" in logged and hook.secret not in logged


def test_rotating_shows_the_new_secret_once_and_the_old_one_stops_signing(clients, receiver, reporter):
    hook, old = make_hook(receiver.url)
    response = clients["manager"].post(
        "/admin/incidents/webhook/",
        {"action": "rotate_secret", "_selected_action": [hook.pk]},
        follow=True,
    )
    hook.refresh_from_db()
    assert hook.secret != old and hook.secret in response.content.decode()
    make_incident(by=reporter)
    delivery.deliver(rows(hook).get().pk)
    [request] = receiver.requests
    assert verify(hook.secret, request["body"], request["headers"]["Beacon-Signature"])
    assert not verify(old, request["body"], request["headers"]["Beacon-Signature"])


@pytest.mark.parametrize(
    "change, error",
    [
        ({"url": "ftp://example.com/"}, "only http"),
        ({"events": []}, "This field is required"),
        ({"events": ["incident.deleted"]}, "Select a valid choice"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_the_admin_form_refuses_bad_input_and_saves_nothing(clients, receiver, change, error):
    data = {"name": "x", "url": receiver.url, "events": ["incident.created"], "is_active": "on", **change}
    response = clients["manager"].post("/admin/incidents/webhook/add/", data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Webhook.objects.exists()


def test_only_managers_reach_the_webhook_admin(clients, receiver):
    hook, _ = make_hook(receiver.url)
    for role in ("reporter", "responder", "viewer", "nobody"):
        for url in (
            "/admin/incidents/webhook/",
            "/admin/incidents/webhook/add/",
            f"/admin/incidents/webhook/{hook.pk}/change/",
        ):
            assert clients[role].get(url).status_code == 403, (role, url)
    assert clients["manager"].get(f"/admin/incidents/webhook/{hook.pk}/change/").status_code == 200


def test_failed_deliveries_are_listed_in_the_admin_and_can_be_retried(clients, receiver, reporter):
    hook, _ = make_hook(receiver.url)
    make_incident(by=reporter)
    [row] = rows(hook)
    receiver.set_mode("422")
    delivery.deliver(row.pk)
    page = (
        clients["manager"]
        .get(
            "/admin/incidents/notification/",
            {"channel__exact": "webhook", "recipient": hook.destination, "state__exact": "failed"},
        )
        .content.decode()
    )
    assert "HTTP 422" in page and hook.destination in page
    change = clients["manager"].get(f"/admin/incidents/webhook/{hook.pk}/change/").content.decode()
    assert "state__exact=failed" in change
    receiver.set_mode("200")
    clients["manager"].post("/admin/incidents/notification/", {"action": "retry_now", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.state == "sent"  # the tests' task backend runs the task at once
    assert len({r["headers"]["Beacon-Event-Id"] for r in receiver.requests}) == 1
