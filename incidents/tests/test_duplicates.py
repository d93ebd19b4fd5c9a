"""One outage, one incident: a responder closes a duplicate into its primary; its followers and
reporter follow the primary and are told; its alerts join the primary; undoable with a reason."""

import pytest
from django.contrib.auth.models import Permission

from conftest import make_user
from incidents import roles, workflow
from incidents.alerts.tests.support import am, integration, load  # noqa: F401
from incidents.models import AlertGroup, Incident, Notification, Subscription
from incidents.tests.factories import ServiceFactory, make_incident


@pytest.fixture
def primary(reporter, responder):
    incident = make_incident(by=reporter, title="Checkout returns 500")
    workflow.acknowledge(incident, by=responder)
    return incident


@pytest.fixture
def duplicate(primary, viewer, db):
    other = make_user("otto", roles.REPORTER)
    incident = make_incident(by=other, title="Cannot pay", service=primary.service, follow=True)
    Subscription.objects.create(user=viewer, incident=incident)
    return incident


def with_large_id(incident: Incident, pk: int) -> Incident:
    """A copy of `incident` stored under id `pk` (past CPython's cached small ints), read back."""
    incident.pk = pk
    incident._state.adding = True
    incident.save(force_insert=True)
    return Incident.objects.get(pk=pk)


def mark(client, incident, primary: str, reason=""):
    return client.post(f"/incidents/{incident.ref}/duplicate/", {"primary": primary, "reason": reason}, follow=True)


def test_marking_closes_it_into_the_primary_and_moves_its_followers(clients, primary, duplicate, viewer):
    response = mark(clients["responder"], duplicate, primary.ref, "Same 500s.")
    assert response.redirect_chain == [(f"/incidents/{primary.ref}/", 302)]
    assert f"{duplicate.ref} is closed into {primary.ref}; its followers follow it now." in response.content.decode()
    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.duplicate_of_id) == ("closed", primary.pk)
    assert duplicate.closed_at is not None
    reporter_of_duplicate = duplicate.reporter
    assert set(Subscription.objects.filter(incident=primary).values_list("user_id", flat=True)) == {
        viewer.pk,
        reporter_of_duplicate.pk,
        duplicate.timeline.get(kind="duplicate").author_id,  # who marked it
    }
    assert not Subscription.objects.filter(incident=duplicate).exists()
    entry = duplicate.timeline.get(kind="duplicate")
    assert entry.text.startswith(f"Duplicate of {primary.ref}: closed into it.") and entry.text.endswith("Same 500s.")
    assert primary.timeline.get(kind="duplicate").text.startswith(f"{duplicate.ref} was marked a duplicate")
    page = clients["viewer"].get(f"/incidents/{primary.ref}/").content.decode()
    assert f'<a href="/incidents/{duplicate.ref}/">{duplicate.ref}</a> Cannot pay' in page
    banner = clients["viewer"].get(f"/incidents/{duplicate.ref}/").content.decode()
    assert (
        f'A duplicate of <a class="alert-link" href="/incidents/{primary.ref}/">{primary.ref}</a>: closed into it.'
        in banner
    )


def test_its_followers_are_told_and_nobody_else(primary, duplicate, viewer, other_responder):
    follower_of_service = make_user("sam", roles.VIEWER)
    Subscription.objects.create(user=follower_of_service, service=primary.service)
    Subscription.objects.create(email="cto@partner.example", service=primary.service)
    workflow.mark_duplicate(duplicate, primary=primary, by=other_responder)
    entry = duplicate.timeline.get(kind="duplicate")
    told = Notification.objects.filter(event_key=f"entry:{entry.pk}", channel="email")
    assert sorted(told.values_list("recipient", flat=True)) == ["otto@example.com", "vic@example.com"]
    email = told.get(recipient="vic@example.com")
    assert email.subject.endswith(f"— Duplicate of {primary.ref}")
    assert f"you followed {duplicate.ref}, and follow {primary.ref} now" in email.body_text


