"""Escalation policy pages: list, preview, create and edit with steps (no JavaScript: "Add a
step" is a submit button), delete, who may do what (team managers: their team's policies), the
audit log, bad input, the incident page's panel and bounded queries."""

import datetime as dt

import pytest
import time_machine
from auditlog.models import LogEntry

from conftest import make_user
from incidents import roles
from incidents.models import EscalationPolicy, EscalationStep, Team, TeamMembership
from incidents.oncall import paging, policies
from incidents.oncall.tests.data import make_policy, make_rotation
from incidents.tests.factories import ServiceFactory, make_incident

NOON = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)  # ola is on call (daily from 2026-01-05, rob first)
Target = EscalationStep.Target


def form_data(*steps, **fields):
    data = {
        "name": "Checkout urgent",
        "description": "",
        "severities": ["critical", "high"],
        "repeat": "0",
        "skip_unreachable": "on",
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "20",
    }
    for i, step in enumerate(steps):
        for key, value in step.items():
            data[f"steps-{i}-{key}"] = value
        data.setdefault(f"steps-{i}-ORDER", str(i + 1))
    data.update(fields)
    return data


@pytest.fixture
def world(db, responder, other_responder, manager, reporter):
    checkout = ServiceFactory(name="Checkout")
    rotation = make_rotation("Checkout primary", members=[responder, other_responder], services=[checkout])
    return {"checkout": checkout, "rotation": rotation}


def test_manager_creates_a_policy_with_steps_and_services_and_the_audit_log_records_it(client, manager, world):
    client.force_login(manager)
    data = form_data(
        {"target": "on_call", "delay_minutes": "5", "rotation": str(world["rotation"].pk)},
        {"target": "managers", "delay_minutes": "10"},
        services=[str(world["checkout"].pk)],
    )
    response = client.post("/oncall/policies/new/", data)
    policy = EscalationPolicy.objects.get(name="Checkout urgent")
    assert response.status_code == 302 and response["Location"] == f"/oncall/policies/{policy.pk}/"
    assert [(s.position, s.target, s.delay_minutes, s.rotation_id) for s in policy.steps.all()] == [
        (0, "on_call", 5, world["rotation"].pk),
        (1, "managers", 10, None),
    ]
    world["checkout"].refresh_from_db()
    assert world["checkout"].escalation_policy == policy
    logged = {e.content_type.model for e in LogEntry.objects.filter(actor=manager)}
    assert {"escalationpolicy", "escalationstep", "service"} <= logged


