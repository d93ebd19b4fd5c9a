"""Paging channels through Apprise, delivered to real HTTP receivers on 127.0.0.1: an
ntfy-compatible one (ntfy:// is plain HTTP) and a json:// one. Outages and recovery, exactly once,
4xx permanent (429 not), the acknowledge link on the phone, per-user rules with delays, delayed
pages dropped by an acknowledgement, quiet hours, bad URLs, and each person editing only their own.
No test reaches past loopback: every channel URL names 127.0.0.1.
"""

import datetime as dt
import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import time_machine
from auditlog.models import LogEntry
from django.core.management import call_command
from django.db import transaction
from django.utils.timezone import now

from incidents import workflow
from incidents.models import Incident, Notification, NotificationRule, PagingChannel, Profile, QuietHours
from incidents.notifications import delivery, outbox, rules
from incidents.notifications.channel_views import queue_test_message
from incidents.oncall import paging
from incidents.tests.factories import make_incident
from incidents.tests.standins import wait_for_port

SECRET_TOPIC = "beacon-s3cret-topic-4f9a"


class _NtfyHandler(BaseHTTPRequestHandler):
    """Answers as ntfy.sh does: a JSON message on success, a JSON error with ntfy's own code
    (HTTP status × 100 + n, e.g. 40301) otherwise."""

    def do_POST(self):  # noqa: N802 - http.server's API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        with server.lock:
            server.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
            mode = server.modes.pop(0) if server.modes else server.mode
        status = int(mode)
        if status == 200:
            answer = {"id": f"m{len(server.requests)}", "event": "message", "topic": SECRET_TOPIC}
        else:
            answer = {"code": status * 100 + 1, "http": status, "error": "refused by the stand-in"}
        text = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args):
        pass