@pytest.mark.parametrize(
    "wanted, message",
    [
        ("yesterday", "Give an incident&#x27;s reference, like INC-42."),
        ("", "This field is required."),
        ("INC-999999", "There is no incident INC-999999."),
        ("{duplicate}", "An incident cannot be a duplicate of itself."),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(clients, primary, duplicate, wanted, message):
    response = mark(clients["responder"], duplicate, wanted.format(duplicate=duplicate.ref))
    assert message in response.content.decode()
    duplicate.refresh_from_db()
    assert duplicate.duplicate_of_id is None and duplicate.status == "reported"


def test_refusals_say_what_to_do(clients, primary, duplicate, reporter, responder, manager):
    third = make_incident(by=reporter, title="Payments down", service=primary.service)
    workflow.mark_duplicate(duplicate, primary=primary, by=responder)
    # A duplicate of a duplicate: pointed at the real primary.
    assert (
        f"{duplicate.ref} is itself a duplicate of {primary.ref}: mark {third.ref} a duplicate of {primary.ref}."
        in (mark(clients["responder"], third, duplicate.ref).content.decode())
    )
    assert (
        f"{duplicate.ref} is already a duplicate of {primary.ref}."
        in (
            clients["responder"].post(f"/incidents/{duplicate.ref}/duplicate/", {"primary": third.ref}, follow=True)
        ).content.decode()
    )
    workflow.resolve(primary, by=responder, summary="ok", confirmed=True)
    workflow.close(primary, by=manager)
    assert f"{primary.ref} is closed: choose an incident that is still open or resolved." in (
        mark(clients["responder"], third, primary.ref).content.decode()
    )


def test_undo_needs_a_reason_and_restores_it(clients, primary, duplicate, viewer, responder):
    workflow.acknowledge(duplicate, by=responder)
    workflow.mark_duplicate(duplicate, primary=primary, by=responder)
    refused = clients["responder"].post(f"/incidents/{duplicate.ref}/duplicate/undo/", {"reason": " "}, follow=True)
    assert "Say why it is not a duplicate after all." in refused.content.decode()
    undone = clients["responder"].post(
        f"/incidents/{duplicate.ref}/duplicate/undo/", {"reason": "Different cause: the CDN."}, follow=True
    )
    assert f"{duplicate.ref} is its own incident again." in undone.content.decode()
    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.duplicate_of_id, duplicate.closed_at) == ("acknowledged", None, None)
    assert Subscription.objects.filter(user=viewer, incident=duplicate).exists()
    assert Subscription.objects.filter(user=viewer, incident=primary).exists()  # still there too
    assert duplicate.timeline.filter(kind="duplicate").last().text == (
        f"Not a duplicate of {primary.ref} after all: Different cause: the CDN."
    )
    again = clients["responder"].post(f"/incidents/{duplicate.ref}/duplicate/undo/", {"reason": "x"}, follow=True)
    assert f"{duplicate.ref} is not a duplicate." in again.content.decode()


def test_a_restricted_primary_stays_need_to_know(clients, duplicate, responder, manager, reporter):
    breach = make_incident(by=manager, title="Card data exposed", restricted=True, service=duplicate.service)
    assert f"There is no incident {breach.ref}." in mark(clients["responder"], duplicate, breach.ref).content.decode()
    workflow.mark_duplicate(duplicate, primary=breach, by=manager)
    banner = clients["viewer"].get(f"/incidents/{duplicate.ref}/").content.decode()
    assert "A duplicate of a restricted incident: closed into it." in banner and breach.ref not in banner
    told = Notification.objects.get(recipient="vic@example.com", channel="email")
    assert told.subject.endswith("— Duplicate of a restricted incident") and breach.ref not in told.body_text


def test_the_alert_group_moves_to_a_primary_without_one_and_new_alerts_join_it(am, primary, responder):  # noqa: F811
    payload = load("firing")
    assert am.post(payload).status_code == 200
    opened = Incident.objects.get(alert_group__isnull=False)
    workflow.mark_duplicate(opened, primary=primary, by=responder)
    assert AlertGroup.objects.get().incident_id == primary.pk
    more = dict(payload, alerts=[dict(payload["alerts"][0], fingerprint="ffff000011112222")])
    assert am.post(more).status_code == 200
    assert Incident.objects.count() == 2  # no new incident
    assert primary.timeline.filter(kind="alert_fired").exists()
    opened.refresh_from_db()
    workflow.undo_duplicate(opened, by=responder, reason="Not the same.")
    assert AlertGroup.objects.get().incident_id == opened.pk


def test_when_the_primary_has_its_own_alerts_new_ones_of_the_duplicates_group_still_join_it(
    am,  # noqa: F811
    responder,
):
    first = load("firing")
    assert am.post(first).status_code == 200
    other_group = dict(first, groupKey='{}:{alertname="Other"}')
    other_group["alerts"] = [dict(first["alerts"][0], fingerprint="aaaa000011112222")]
    assert am.post(other_group).status_code == 200
    primary, duplicate = Incident.objects.order_by("pk")
    workflow.mark_duplicate(duplicate, primary=primary, by=responder)
    assert AlertGroup.objects.get(incident=duplicate).group_key == '{}:{alertname="Other"}'
    more = dict(other_group, alerts=[dict(other_group["alerts"][0], fingerprint="bbbb000011112222")])
    assert am.post(more).status_code == 200
    assert Incident.objects.count() == 2
    assert primary.timeline.filter(kind="alert_fired").count() == 2


def test_a_duplicate_leaves_the_open_lists(clients, primary, duplicate, responder):
    workflow.mark_duplicate(duplicate, primary=primary, by=responder)
    board = clients["responder"].get("/").content.decode()
    assert duplicate.title not in board and primary.title in board
    assert ServiceFactory  # the factory module stays importable for the fixtures above


def test_an_incident_with_a_large_id_cannot_be_a_duplicate_of_itself(primary):
    big = with_large_id(primary, 100003)
    with pytest.raises(workflow.InvalidTransition, match="An incident cannot be a duplicate of itself."):
        workflow.mark_duplicate(
            Incident.objects.get(pk=big.pk),
            primary=Incident.objects.get(pk=big.pk),
            by=make_user("ray", roles.RESPONDER),
        )
    assert Incident.objects.get(pk=big.pk).duplicate_of_id is None


def test_a_duplicate_of_a_primary_with_a_large_id_can_be_undone(primary, duplicate, responder):
    big = with_large_id(primary, 100005)
    workflow.mark_duplicate(duplicate, primary=Incident.objects.get(pk=big.pk), by=responder)
    undone = workflow.undo_duplicate(Incident.objects.get(pk=duplicate.pk), by=responder, reason="Not the same.")
    assert (undone.duplicate_of_id, undone.status) == (None, "reported")


def test_a_closed_incident_cannot_be_marked_a_duplicate(primary, reporter, responder, manager):
    done = make_incident(by=reporter, title="Old outage", service=primary.service)
    workflow.resolve(done, by=responder, summary="ok", confirmed=True)
    workflow.close(done, by=manager)
    with pytest.raises(workflow.InvalidTransition, match=f"^{done.ref} is closed.$"):
        workflow.mark_duplicate(Incident.objects.get(pk=done.pk), primary=primary, by=responder)
    done.refresh_from_db()
    assert (done.status, done.duplicate_of_id) == ("closed", None)


def test_followers_who_already_follow_the_primary_are_not_added_twice_and_are_not_counted(
    primary, duplicate, viewer, responder, manager
):
    Subscription.objects.create(user=viewer, incident=primary)  # vic follows both
    Subscription.objects.create(user=manager, incident=primary)  # only the primary
    workflow.mark_duplicate(duplicate, primary=primary, by=responder, reason="Same 500s.")
    followers = Subscription.objects.filter(incident=primary).values_list("user__username", flat=True)
    assert sorted(followers) == ["maya", "otto", "rob", "vic"]
    entry = primary.timeline.get(kind="duplicate")
    assert entry.data["followers_added"] == 2  # otto (its reporter) and rob (who marked it)
    assert entry.text == (
        f"{duplicate.ref} was marked a duplicate of this incident; its followers follow this one now.\n\nSame 500s."
    )


def test_without_a_reason_the_primarys_entry_says_only_what_happened(primary, duplicate, responder):
    workflow.mark_duplicate(duplicate, primary=primary, by=responder)
    assert primary.timeline.get(kind="duplicate").text == (
        f"{duplicate.ref} was marked a duplicate of this incident; its followers follow this one now."
    )


def test_undo_restores_the_status_it_had_and_follows_again_without_doubling(
    primary, duplicate, viewer, responder, manager
):
    workflow.mark_duplicate(duplicate, primary=primary, by=responder)
    Subscription.objects.create(user=viewer, incident=duplicate)  # vic follows the closed duplicate again
    Subscription.objects.create(user=manager, incident=duplicate)  # maya did not before: she starts to
    undone = workflow.undo_duplicate(duplicate, by=responder, reason="Different cause.")
    assert undone.status == "reported"  # as it was, not acknowledged
    followers = Subscription.objects.filter(incident=duplicate).values_list("user__username", flat=True)
    assert sorted(followers) == ["maya", "otto", "rob", "vic"]


def test_a_restricted_duplicate_is_not_named_on_an_unrestricted_primary(primary, manager):
    secret = make_incident(by=manager, title="Card data exposed", restricted=True, service=primary.service)
    workflow.mark_duplicate(secret, primary=primary, by=manager)
    workflow.undo_duplicate(secret, by=manager, reason="Different cause.")
    texts = list(primary.timeline.filter(kind="duplicate").order_by("pk").values_list("text", flat=True))
    assert texts == [
        "A restricted incident was marked a duplicate of this incident; its followers follow this one now.",
        "A restricted incident is no longer a duplicate of this incident: Different cause.",
    ]


def test_undoing_a_duplicate_of_a_restricted_primary_does_not_name_it(duplicate, manager):
    breach = make_incident(by=manager, title="Card data exposed", restricted=True, service=duplicate.service)
    workflow.mark_duplicate(duplicate, primary=breach, by=manager)
    workflow.undo_duplicate(duplicate, by=manager, reason="Different cause.")
    assert duplicate.timeline.filter(kind="duplicate").order_by("pk").last().text == (
        "Not a duplicate of a restricted incident after all: Different cause."
    )


def test_undo_leaves_the_moved_group_on_the_primary_when_the_duplicate_has_one_again(
    am,  # noqa: F811
    primary,
    responder,
):
    assert am.post(load("firing")).status_code == 200
    opened = Incident.objects.get(alert_group__isnull=False)
    workflow.mark_duplicate(opened, primary=primary, by=responder)
    moved = AlertGroup.objects.get()
    own = AlertGroup.objects.create(integration=moved.integration, group_key="{}:{other}", incident=opened)
    workflow.undo_duplicate(opened, by=responder, reason="Not the same.")
    assert dict(AlertGroup.objects.values_list("pk", "incident_id")) == {moved.pk: primary.pk, own.pk: opened.pk}


def test_the_duplicates_lead_hears_of_it_once_as_of_any_change(primary, duplicate, responder, other_responder):
    workflow.set_lead(duplicate, by=other_responder, lead=other_responder)
    Subscription.objects.filter(user=other_responder).delete()  # leads it without following it
    workflow.mark_duplicate(duplicate, primary=primary, by=responder)
    entry = duplicate.timeline.get(kind="duplicate")
    told = Notification.objects.filter(event_key=f"entry:{entry.pk}", channel="email").order_by("recipient")
    assert list(told.values_list("recipient", flat=True)) == ["ola@example.com", "otto@example.com", "vic@example.com"]


def test_undoing_tells_the_duplicates_lead_it_is_no_longer_a_duplicate(primary, duplicate, responder, other_responder):
    workflow.set_lead(duplicate, by=other_responder, lead=other_responder)
    workflow.mark_duplicate(duplicate, primary=primary, by=responder)
    workflow.undo_duplicate(duplicate, by=responder, reason="Different cause.")
    undone = duplicate.timeline.filter(kind="duplicate").order_by("pk").last()
    email = Notification.objects.get(event_key=f"entry:{undone.pk}", channel="email")
    assert email.recipient == other_responder.email
    assert email.subject.endswith(f"— No longer a duplicate of {primary.ref}")


def test_who_marks_it_is_not_told_of_their_own_act_even_without_following(primary, duplicate):
    bot = make_user("triage-bot")  # may respond and see, may not follow: never a follower
    bot.user_permissions.add(
        *Permission.objects.filter(
            codename__in=[roles.codename(roles.RESPOND_INCIDENT), roles.codename(roles.VIEW_INCIDENT)]
        )
    )
    bot = type(bot).objects.get(pk=bot.pk)
    workflow.mark_duplicate(duplicate, primary=primary, by=bot)
    entry = duplicate.timeline.get(kind="duplicate")
    assert bot.pk not in entry.data["followers"]
    told = Notification.objects.filter(event_key=f"entry:{entry.pk}", channel="email")
    assert sorted(told.values_list("recipient", flat=True)) == ["otto@example.com", "vic@example.com"]


def test_the_email_about_an_undone_duplicate_never_names_a_restricted_primary(duplicate, manager, other_responder):
    """Found by mutation testing (outbox._headline's fallback): the undo entry must carry what the
    emails may call the primary, as the marking entry does."""
    breach = make_incident(by=manager, title="Card data exposed", restricted=True, service=duplicate.service)
    workflow.set_lead(duplicate, by=other_responder, lead=other_responder)
    workflow.mark_duplicate(duplicate, primary=breach, by=manager)
    workflow.undo_duplicate(duplicate, by=manager, reason="Different cause.")
    undone = duplicate.timeline.filter(kind="duplicate", data__action="undone").get()
    (email,) = Notification.objects.filter(event_key=f"entry:{undone.pk}", recipient="ola@example.com")
    assert email.subject.endswith("— No longer a duplicate of a restricted incident")
    assert breach.ref not in email.subject and breach.ref not in email.body_text
