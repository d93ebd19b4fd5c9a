"""Who hears what: the outbox rows each workflow change writes, in its own transaction."""

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction

from conftest import make_user
from incidents import roles, workflow
from incidents.models import Notification, Profile, ResponseRole, Subscription, TimelineEntry
from incidents.notifications import outbox as notifications
from incidents.tests.factories import ServiceFactory, make_incident

Kind = TimelineEntry.Kind


def emails(incident, **filters):
    rows = Notification.objects.filter(incident=incident, channel="email", **filters)
    return sorted(rows.values_list("recipient", flat=True))


@pytest.fixture
def incident(reporter, responder):
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)  # rob leads it now
    return incident


@pytest.fixture
def follower(db):
    return make_user("fay", roles.VIEWER)


def test_it_tells_the_lead_about_everything_but_their_own_actions(incident, responder, other_responder):
    workflow.add_note(incident, by=other_responder, text="Disk full on db-2.")
    assert emails(incident) == ["rob@example.com"]
    workflow.add_note(incident, by=responder, text="My own note.")
    assert emails(incident) == ["rob@example.com"]  # nobody hears about their own action


def test_followers_hear_public_updates_not_internal_ones(incident, other_responder, follower):
    Subscription.objects.create(user=follower, incident=incident)
    workflow.post_update(incident, by=other_responder, message="Internal only.", public=False)
    assert emails(incident) == ["rob@example.com"]
    workflow.post_update(incident, by=other_responder, message="We are on it.", public=True)
    latest = Notification.objects.filter(event_key__endswith=str(incident.timeline.last().pk))
    assert sorted(latest.filter(channel="email").values_list("recipient", flat=True)) == [
        "fay@example.com",
        "rob@example.com",
    ]


def test_service_followers_hear_severity_raises_and_resolution_not_lowering(incident, responder, follower):
    Subscription.objects.create(user=follower, service=incident.service)
    workflow.change_severity(incident, by=responder, severity="medium")
    assert "fay@example.com" not in emails(incident)
    workflow.change_severity(incident, by=responder, severity="critical")
    assert emails(incident).count("fay@example.com") == 1
    workflow.resolve(incident, by=responder, summary="Rolled back.", confirmed=True)
    assert emails(incident).count("fay@example.com") == 2


def test_severity_subscribers_hear_new_incidents_at_or_above_their_threshold(reporter, follower):
    Subscription.objects.create(user=follower, min_severity="high")
    high = make_incident(by=reporter, severity="high")
    low = make_incident(by=reporter, severity="low")
    assert emails(high) == ["fay@example.com"]
    assert emails(low) == []


def test_severity_subscribers_hear_a_raise_into_their_threshold(reporter, responder, follower):
    Subscription.objects.create(user=follower, min_severity="critical")
    incident = make_incident(by=reporter, severity="medium")
    workflow.change_severity(incident, by=responder, severity="critical")
    assert emails(incident) == ["fay@example.com"]


def test_followers_hear_no_new_incident_and_severity_subscribers_no_update(reporter, responder, follower, viewer):
    service = ServiceFactory(name="Search")
    Subscription.objects.create(user=follower, service=service)
    Subscription.objects.create(user=viewer, min_severity="low")
    incident = make_incident(by=reporter, service=service, severity="high")
    assert emails(incident) == ["vic@example.com"]  # the threshold, not the service follow
    workflow.post_update(incident, by=responder, message="Update.", public=True)
    assert emails(incident) == ["fay@example.com", "vic@example.com"]  # the follower, now


def test_outside_stakeholders_hear_only_public_incidents(incident, other_responder):
    Subscription.objects.create(email="Cto@Partner.example", service=incident.service)
    workflow.post_update(incident, by=other_responder, message="Looking.", public=True)
    assert "cto@partner.example" not in emails(incident)
    workflow.set_public(incident, by=other_responder, public=True)
    workflow.post_update(incident, by=other_responder, message="Fixed soon.", public=True)
    row = Notification.objects.get(recipient="cto@partner.example")
    assert row.audience == "public"
    assert row.user is None


