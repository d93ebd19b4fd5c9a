"""A channel that cannot deliver (a Slack webhook gone, SMTP sign-in refused) is marked broken:
managers see a banner on the dashboard and the service page and are emailed once; the next
delivery that works clears it. Against a local Slack stand-in and a real SMTP server."""

import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.utils.timezone import now

from incidents import workflow
from incidents.models import ChannelProblem, Notification
from incidents.notifications import delivery, health
from incidents.tests.factories import ServiceFactory, make_incident
from incidents.tests.standins import SlackStandIn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def slack(settings):
    with SlackStandIn(free_port()) as stand_in:
        settings.SLACK_WEBHOOK_URL = stand_in.url
        yield stand_in


def slack_row(reporter, **fields) -> Notification:
    incident = make_incident(by=reporter, severity="critical", **fields)
    return Notification.objects.filter(incident=incident, channel="slack").order_by("pk").first()


def banner(client, path="/") -> bool:
    return "Notifications are not getting through" in client.get(path).content.decode()


def test_a_gone_webhook_is_a_broken_channel_until_a_message_gets_through(slack, reporter, manager, clients):
    slack.set_mode("404")
    assert delivery.deliver(slack_row(reporter).pk) == "failed"
    (problem,) = ChannelProblem.objects.all()
    assert (problem.channel, problem.destination) == ("slack", "site") and "no_service" in problem.error
    assert banner(clients["manager"]) and not banner(clients["responder"])

    # Managers are emailed once, however often it fails meanwhile.
    assert health.tell_managers() == 1
    slack.set_mode("410")
    delivery.deliver(slack_row(reporter).pk)
    assert health.tell_managers() == 0
    (message,) = Notification.objects.filter(event_key__startswith="channel-broken:")
    assert message.recipient == "maya@example.com" and message.channel == "email"
    assert message.subject.startswith("Beacon cannot deliver: Slack") and "SLACK_WEBHOOK_URL" in message.body_text

    slack.set_mode("ok")
    assert delivery.deliver(slack_row(reporter).pk) == "sent"
    assert not ChannelProblem.objects.exists()
    assert not banner(clients["manager"])


@pytest.mark.parametrize(("mode", "broken"), [("400", False), ("500", False), ("410", True)])
def test_only_answers_about_the_webhook_itself_break_the_channel(slack, reporter, mode, broken):
    slack.set_mode(mode)
    delivery.deliver(slack_row(reporter).pk)
    assert ChannelProblem.objects.exists() == broken


def test_a_services_own_webhook_shows_on_its_page(slack, reporter, clients, settings):
    settings.SLACK_WEBHOOK_URL = ""
    payments = ServiceFactory(name="Payments", slack_webhook_url=slack.url)
    search = ServiceFactory(name="Search")
    slack.set_mode("404")
    delivery.deliver(slack_row(reporter, service=payments).pk)
    (problem,) = ChannelProblem.objects.all()
    assert problem.service == payments and problem.destination == f"service:{payments.pk}"
    assert banner(clients["manager"], f"/services/{payments.slug}/")
    assert not banner(clients["manager"], f"/services/{search.slug}/")
    assert not banner(clients["responder"], f"/services/{payments.slug}/")


class Refusing:
    def __init__(self):
        self.accept = False

    def __call__(self, server, session, envelope, mechanism, auth_data):
        return AuthResult(success=self.accept, handled=False)


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


@pytest.fixture
def smtp_with_login(settings):
    authenticator = Refusing()
    port = free_port()
    # PLAIN only: smtplib's LOGIN with an initial response and aiosmtpd wait for each other.
    controller = Controller(
        Sink(),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
        auth_exclude_mechanism=["LOGIN"],
    )
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "beacon", "wrong"
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    try:
        yield authenticator
    finally:
        controller.stop()


def test_smtp_sign_in_refused_breaks_email_and_keeps_the_messages(smtp_with_login, reporter, responder):
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)
    workflow.add_note(incident, by=reporter, text="It is back.")  # the lead hears of it
    row = Notification.objects.filter(incident=incident, channel="email", recipient="rob@example.com").last()
    assert delivery.deliver(row.pk) == "retry"  # not lost: retried once the sign-in works
    (problem,) = ChannelProblem.objects.all()
    assert (problem.channel, problem.destination) == ("email", "smtp") and "535" in problem.error

    smtp_with_login.accept = True
    Notification.objects.filter(pk=row.pk).update(next_attempt_at=now())  # its retry is due
    assert delivery.deliver(row.pk) == "sent"
    assert not ChannelProblem.objects.exists()


def test_a_broken_channels_error_keeps_its_first_2000_characters(db):
    row = Notification(channel=Notification.Channel.SLACK, recipient="site")
    delivery.mark_broken(row, "a" * 1999 + "bc" + "d" * 1000)
    (problem,) = ChannelProblem.objects.all()
    assert problem.error == "a" * 1999 + "b"
    delivery.mark_broken(row, "x" * 1999 + "yz" + "w" * 1000)  # the same destination fails again
    problem.refresh_from_db()
    assert problem.error == "x" * 1999 + "y"