class PushReceiver:
    """An ntfy-compatible (and json://-compatible: it takes any POST) receiver on 127.0.0.1, on a
    port the system picks and keeps across stop()/start(). `mode` is the HTTP status it answers."""

    def __init__(self):
        self.port, self.requests, self.mode, self.modes = 0, [], "200", []
        self.server = self.thread = None

    def start(self) -> "PushReceiver":
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _NtfyHandler)
        server.requests, server.lock, server.mode, server.modes = self.requests, threading.Lock(), self.mode, self.modes
        self.server, self.port = server, server.server_address[1]
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def set_mode(self, mode: str) -> None:
        self.mode = self.server.mode = mode

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(5)
        self.server = self.thread = None
        wait_for_port(self.port, up=False)

    def messages(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver():
    stand_in = PushReceiver().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def ntfy(receiver, responder) -> PagingChannel:
    return PagingChannel.objects.create(
        user=responder, label="ntfy on my phone", url=f"ntfy://127.0.0.1:{receiver.port}/{SECRET_TOPIC}"
    )


def rows(**filters):
    return Notification.objects.filter(channel="apprise", **filters).order_by("pk")


def page(incident, user) -> outbox.TimelineEntry:
    return paging.page(Incident.objects.get(pk=incident.pk), user, step=0, reason="on call")


def rule(user, target, *, after=0, severities=("critical", "high", "medium", "low"), channel=None, order=0):
    return NotificationRule.objects.create(
        user=user, target=target, channel=channel, delay_minutes=after, severities=list(severities), order=order
    )


# --- delivery ---------------------------------------------------------------------------


def test_a_page_reaches_the_ntfy_receiver_with_the_acknowledge_link_that_works(
    receiver, ntfy, reporter, responder, client
):
    incident = make_incident(by=reporter, title="Checkout is down")
    entry = page(incident, responder)
    row = rows(entry=entry).get()
    assert delivery.deliver(row.pk) == "sent"
    [request] = receiver.requests
    message = json.loads(request["body"])
    # ntfy's JSON publishing (POST / with the topic in the body): title, text, and the links.
    assert message["topic"] == SECRET_TOPIC and message["title"].startswith(f"You are paged: {incident.ref} [High]")
    acknowledge = re.search(r"^Acknowledge: (\S+)$", message["message"], re.M).group(1)
    # Tapping the notification opens the incident; its Acknowledge button opens the link.
    assert request["headers"]["X-Click"].endswith(f"/incidents/{incident.ref}/")
    assert request["headers"]["X-Actions"] == f"view, Acknowledge, {acknowledge}"
    assert client.post(urlsplit(acknowledge).path).status_code == 200
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    ntfy.refresh_from_db()
    assert ntfy.verified_at is not None


def test_the_receiver_down_is_retried_and_the_page_arrives_once_when_it_is_back(receiver, ntfy, reporter, responder):
    rule(responder, "apprise", channel=ntfy)
    incident = make_incident(by=reporter)
    row = rows(entry=page(incident, responder)).get()
    receiver.stop()
    with time_machine.travel(now(), tick=False) as clock:
        assert delivery.deliver(row.pk) == "retry"
        row.refresh_from_db()
        assert row.state == "pending"
        assert row.last_error == "ntfy:// could not be reached (no answer, or the connection failed)."
        assert delivery.deliver(row.pk) == "skipped"  # not due before its backoff
        receiver.start()
        clock.shift(delivery.BACKOFF[0] + delivery.SWEEP_GRACE + dt.timedelta(seconds=1))
        delivery.sweep()  # the ImmediateBackend delivers it here
        row.refresh_from_db()
        assert row.state == "sent"
        clock.shift(delivery.LEASE * 2)
        delivery.sweep()
        assert delivery.deliver(row.pk) == "skipped"
    row.refresh_from_db()
    assert row.state == "sent" and row.attempts == 2
    assert len(receiver.requests) == 1


def test_a_4xx_is_permanent_but_429_and_5xx_are_retried(receiver, ntfy, reporter, responder):
    incident = make_incident(by=reporter)
    row = rows(entry=page(incident, responder)).get()
    receiver.modes.extend(["429", "500"])
    with time_machine.travel(now(), tick=False) as clock:
        assert delivery.deliver(row.pk) == "retry"
        clock.shift(dt.timedelta(minutes=2))
        assert delivery.deliver(row.pk) == "retry"
        row.refresh_from_db()
        assert row.last_error == "ntfy:// answered HTTP 500."
        receiver.set_mode("403")  # ntfy answers {"code": 40301, ...}: the topic is not ours
        clock.shift(dt.timedelta(minutes=6))
        assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.state == "failed" and row.permanent_error and row.last_error == "ntfy:// answered HTTP 403."


def test_a_second_apprise_scheme_json_delivers_and_refuses_alike(receiver, reporter, responder):
    hook = PagingChannel.objects.create(user=responder, label="json", url=f"json://127.0.0.1:{receiver.port}/pager")
    incident = make_incident(by=reporter, severity="critical")
    row = rows(entry=page(incident, responder)).get()
    assert delivery.deliver(row.pk) == "sent"
    [request] = receiver.requests
    assert request["path"] == "/pager"
    body = json.loads(request["body"])
    assert body["title"].startswith(f"You are paged: {incident.ref} [Critical]") and "Acknowledge: " in body["message"]
    receiver.set_mode("400")
    assert queue_test_message(hook)
    test_row = rows(reason="test").get()
    assert delivery.deliver(test_row.pk) == "failed"
    test_row.refresh_from_db()
    assert test_row.permanent_error and test_row.last_error == "json:// answered HTTP 400."


def test_a_channel_removed_before_its_message_went_out_fails_for_good(ntfy, reporter, responder):
    row = rows(entry=page(make_incident(by=reporter), responder)).get()
    ntfy.delete()
    assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.permanent_error and "removed" in row.last_error


class Collector(logging.Handler):
    """What Beacon's own handlers (on the root logger: settings.LOGGING) would write."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def logged():
    root, collector = logging.getLogger(), Collector()
    level = root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    yield collector
    root.removeHandler(collector)
    root.setLevel(level)


def test_the_secret_url_is_never_logged_stored_elsewhere_or_shown(receiver, ntfy, reporter, responder, logged, clients):
    receiver.stop()
    incident = make_incident(by=reporter)
    row = rows(entry=page(incident, responder)).get()
    assert delivery.deliver(row.pk) == "retry"
    receiver.start()
    receiver.set_mode("400")
    Notification.objects.filter(pk=row.pk).update(next_attempt_at=now())
    assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.recipient == f"apprise:{ntfy.pk}"
    text = "\n".join(logged.lines)
    assert f"Notification {row.pk} failed (permanent)" in text  # Beacon's own lines do reach the log
    assert SECRET_TOPIC not in text and str(receiver.port) not in text  # Apprise's (with the URL) do not
    assert SECRET_TOPIC not in row.last_error + row.body_text + row.subject
    page_html = clients["responder"].get("/accounts/profile/paging/").content.decode()
    assert "ntfy://…" in page_html and SECRET_TOPIC not in page_html
    assert SECRET_TOPIC not in clients["responder"].get(f"/incidents/{incident.ref}/").content.decode()
    # The audit log records the channel with its URL masked.
    clients["responder"].post("/accounts/profile/paging/channels/", {"label": "phone 2", "url": ntfy.url + "x"})
    assert LogEntry.objects.filter(object_repr__startswith="phone 2").exists()
    assert SECRET_TOPIC not in " ".join(str(e.changes) for e in LogEntry.objects.all())


# --- the plan: rules, delays, quiet hours -------------------------------------------------


def test_without_rules_every_way_at_once(ntfy, responder):
    Profile.objects.create(user=responder, slack_member_id="U024BE7LH")
    plan = rules.page_plan(responder, severity="low")
    assert [(p.channel, p.after) for p in plan] == [("email", dt.timedelta(0)), ("slack", dt.timedelta(0)),
                                                    ("apprise", dt.timedelta(0))]  # fmt: skip
    assert plan[2].label == "ntfy on my phone" and plan[2].recipient == f"apprise:{ntfy.pk}"


def test_rules_give_order_delays_and_severities_and_skip_what_cannot_work(ntfy, responder):
    rule(responder, "apprise", channel=ntfy, severities=["critical", "high"])
    rule(responder, "email", after=2, order=1)
    rule(responder, "slack", after=5, order=2)  # no Slack member ID: left out
    rule(responder, "email", after=10, order=3)  # the same channel again: the first rule wins
    assert [(p.label, p.after) for p in rules.page_plan(responder, severity="critical")] == [
        ("ntfy on my phone", dt.timedelta(0)),
        ("email", dt.timedelta(minutes=2)),
    ]
    assert [p.label for p in rules.page_plan(responder, severity="low")] == ["email"]
    Profile.objects.create(user=responder, email_notifications=False)
    assert rules.page_plan(responder, severity="low") == []  # "nothing reaches you"
    responder.is_active = False
    assert rules.page_plan(responder, severity="critical") == []


def test_queue_page_writes_exactly_the_plan_with_each_row_due_when_planned(ntfy, reporter, responder, mailoutbox):
    rule(responder, "apprise", channel=ntfy)
    rule(responder, "email", after=2, order=1)
    incident = make_incident(by=reporter)
    entry = page(incident, responder)
    plan = rules.page_plan(responder, severity=incident.severity, at=entry.created_at)
    written = Notification.objects.filter(entry=entry, reason="paged").order_by("next_attempt_at")
    assert [(r.channel, r.next_attempt_at - entry.created_at) for r in written] == [(p.channel, p.after) for p in plan]
    email = written.get(channel="email")
    assert delivery.deliver(email.pk) == "skipped"  # not due yet
    with time_machine.travel(entry.created_at + dt.timedelta(minutes=2, seconds=31)):
        delivery.sweep()  # both due now, ImmediateBackend sends them
    assert [m.subject for m in mailoutbox if "You are paged" in m.subject]
    email.refresh_from_db()
    assert email.state == "sent"


def test_a_delayed_page_is_skipped_when_the_incident_is_acknowledged_first(
    receiver, ntfy, reporter, responder, other_responder, mailoutbox, clients
):
    rule(responder, "email")
    rule(responder, "apprise", channel=ntfy, after=5, order=1)
    incident = make_incident(by=reporter)
    entry = page(incident, responder)
    email, push = Notification.objects.get(entry=entry, channel="email"), rows(entry=entry).get()
    workflow.acknowledge(Incident.objects.get(pk=incident.pk), by=other_responder)
    push.refresh_from_db()
    email.refresh_from_db()
    assert push.state == "skipped" and push.last_error == f"{incident.ref} was acknowledged before it was due."
    assert email.state != "skipped"  # due at once: not a delayed page
    with time_machine.travel(now() + dt.timedelta(minutes=6)):
        delivery.sweep()
        assert delivery.deliver(push.pk) == "skipped"
    assert receiver.requests == []
    ledger = clients["responder"].get(f"/incidents/{incident.ref}/").content.decode()
    assert "state-skipped" in ledger


def test_a_delayed_page_goes_out_when_due_if_nobody_acknowledged(receiver, ntfy, reporter, responder):
    rule(responder, "apprise", channel=ntfy, after=5)
    entry = page(make_incident(by=reporter), responder)
    push = rows(entry=entry).get()
    with time_machine.travel(entry.created_at + dt.timedelta(minutes=5, seconds=31)):
        delivery.sweep()
    push.refresh_from_db()
    assert push.state == "sent" and len(receiver.requests) == 1


@pytest.mark.parametrize(
    ("local", "severity", "wait"),
    [
        ("2026-03-10 23:30", "low", dt.timedelta(hours=7, minutes=30)),  # until 07:00 the next morning
        ("2026-03-10 05:00", "medium", dt.timedelta(hours=2)),
        ("2026-03-10 23:30", "critical", dt.timedelta(0)),  # Critical and High always go
        ("2026-03-10 12:00", "low", dt.timedelta(0)),  # outside the quiet hours
        ("2026-03-10 07:00", "low", dt.timedelta(0)),  # they end at 07:00 sharp
    ],
)
def test_quiet_hours_hold_low_and_medium_pages_in_the_users_time_zone(responder, local, severity, wait):
    Profile.objects.create(user=responder, time_zone="Asia/Tokyo")
    QuietHours.objects.create(user=responder, start=dt.time(22), end=dt.time(7))
    rule(responder, "email", after=2)
    at = dt.datetime.fromisoformat(local).replace(tzinfo=dt.timezone(dt.timedelta(hours=9)))
    [planned] = rules.page_plan(responder, severity=severity, at=at)
    assert planned.after == wait + dt.timedelta(minutes=2)
    assert bool(planned.held) == bool(wait)


def test_quiet_hours_across_a_daylight_saving_change_count_real_time(responder):
    # Paris springs forward on 29 March 2026 at 02:00: 23:00 to 07:00 is seven hours, not eight.
    Profile.objects.create(user=responder, time_zone="Europe/Paris")
    QuietHours.objects.create(user=responder, start=dt.time(22), end=dt.time(7))
    at = dt.datetime(2026, 3, 28, 22, 0, tzinfo=dt.UTC)  # 23:00 in Paris
    [planned, *_] = rules.page_plan(responder, severity="low", at=at)
    assert planned.after == dt.timedelta(hours=7)


def test_a_held_page_carries_action_links_that_still_work_when_it_goes_out(ntfy, reporter, responder, client):
    QuietHours.objects.create(user=responder, start=dt.time(0), end=dt.time(23, 59))
    rule(responder, "apprise", channel=ntfy)
    # At 03:00 the quiet hours have 20 hours to run (at 23:00 on the real clock, only one).
    with time_machine.travel(dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC), tick=False):
        incident = make_incident(by=reporter, severity="low")
        entry = page(incident, responder)
    push = rows(entry=entry).get()
    assert push.next_attempt_at > entry.created_at + dt.timedelta(minutes=60)  # past a link's 60 minutes
    link = re.search(r"^Acknowledge: \S+/email-actions/(\S+)/$", push.body_text, re.M).group(1)
    with time_machine.travel(push.next_attempt_at + dt.timedelta(minutes=1)):
        assert client.post(f"/email-actions/{link}/").status_code == 200
    incident.refresh_from_db()
    assert incident.status == "acknowledged"


def test_a_restricted_incident_is_only_its_reference_on_a_push_service(ntfy, reporter, responder):
    from incidents.tests.test_types_and_restriction import security_type

    incident = make_incident(by=reporter, type=security_type(), title="Root keys on pastebin")
    push = rows(entry=page(incident, responder)).get()
    assert "Root keys" not in push.subject + push.body_text
    assert incident.ref in push.subject and push.incident_id is None  # responder may not see it


# --- the profile section: bad input, permissions, queries ---------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("foo://bar", "Apprise cannot use this foo:// URL"),
        ("ntfy.sh/topic", "This is not an Apprise URL"),
        ("", "This field is required."),
    ],
)
def test_a_url_apprise_cannot_parse_is_refused_with_a_clear_message(clients, responder, url, message):
    response = clients["responder"].post("/accounts/profile/paging/channels/", {"label": "phone", "url": url})
    assert response.status_code == 422 and message in response.content.decode()
    assert url not in ("", "foo://bar") or 'value="foo://bar"' not in response.content.decode()
    assert not PagingChannel.objects.exists() and not Notification.objects.filter(channel="apprise").exists()


def test_adding_a_channel_sends_a_test_message_through_the_outbox(
    receiver, clients, responder, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = clients["responder"].post(
            "/accounts/profile/paging/channels/",
            {"label": "ntfy on my phone", "url": f"ntfy://127.0.0.1:{receiver.port}/{SECRET_TOPIC}"},
        )
    assert response.status_code == 302
    channel = PagingChannel.objects.get(user=responder)
    [row] = rows(reason="test")
    assert row.state == "sent" and row.recipient == channel.recipient and channel.verified_at is not None
    assert receiver.messages()[0]["title"] == "Beacon: test message"
    # Again this minute: nothing new (the event key); the page says how the latest one went.
    clients["responder"].post(f"/accounts/profile/paging/channels/{channel.pk}/test/")
    assert rows(reason="test").count() == 1 and len(receiver.requests) == 1
    page_html = clients["responder"].get("/accounts/profile/paging/").content.decode()
    assert "Latest message: sent" in page_html
    same = clients["responder"].post(
        "/accounts/profile/paging/channels/", {"label": "ntfy on my phone", "url": "json://127.0.0.1:1/"}
    )
    assert same.status_code == 422 and "You already have a channel with this name." in same.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"target": "email", "delay_minutes": "0"}, "Tick at least one severity."),
        ({"target": "email", "delay_minutes": "-1", "severities": ["low"]}, "greater than or equal to 0"),
        ({"target": "email", "delay_minutes": "99999", "severities": ["low"]}, "less than or equal to 1440"),
        ({"target": "sms", "delay_minutes": "0", "severities": ["low"]}, "Select a valid choice"),
        ({"target": "email", "delay_minutes": "0", "severities": ["apocalyptic"]}, "Select a valid choice"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(clients, responder, data, message):
    response = clients["responder"].post("/accounts/profile/paging/rules/", data)
    assert response.status_code == 422 and message in response.content.decode()
    assert not NotificationRule.objects.exists()


def test_rules_and_quiet_hours_are_edited_on_the_page(clients, responder, ntfy):
    client = clients["responder"]
    response = client.post(
        "/accounts/profile/paging/rules/",
        {"target": f"channel:{ntfy.pk}", "delay_minutes": "0", "severities": ["critical", "high"]},
    )
    assert response.status_code == 302
    client.post(
        "/accounts/profile/paging/rules/", {"target": "email", "delay_minutes": "2", "severities": ["critical"]}
    )
    assert [(r.target, r.channel, r.delay_minutes, r.order) for r in NotificationRule.objects.all()] == [
        ("apprise", ntfy, 0, 0), ("email", None, 2, 1)
    ]  # fmt: skip
    html = " ".join(client.get("/accounts/profile/paging/").content.decode().split())
    assert "<strong>Critical:</strong> ntfy on my phone at once, email after 2 min </li>" in html
    bad = client.post("/accounts/profile/paging/quiet/", {"start": "22:00", "end": "22:00"})
    assert bad.status_code == 422 and "start and end at different times" in bad.content.decode()
    assert client.post("/accounts/profile/paging/quiet/", {"start": "22:00", "end": "07:00"}).status_code == 302
    assert QuietHours.objects.get(user=responder).end == dt.time(7)
    client.post("/accounts/profile/paging/quiet/", {"action": "off"})
    assert not QuietHours.objects.exists()
    client.post(f"/accounts/profile/paging/rules/{NotificationRule.objects.first().pk}/remove/")
    client.post(f"/accounts/profile/paging/channels/{ntfy.pk}/remove/")
    assert list(NotificationRule.objects.values_list("target", flat=True)) == ["email"]
    assert not PagingChannel.objects.exists()


def test_nobody_touches_someone_elses_channels_or_rules(clients, ntfy, responder, manager):
    theirs = rule(responder, "apprise", channel=ntfy)
    other = clients["manager"]
    assert other.post(f"/accounts/profile/paging/channels/{ntfy.pk}/test/").status_code == 404
    assert other.post(f"/accounts/profile/paging/channels/{ntfy.pk}/remove/").status_code == 404
    assert other.post(f"/accounts/profile/paging/rules/{theirs.pk}/remove/").status_code == 404
    # Nor pages to them by naming their channel in a rule of one's own.
    sneaky = other.post(
        "/accounts/profile/paging/rules/", {"target": f"channel:{ntfy.pk}", "delay_minutes": "0", "severities": ["low"]}
    )
    assert sneaky.status_code == 422 and not NotificationRule.objects.filter(user=manager).exists()
    assert f"/channels/{ntfy.pk}/" not in other.get("/accounts/profile/paging/").content.decode()
    assert PagingChannel.objects.filter(pk=ntfy.pk).exists() and not rows().exists()


def test_the_paging_page_runs_a_fixed_number_of_queries(clients, responder, reporter, django_assert_max_num_queries):
    for n in range(10):
        channel = PagingChannel.objects.create(user=responder, label=f"phone {n}", url=f"json://127.0.0.1:9/{n}")
        for k in range(3):
            Notification.objects.create(
                event_key=f"test-{n}-{k}", channel="apprise", recipient=channel.recipient, user=responder, body_text="x"
            )
        rule(responder, "apprise", channel=channel, order=n)
    QuietHours.objects.create(user=responder, start=dt.time(22), end=dt.time(7))
    with django_assert_max_num_queries(24):
        response = clients["responder"].get("/accounts/profile/paging/")
    assert response.status_code == 200 and response.content.decode().count("Send a test message") == 10


# --- the real task backend and worker ------------------------------------------------------


def run_apprise_worker():
    call_command("db_worker", "--batch", "--queue-name", "apprise", "--no-startup-delay", "--no-reload", verbosity=0)


@pytest.mark.django_db(transaction=True)  # the worker closes its connection between tasks
def test_the_apprise_worker_sends_at_once_and_the_delayed_page_when_it_is_due(settings, receiver, reporter, responder):
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks_db.DatabaseBackend",
            "QUEUES": ["default", "email", "slack", "webhooks", "escalations", "apprise"],
        }
    }
    phone = PagingChannel.objects.create(user=responder, label="phone", url=f"ntfy://127.0.0.1:{receiver.port}/t")
    backup = PagingChannel.objects.create(user=responder, label="backup", url=f"json://127.0.0.1:{receiver.port}/b")
    rule(responder, "apprise", channel=phone)
    rule(responder, "apprise", channel=backup, after=2, order=1)
    start = now()
    with time_machine.travel(start, tick=False):
        incident = make_incident(by=reporter)
        with transaction.atomic():
            entry = page(incident, responder)
        run_apprise_worker()  # the task enqueued on commit: the phone at once
        assert [r["path"] for r in receiver.requests] == ["/"]
    with time_machine.travel(start + dt.timedelta(minutes=2, seconds=1), tick=False):
        run_apprise_worker()  # the task enqueued to run two minutes later
        run_apprise_worker()
    assert [r["path"] for r in receiver.requests] == ["/", "/b"]
    assert [r.state for r in rows(entry=entry).order_by("next_attempt_at")] == ["sent", "sent"]


@pytest.mark.parametrize(
    "url",
    [
        "json://127.0.0.1:9/",
        "json://169.254.169.254/latest/",
        "ntfy://10.0.0.5/t",
        "json://localhost/",
        "json://[::1]:9/",
    ],
)
def test_a_channel_naming_a_private_address_is_refused_unless_allowed(settings, clients, responder, url):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    response = clients["responder"].post("/accounts/profile/paging/channels/", {"label": "probe", "url": url})
    assert response.status_code == 422
    assert "is a private, loopback or reserved address" in response.content.decode()
    assert not PagingChannel.objects.exists()


def test_a_private_address_is_refused_at_sending_too(settings, receiver, ntfy, reporter, responder):
    row = rows(entry=page(make_incident(by=reporter), responder)).get()
    settings.WEBHOOKS_ALLOW_PRIVATE = False  # turned off since the channel was added
    assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.permanent_error and row.last_error == "ntfy:// names a private address, refused."
    assert receiver.requests == []


def test_host_names_and_tokens_are_not_resolved(settings, monkeypatch):
    """For a Telegram URL Apprise's "host" is the bot token: it must never reach a DNS query."""
    import socket

    from incidents.models.channels import apprise_refusal

    settings.WEBHOOKS_ALLOW_PRIVATE = False

    def no_dns(*args, **kwargs):
        raise AssertionError(f"DNS lookup of {args[0]!r}")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    assert apprise_refusal("tgram://123456789:AAHsecretBotToken/987654321") is None
    assert apprise_refusal("ntfys://ntfy.example.com/topic") is None