def test_outside_stakeholders_of_a_service_hidden_from_the_status_page_hear_nothing(incident, other_responder):
    Subscription.objects.create(email="cto@partner.example", service=incident.service)
    type(incident.service).objects.filter(pk=incident.service_id).update(is_public=False)
    incident.refresh_from_db()
    workflow.set_public(incident, by=other_responder, public=True)
    workflow.post_update(incident, by=other_responder, message="Fixed soon.", public=True)
    workflow.resolve(incident, by=other_responder, summary="Done.", confirmed=True)
    assert "cto@partner.example" not in emails(incident)
    assert emails(incident)  # the team still hears


def test_users_with_email_off_or_without_a_role_hear_nothing(incident, other_responder, follower, nobody):
    Profile.objects.create(user=follower, email_notifications=False)
    Subscription.objects.create(user=follower, incident=incident)
    Subscription.objects.create(user=nobody, incident=incident)
    workflow.post_update(incident, by=other_responder, message="Update.", public=True)
    assert emails(incident) == ["rob@example.com"]


def test_one_email_per_address_even_with_several_reasons(incident, other_responder, responder):
    Subscription.objects.create(user=responder, incident=incident)
    Subscription.objects.create(user=responder, service=incident.service)
    workflow.post_update(incident, by=other_responder, message="Update.", public=True)
    assert emails(incident) == ["rob@example.com"]
    assert Notification.objects.get(incident=incident, channel="email").reason == "lead"  # the first cause


def test_a_team_copy_wins_over_a_public_one_for_the_same_address(incident, other_responder, follower):
    Subscription.objects.create(email="fay@example.com", service=incident.service)  # on the stakeholder list
    Subscription.objects.create(user=follower, service=incident.service)  # and following it as a viewer
    workflow.set_public(incident, by=other_responder, public=True)
    workflow.post_update(incident, by=other_responder, message="Fixed soon.", public=True)
    (row,) = Notification.objects.filter(incident=incident, channel="email", recipient="fay@example.com")
    assert row.audience == "team" and row.user == follower


def test_a_raise_and_a_lowering_say_which_in_the_subject(incident, other_responder):
    workflow.change_severity(incident, by=other_responder, severity="critical")
    workflow.change_severity(incident, by=other_responder, severity="low")
    rows = Notification.objects.filter(incident=incident, recipient="rob@example.com").order_by("pk")
    subjects = [r.subject for r in rows]
    assert subjects[-2].endswith(" — Severity raised to Critical"), subjects
    assert subjects[-1].endswith(" — Severity lowered to Low"), subjects


def test_slack_gets_new_incidents_raises_public_updates_and_resolutions(settings, reporter, responder):
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:19210/services/T/B/X"
    service = ServiceFactory(name="Search", slack_webhook_url="http://127.0.0.1:19210/services/S")
    incident = make_incident(by=reporter, service=service)
    workflow.add_note(incident, by=responder, text="note")
    workflow.post_update(incident, by=responder, message="internal", public=False)
    workflow.post_update(incident, by=responder, message="public <b>", public=True)
    workflow.change_severity(incident, by=responder, severity="critical")
    workflow.resolve(incident, by=responder, summary="Done.", confirmed=True)
    slack = Notification.objects.filter(incident=incident, channel="slack")
    assert slack.count() == 4 * 2  # 4 events x (site + service)
    assert set(slack.values_list("recipient", flat=True)) == {"site", f"service:{service.pk}"}
    update = slack.filter(body_text__contains="public").first()
    assert incident.ref in update.body_text and f"event {update.entry_id}" in update.body_text
    assert "&lt;b&gt;" in update.body_text  # Slack control characters escaped