def test_add_a_step_is_a_submit_button_that_keeps_what_was_typed(client, manager, world):
    client.force_login(manager)
    data = form_data({"target": "managers", "delay_minutes": "5"}, add_step="1")
    response = client.post("/oncall/policies/new/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="steps-TOTAL_FORMS" value="2"' in html
    assert "Step 2" in html and 'name="steps-1-target"' in html
    assert not EscalationPolicy.objects.filter(name="Checkout urgent").exists()


@pytest.mark.parametrize(
    "step, field, message",
    [
        ({"target": "managers", "delay_minutes": "-5"}, "delay_minutes", "A delay is zero or more minutes."),
        ({"target": "", "delay_minutes": "5"}, "target", "Choose whom this step pages."),
        ({"target": "user", "delay_minutes": "5"}, "user", "Choose the person this step pages."),
        (
            {"target": "on_call", "delay_minutes": "5", "rotation": "999999"},
            "rotation",
            "That rotation does not exist (any more): choose one from the list.",
        ),
        ({"target": "managers", "delay_minutes": "soon"}, "delay_minutes", "Enter the delay in whole minutes, like 5."),
        ({"target": "managers", "delay_minutes": "2000"}, "delay_minutes", "A delay is at most 1440 minutes (a day)."),
    ],
)
def test_bad_steps_are_refused_with_a_clear_message_and_nothing_is_written(
    client, manager, world, step, field, message
):
    client.force_login(manager)
    before = (EscalationPolicy.objects.count(), EscalationStep.objects.count())
    response = client.post("/oncall/policies/new/", form_data(step))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert (EscalationPolicy.objects.count(), EscalationStep.objects.count()) == before


def test_a_policy_needs_a_step_and_a_delay_where_the_settings_have_none(client, manager, world):
    client.force_login(manager)
    response = client.post("/oncall/policies/new/", form_data())
    assert "A policy needs at least one step." in response.content.decode()
    response = client.post(
        "/oncall/policies/new/", form_data({"target": "managers", "delay_minutes": ""}, severities=["medium"])
    )
    assert response.status_code == 422
    assert "Give every step a delay: Medium has no delay of its own in the settings" in response.content.decode()
    response = client.post("/oncall/policies/new/", form_data({"target": "managers"}, repeat="11"))
    assert "Repeat 0 to 10 times." in response.content.decode()
    assert EscalationPolicy.objects.count() == 1  # the default only


def test_only_one_default_and_the_default_cannot_be_deleted(client, manager, world):
    client.force_login(manager)
    response = client.post("/oncall/policies/new/", form_data({"target": "managers"}, is_default="on"))
    assert "“Default” is already the default policy; only one may be." in response.content.decode()
    default = EscalationPolicy.objects.get(is_default=True)
    response = client.post(f"/oncall/policies/{default.pk}/delete/", follow=True)
    assert "The default policy cannot be deleted" in response.content.decode()
    assert EscalationPolicy.objects.filter(pk=default.pk).exists()


def test_deleting_a_policy_moves_its_services_to_the_default(client, manager, world):
    policy = make_policy(steps=[{"target": Target.MANAGERS}], services=[world["checkout"]])
    client.force_login(manager)
    response = client.post(f"/oncall/policies/{policy.pk}/delete/")
    assert response.status_code == 302
    world["checkout"].refresh_from_db()
    assert world["checkout"].escalation_policy is None
    assert paging.policy_for(world["checkout"]).is_default


def test_the_incident_page_reads_policies_from_the_cache_and_a_change_drops_it(
    world, other_responder, django_assert_num_queries
):
    checkout = world["checkout"]
    policy = make_policy(steps=[{"target": Target.MANAGERS}], services=[checkout], severities=["critical"])
    checkout.refresh_from_db()
    assert paging.policy_summary(checkout).pk == policy.pk
    with django_assert_num_queries(0):
        assert not paging.policy_summary(checkout).escalates("low")
    policy.severities = ["critical", "low"]
    policy.save()
    assert paging.policy_summary(checkout).escalates("low")
    assert [s.target for s in paging.policy_summary(checkout).steps.all()] == [Target.MANAGERS]
    policy.steps.create(position=1, target=Target.USER, user=other_responder, delay_minutes=3)
    assert [s.target for s in paging.policy_summary(checkout).steps.all()] == [Target.MANAGERS, Target.USER]
    policy.delete()
    checkout.refresh_from_db()
    assert paging.policy_summary(checkout).is_default


def test_editing_reorders_deletes_and_changes_steps(client, manager, world, responder):
    policy = make_policy(
        steps=[{"target": Target.MANAGERS, "delay_minutes": 5}, {"target": Target.USER, "user": responder}]
    )
    first, second = policy.steps.all()
    client.force_login(manager)
    data = form_data(
        {"id": str(first.pk), "target": "managers", "delay_minutes": "5", "ORDER": "2", "DELETE": "on"},
        {"id": str(second.pk), "target": "user", "user": str(responder.pk), "delay_minutes": "3", "ORDER": "1"},
        {"target": "everyone", "delay_minutes": "7", "rotation": str(world["rotation"].pk), "ORDER": "2"},
        name=policy.name,
        **{"steps-INITIAL_FORMS": "2"},
    )
    response = client.post(f"/oncall/policies/{policy.pk}/edit/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert [(s.target, s.delay_minutes) for s in policy.steps.all()] == [("user", 3), ("everyone", 7)]


def test_team_managers_edit_their_teams_policies_only(client, responder, manager, world):
    ours, theirs = Team.objects.create(name="Payments"), Team.objects.create(name="Search")
    TeamMembership.objects.create(team=ours, user=responder, is_manager=True)
    mine = make_policy("Payments", steps=[{"target": Target.MANAGERS}], team=ours)
    other = make_policy("Search", steps=[{"target": Target.MANAGERS}], team=theirs)
    client.force_login(responder)
    assert client.get(f"/oncall/policies/{mine.pk}/edit/").status_code == 200
    assert client.get(f"/oncall/policies/{other.pk}/edit/").status_code == 403
    assert client.post(f"/oncall/policies/{other.pk}/delete/").status_code == 403
    # A new policy must be one of their teams', and cannot be the default.
    response = client.post("/oncall/policies/new/", form_data({"target": "managers"}, team=str(theirs.pk)))
    assert "Choose one of your teams." in response.content.decode()
    response = client.post(
        "/oncall/policies/new/", form_data({"target": "managers"}, team=str(ours.pk), is_default="on")
    )
    assert response.status_code == 302
    assert not EscalationPolicy.objects.get(name="Checkout urgent").is_default
    assert policies.may_add(responder) and not policies.may_add(make_user("plain", roles.RESPONDER))


def test_preview_says_who_is_paged_when_and_how(client, responder, other_responder, manager, world):
    policy = make_policy(
        steps=[
            {"target": Target.ON_CALL, "delay_minutes": 5},
            {"target": Target.NEXT, "delay_minutes": 10},
            {"target": Target.MANAGERS, "delay_minutes": 10},
        ],
        services=[world["checkout"]],
    )
    client.force_login(responder)
    response = client.get(
        f"/oncall/policies/{policy.pk}/",
        {"severity": "critical", "at": "2026-01-14T12:00", "service": world["checkout"].pk},
    )
    assert response.status_code == 200
    rungs = response.context["rungs"]
    assert [(r.at.strftime("%H:%M"), [(p.name, p.channels) for p in r.paged]) for r in rungs] == [
        ("12:05", [("Ola Oncall", ["email"])]),
        ("12:15", [("Rob Responder", ["email"])]),
        ("12:25", [("Maya Manager", ["email"])]),
    ]
    html = response.content.decode()
    assert "Ola Oncall is paged by email" in html
    response = client.get(f"/oncall/policies/{policy.pk}/", {"severity": "low"})
    assert "does not escalate Low incidents" in response.content.decode()
    response = client.get(f"/oncall/policies/{policy.pk}/", {"severity": "apocalyptic", "at": "soon"})
    assert response.status_code == 400
    assert "Choose Critical, High, Medium or Low." in response.content.decode()


def test_list_and_preview_run_a_fixed_number_of_queries(client, manager, world, django_assert_max_num_queries):
    users = [make_user(f"user{i}", roles.RESPONDER) for i in range(12)]
    for i in range(12):
        rotation = make_rotation(f"R{i}", members=users[i:] + users[:i], services=[ServiceFactory(name=f"S{i}")])
        make_policy(
            f"P{i}",
            steps=[
                {"target": Target.ON_CALL, "rotation": rotation, "delay_minutes": 5},
                {"target": Target.EVERYONE, "rotation": rotation, "delay_minutes": 5},
                {"target": Target.USER, "user": users[i], "delay_minutes": 5},
                {"target": Target.MANAGERS, "delay_minutes": 5},
            ],
            repeat=3,
            services=[world["checkout"]] if i == 0 else [],
        )
    client.force_login(manager)
    with django_assert_max_num_queries(12):
        assert client.get("/oncall/policies/").status_code == 200
    policy = EscalationPolicy.objects.get(name="P3")
    with django_assert_max_num_queries(16):
        response = client.get(f"/oncall/policies/{policy.pk}/", {"severity": "critical"})
    assert len(response.context["rungs"]) == 16


def test_incident_panel_shows_who_was_paged_how_and_who_is_next(
    client, reporter, responder, other_responder, manager, world, django_assert_max_num_queries
):
    make_policy(
        steps=[{"target": Target.NEXT, "delay_minutes": 5}, {"target": Target.MANAGERS, "delay_minutes": 10}],
        repeat=10,
        services=[world["checkout"]],
    )
    with time_machine.travel(NOON, tick=False):
        incident = make_incident(by=reporter, service=world["checkout"], severity="critical")
    with time_machine.travel(NOON + dt.timedelta(minutes=5), tick=False):
        paging.escalation_step(incident.pk, 1)
    client.force_login(responder)
    with time_machine.travel(NOON + dt.timedelta(minutes=6), tick=False):
        context = policies.escalation_panel_context(None, incident)
        response = client.get(f"/incidents/{incident.ref}/")
    assert [(h["who"], h["step"], h["channels"]) for h in context["history"]] == [
        ("Ola Oncall", 0, [("Email", "Pending")]),
        ("Rob Responder", 1, [("Email", "Pending")]),
    ]
    [upcoming] = context["upcoming"]
    assert (upcoming.step, upcoming.at, [p.name for p in upcoming.paged]) == (
        2,
        NOON + dt.timedelta(minutes=15),
        ["Maya Manager"],
    )
    html = response.content.decode()
    assert 'id="escalation-panel"' in html and "Next, unless acknowledged" in html
    for i in range(10):
        assert paging.escalation_step(incident.pk, 2 + i, at=NOON + dt.timedelta(minutes=20 + i)) != "limit"
    assert incident.timeline.filter(kind="escalation").count() == 11
    # The panel's own queries, plus three for the paging rules of whoever is next, however many
    # (notifications.rules.prefetch_plans).
    with django_assert_max_num_queries(13):
        policies.escalation_panel_context(None, incident)