def test_rows_are_written_in_the_changes_transaction(incident, other_responder):
    before = Notification.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        workflow.add_note(incident, by=other_responder, text="Rolled back with the change.")
        assert Notification.objects.count() == before + 1
        raise RuntimeError
    assert Notification.objects.count() == before


def test_writing_the_same_event_twice_adds_nothing(incident, other_responder):
    entry = workflow.add_note(incident, by=other_responder, text="once")
    count = Notification.objects.count()
    notifications.queue_for_entry(entry)
    assert Notification.objects.count() == count


def test_delivery_is_enqueued_only_after_commit(
    incident, other_responder, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        workflow.add_note(incident, by=other_responder, text="after commit")
        assert mailoutbox == []
    assert callbacks  # the enqueue waits for the commit
    for callback in callbacks:
        callback()
    assert [m.to for m in mailoutbox] == [["rob@example.com"]]
    assert Notification.objects.get(recipient="rob@example.com", entry__text="after commit").state == "sent"


def test_queue_direct_writes_one_row_in_the_callers_transaction(
    responder, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            row = notifications.queue_direct(
                event_key="review-due:1",
                user=responder,
                subject="Review due\nsoon",
                template="notifications/reminder.txt",
                context={"incident": {"ref": "INC-1", "title": "T"}, "minutes": 5, "url": "x"},
            )
            again = notifications.queue_direct(
                event_key="review-due:1",
                user=responder,
                subject="Review due",
                template="notifications/reminder.txt",
                context={"incident": {"ref": "INC-1", "title": "T"}, "minutes": 5, "url": "x"},
            )
    assert row.pk == again.pk
    assert Notification.objects.filter(event_key="review-due:1").count() == 1
    assert len(mailoutbox) == 1
    assert mailoutbox[0].subject == "Review due soon"


def test_queue_direct_costs_two_queries_for_a_user_loaded_with_their_profile(responder, django_assert_num_queries):
    Profile.objects.create(user=responder)
    user = type(responder).objects.select_related("profile").get(pk=responder.pk)
    with django_assert_num_queries(2):  # the insert and reading its id back
        row = notifications.queue_direct(
            event_key="k", user=user, subject="s", template="notifications/reminder.txt", context={}
        )
    assert Notification.objects.get(event_key="k").pk == row.pk


def test_write_returns_and_enqueues_only_the_rows_it_inserted(responder, django_capture_on_commit_callbacks):
    def row(recipient):
        return Notification(event_key="k", channel="email", recipient=recipient, body_text="x")

    with django_capture_on_commit_callbacks() as callbacks:
        [first] = notifications.write([row("a@example.com")])
        [second] = notifications.write([row("a@example.com"), row("b@example.com")])
        assert notifications.write([row("b@example.com")]) == []
    assert Notification.objects.get(recipient="b@example.com").pk == second != first
    assert len(callbacks) == 2  # a repeat enqueues nothing


def test_queue_direct_respects_email_off(responder):
    Profile.objects.create(user=responder, email_notifications=False)
    row = notifications.queue_direct(
        event_key="k", user=responder, subject="s", template="notifications/reminder.txt", context={}
    )
    assert row is None
    assert not Notification.objects.exists()


def test_of_the_status_changes_only_the_resolution_is_broadcast(settings, reporter, responder, follower):
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:19210/services/T/B/X"
    incident = make_incident(by=reporter)
    Subscription.objects.create(user=follower, service=incident.service)
    workflow.acknowledge(incident, by=responder)
    workflow.mitigate(incident, by=responder, text="Failed over.")
    assert "fay@example.com" not in emails(incident)
    assert Notification.objects.filter(incident=incident, channel="slack").count() == 1  # the new incident
    workflow.resolve(incident, by=responder, summary="Rolled back.", confirmed=True)
    assert emails(incident).count("fay@example.com") == 1
    assert Notification.objects.filter(incident=incident, channel="slack").count() == 2


def test_severity_subscribers_hear_a_raise_that_jumps_past_their_threshold(reporter, responder, follower):
    Subscription.objects.create(user=follower, min_severity="high")
    incident = make_incident(by=reporter, severity="low")
    workflow.change_severity(incident, by=responder, severity="critical")
    assert emails(incident) == ["fay@example.com"]


def test_a_lead_change_tells_the_new_lead_who_led_before(incident, manager, other_responder):
    workflow.set_lead(incident, by=manager, lead=other_responder)
    row = Notification.objects.get(incident=incident, channel="email", recipient="ola@example.com")
    assert "Lead Rob Responder → Ola Oncall" in row.body_text


def test_a_viewer_granted_the_view_permission_directly_as_well_still_hears(incident, other_responder, follower):
    follower.user_permissions.add(Permission.objects.get(codename=roles.codename(roles.VIEW_INCIDENT)))
    Subscription.objects.create(user=follower, incident=incident)
    workflow.post_update(incident, by=other_responder, message="Update.", public=True)
    assert "fay@example.com" in emails(incident)


def test_an_entry_read_back_from_the_database_is_the_same_event(incident, responder, other_responder):
    """event_of classifies an entry by its stored kind, not by the object the workflow built."""
    workflow.post_update(incident, by=other_responder, message="Public.", public=True)
    workflow.post_update(incident, by=other_responder, message="Internal.", public=False)
    workflow.change_severity(incident, by=responder, severity="critical")
    workflow.change_severity(incident, by=responder, severity="low")
    workflow.resolve(incident, by=responder, summary="Done.", confirmed=True)
    task = workflow.add_task(incident, by=responder, title="Write the review")
    workflow.assign_task(incident, by=responder, task=task, user=other_responder)
    with transaction.atomic():
        workflow.record(incident, by=None, kind=Kind.ALERT_FIRED, text="1 alert(s) fired: opening", initial=True)
        workflow.record(incident, by=None, kind=Kind.ALERT_RESOLVED, text="1 alert(s) resolved: opening")
    events = [notifications.event_of(entry) for entry in incident.timeline.order_by("pk")]
    assert events == [
        notifications.NEW,
        notifications.OTHER,  # acknowledged
        notifications.PUBLIC_UPDATE,
        notifications.INTERNAL_UPDATE,
        notifications.RAISED,
        notifications.LOWERED,
        notifications.RESOLVED,
        None,  # a task added: the timeline keeps it, nobody is emailed
        notifications.OTHER,  # a task given to someone
        None,  # the alerts an incident opened with
        None,  # and their resolving (the move to mitigated tells the lead)
    ]


def test_a_task_given_to_someone_whose_name_reads_resolved_is_no_resolution(incident, responder, follower):
    """Only a status change to resolved is the resolution, whatever another entry's `new` says."""
    named = make_user("resolved", roles.RESPONDER)  # no full name: shown by the username
    Subscription.objects.create(user=follower, incident=incident)
    task = workflow.add_task(incident, by=responder, title="Rotate the keys")
    workflow.assign_task(incident, by=responder, task=task, user=named)
    entry = incident.timeline.get(kind=Kind.TASK, data__action="assigned")
    assert entry.data["new"] == "resolved"
    assert notifications.event_of(entry) == notifications.OTHER
    # Followers hear broadcasts (the resolution among them), not a task changing hands.
    assert "fay@example.com" not in emails(incident)
    workflow.set_lead(incident, by=responder, lead=named)  # nor a lead change to them
    lead_change = incident.timeline.filter(kind=Kind.LEAD_CHANGE).last()
    assert lead_change.data["new"] == "resolved"
    assert notifications.event_of(lead_change) == notifications.OTHER
    assert "fay@example.com" not in emails(incident)


def test_a_direct_emails_event_key_is_kept_to_its_200_characters(responder):
    row = notifications.queue_direct(
        event_key="review-due:" + "x" * 250,
        user=responder,
        subject="Due",
        template="notifications/reminder.txt",
        context={},
    )
    assert row.event_key == "review-due:" + "x" * 189


def test_the_lead_hears_what_an_edit_changed(incident, other_responder):
    workflow.edit(incident, by=other_responder, version=incident.version, changes={"title": "Checkout down"})
    row = Notification.objects.filter(incident=incident, channel="email", recipient="rob@example.com").last()
    assert "Changed: title" in row.body_text


def test_the_lead_hears_why_the_severity_changed_when_a_reason_is_given(incident, other_responder):
    workflow.change_severity(incident, by=other_responder, severity="critical", reason="All regions now.")
    workflow.change_severity(incident, by=other_responder, severity="medium")
    raised, lowered = Notification.objects.filter(
        incident=incident, channel="email", recipient="rob@example.com", entry__kind=Kind.SEVERITY_CHANGE
    ).order_by("pk")
    assert "Severity High → Critical — All regions now." in raised.body_text
    assert "Severity Critical → Medium\n" in lowered.body_text  # no reason, no dash


def test_a_task_given_to_someone_names_them_in_the_subject_and_says_why_they_hear(incident, responder, other_responder):
    task = workflow.add_task(incident, by=responder, title="Write the review")
    workflow.assign_task(incident, by=responder, task=task, user=other_responder)
    row = Notification.objects.get(incident=incident, channel="email", recipient=other_responder.email)
    assert row.subject.endswith(" — Task for Ola Oncall: Write the review"), row.subject
    assert "“Write the review”: assigned → Ola Oncall" in row.body_text
    assert f"You receive this because a task of {incident.ref} is yours." in row.body_text


def test_a_role_given_to_someone_says_who_held_it_and_who_holds_it(incident, responder, other_responder):
    commander = ResponseRole.objects.get(slug="commander")
    workflow.assign_role(incident, by=responder, role=commander, user=other_responder)
    row = Notification.objects.get(incident=incident, channel="email", recipient=other_responder.email)
    assert row.subject.endswith(" — Ola Oncall is Incident commander"), row.subject
    assert "Incident commander: nobody → Ola Oncall" in row.body_text
    assert f"You receive this because you are Incident commander of {incident.ref}." in row.body_text


def test_the_assignee_is_mentioned_on_slack_whatever_their_id_unless_they_took_it_themselves(
    settings, incident, responder
):
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/slack"
    Profile.objects.create(user=responder, slack_member_id="U0ROB")
    late = make_user("zed", roles.RESPONDER, pk=100001)  # the author's id above the assignee's
    Profile.objects.create(user=late, slack_member_id="U0ZED")
    scribe = ResponseRole.objects.get(slug="scribe")
    workflow.assign_role(incident, by=late, role=scribe, user=responder)
    workflow.assign_role(incident, by=late, role=scribe, user=late)  # their own doing: no mention
    mentions = Notification.objects.filter(incident=incident, channel="slack", reason="assigned")
    assert [row.body_text.split(" ", 1)[0] for row in mentions] == ["<@U0ROB>"]


def test_each_email_says_why_its_recipient_hears_of_it(incident, other_responder, follower):
    service_follower = make_user("sid", roles.VIEWER)
    Subscription.objects.create(user=follower, incident=incident)
    Subscription.objects.create(user=service_follower, service=incident.service)
    workflow.post_update(incident, by=other_responder, message="We are on it.", public=True)
    because = {
        row.recipient: row.body_text.split("You receive this because ", 1)[1].split("\n", 1)[0]
        for row in Notification.objects.filter(incident=incident, channel="email", entry__kind=Kind.STATUS_UPDATE)
    }
    assert because == {
        "rob@example.com": f"you lead {incident.ref}.",
        "fay@example.com": f"you follow {incident.ref}.",
        "sid@example.com": "you follow Checkout.",
    }


def test_an_email_has_an_html_part_with_its_own_unsubscribe_link(incident, other_responder, follower):
    Subscription.objects.create(user=follower, incident=incident)
    workflow.post_update(incident, by=other_responder, message="We are on it.", public=True)
    row = Notification.objects.get(incident=incident, channel="email", recipient="fay@example.com")
    link = next(word for word in row.body_text.split() if "/unsubscribe/" in word)
    assert row.body_html.startswith("<!doctype html>")
    assert f'<a href="{link}">Unsubscribe</a>' in row.body_html


def test_slack_hears_the_words_of_public_updates_only(settings, incident, responder):
    """docs/notifications.md: reference, title, severity, status, link and event number; the text
    of a public update, never a raise's reason or the resolution summary."""
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/slack"
    workflow.post_update(incident, by=responder, message="Payments work again.", public=True)
    workflow.change_severity(incident, by=responder, severity="critical", reason="SECRET-REASON: the CEO noticed.")
    workflow.resolve(incident, by=responder, summary="SECRET-SUMMARY: a bad deploy by Rob.", confirmed=True)
    posts = [row.body_text for row in Notification.objects.filter(incident=incident, channel="slack").order_by("pk")]
    assert len(posts) == 3
    assert "> Payments work again." in posts[0]
    assert not any("SECRET" in post or "\n>" in post for post in posts[1:])


def test_an_assignee_without_a_profile_is_told_by_email_and_not_mentioned(
    settings, incident, responder, other_responder
):
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/slack"
    assert not Profile.objects.filter(user=other_responder).exists()
    workflow.assign_role(incident, by=responder, role=ResponseRole.objects.get(slug="scribe"), user=other_responder)
    assert emails(incident, recipient=other_responder.email) == ["ola@example.com"]
    assert not Notification.objects.filter(incident=incident, channel="slack", reason="assigned").exists()


def test_outside_stakeholders_read_that_the_severity_was_raised(incident, responder):
    incident.service.is_public = True
    incident.service.save()
    workflow.set_public(incident, by=responder, public=True)
    Subscription.objects.create(email="ann@customer.example", service=incident.service)
    workflow.change_severity(incident, by=responder, severity="critical")
    row = Notification.objects.get(incident=incident, channel="email", recipient="ann@customer.example")
    assert "We have raised the severity of this incident to Critical." in row.body_text


def test_restricting_and_lifting_say_which_in_the_lead_s_subject(incident, other_responder, manager):
    workflow.restrict(incident, by=other_responder, reason="Customer data may be exposed.")
    workflow.lift_restriction(incident, by=manager, reason="It was not.")
    rows = Notification.objects.filter(
        incident=incident, channel="email", recipient="rob@example.com", entry__kind=Kind.ACCESS
    ).order_by("pk")
    assert [row.subject.rsplit(" — ", 1)[1] for row in rows] == ["Restricted (need-to-know)", "Restriction lifted"]


def test_a_task_queue_refusing_the_delivery_after_the_commit_fails_nothing(
    settings, incident, other_responder, django_capture_on_commit_callbacks
):
    """Rows are enqueued after the commit; a queue that refuses them (here one configured without the
    email queue) loses nothing: the change stands, the row stays pending, the sweeper sends it."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}}
    with django_capture_on_commit_callbacks(execute=True):
        workflow.add_note(incident, by=other_responder, text="Disk full on db-2.")
    row = Notification.objects.get(incident=incident, channel="email", entry__kind=Kind.NOTE)
    assert row.recipient == "rob@example.com" and row.state == Notification.State.PENDING


def test_status_changes_say_which_in_the_subject(incident, other_responder):
    workflow.mitigate(incident, by=other_responder)
    workflow.resolve(incident, by=other_responder, summary="Rolled back.", confirmed=True)
    workflow.reopen(incident, by=other_responder, reason="It is back.")
    subjects = Notification.objects.filter(
        incident=incident, channel="email", recipient="rob@example.com", entry__kind=Kind.STATUS_CHANGE
    ).order_by("pk")
    assert [row.subject.rsplit(" — ", 1)[1] for row in subjects] == ["Mitigated", "Resolved", "Reopened"]


def test_the_lead_hears_when_the_incident_is_shown_on_the_status_page_or_hidden(incident, other_responder):
    workflow.set_public(incident, by=other_responder, public=True)
    workflow.set_public(incident, by=other_responder, public=False)
    assert emails(incident, entry__kind=Kind.VISIBILITY) == ["rob@example.com", "rob@example.com"]
    subjects = Notification.objects.filter(incident=incident, entry__kind=Kind.VISIBILITY).values_list(
        "subject", flat=True
    )
    assert {subject.rsplit(" — ", 1)[1] for subject in subjects} == {"Visibility change"}
    for row in Notification.objects.filter(incident=incident, entry__kind=Kind.VISIBILITY):
        assert "None" not in row.body_text  # no task's or role's words for what has neither


def test_the_subject_names_the_kind_of_an_entry_without_a_headline_of_its_own(incident, other_responder):
    workflow.add_note(incident, by=other_responder, text="Disk full on db-2.")
    row = Notification.objects.filter(incident=incident, channel="email", recipient="rob@example.com").last()
    assert row.subject.endswith(" — Note"), row.subject


def test_severity_subscribers_already_told_hear_nothing_more_of_a_raise(reporter, responder, follower):
    Subscription.objects.create(user=follower, min_severity="medium")
    incident = make_incident(by=reporter, severity="high")  # within "medium or worse" from the start
    workflow.change_severity(incident, by=responder, severity="critical")
    assert emails(incident) == ["fay@example.com"]  # the new incident only


def test_severity_subscribers_hear_of_an_incident_once_when_it_gets_worse_within_their_threshold(
    reporter, responder, follower
):
    Subscription.objects.create(user=follower, min_severity="high")
    incident = make_incident(by=reporter, severity="high")
    workflow.change_severity(incident, by=responder, severity="critical")
    assert emails(incident) == ["fay@example.com"]  # the new incident; the raise is no news to them


def test_alerts_joining_an_incident_later_are_news_for_the_lead_the_opening_ones_are_not(incident):
    incident.refresh_from_db()  # rob leads it
    with transaction.atomic():
        workflow.record(incident, by=None, kind=Kind.ALERT_FIRED, text="1 alert(s) fired: opening", initial=True)
    assert emails(incident) == []
    with transaction.atomic():
        workflow.record(incident, by=None, kind=Kind.ALERT_FIRED, text="1 alert(s) fired: later", initial=False)
    assert emails(incident) == ["rob@example.com"]
    assert "1 alert(s) fired: later" in Notification.objects.get(incident=incident, channel="email").body_text


def test_only_the_leads_own_email_carries_action_links_not_a_followers(reporter, responder, follower):
    incident = make_incident(by=reporter)
    Subscription.objects.create(user=follower, incident=incident)
    workflow.post_update(incident, by=responder, message="Looking.", public=True)
    (row,) = Notification.objects.filter(incident=incident, channel="email", recipient="fay@example.com")
    assert "Take the lead:" not in row.body_text and "Acknowledge:" not in row.body_text


def test_a_subject_is_one_line_of_at_most_250_characters(reporter, manager):
    long_named = make_user("lena", roles.RESPONDER, first_name="L" * 100, last_name="N" * 100)
    # Low: not escalated, so the new lead gets the lead change's email only, not a page as well.
    incident = make_incident(by=reporter, title="T" * 200, severity="low")
    workflow.set_lead(incident, by=manager, lead=long_named)  # "… — Lead: LLL… NNN…"
    row = Notification.objects.get(incident=incident, channel="email", recipient="lena@example.com")
    assert len(row.subject) == 250 and row.subject.startswith(f"[{incident.ref}][")
