"""incidents/access.py beyond the role matrix of test_permissions.py: the decorator, who may be told
about a restricted incident, and the admin's rows about incidents."""

from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.views.decorators.csrf import csrf_exempt

from conftest import make_user
from incidents import roles, workflow
from incidents.access import allowed_user_ids, may_see, role_required
from incidents.models import IncidentType, Subscription
from incidents.tests.factories import ServiceFactory, make_incident


def test_role_required_keeps_the_views_name_and_markers():
    @csrf_exempt
    def follow_list(request):
        """The list of what I follow."""

    wrapped = role_required(roles.VIEW_INCIDENT)(follow_list)
    # Django reads markers such as csrf_exempt off the view it is given; tracebacks show the name.
    assert wrapped.csrf_exempt is True
    assert (wrapped.__name__, wrapped.__doc__) == ("follow_list", "The list of what I follow.")


def view_restricted_directly(user):
    user.user_permissions.add(Permission.objects.get(codename=roles.codename(roles.VIEW_RESTRICTED)))


def test_everyone_allowed_to_see_a_restricted_incident_may_be_told_and_no_one_else(
    reporter, responder, other_responder, manager, viewer
):
    security = make_user("sam", roles.RESPONDER)
    security.groups.add(Group.objects.get(name=roles.SECURITY))
    granted = make_user("gus", roles.VIEWER)
    view_restricted_directly(granted)
    admin = make_user("root", is_superuser=True)
    participant = make_user("pia", roles.RESPONDER)
    left = make_user("lou", roles.MANAGER, is_active=False)
    incident = make_incident(by=reporter, type=IncidentType.objects.get(slug="security"))
    workflow.add_participant(incident, by=manager, user=participant)
    workflow.set_lead(incident, by=manager, lead=other_responder)
    incident.refresh_from_db()
    assert incident.restricted
    everyone = {u.pk for u in (reporter, responder, other_responder, manager, viewer, security, granted)}
    everyone |= {admin.pk, participant.pk, left.pk}
    # Reporter, lead, participant, the Security group, managers, a direct grant, a superuser; not
    # a responder or viewer without a reason, nor an account no longer active.
    allowed = {reporter.pk, other_responder.pk, participant.pk, security.pk, manager.pk, granted.pk, admin.pk}
    assert allowed_user_ids(incident, everyone) == allowed
    # Not restricted: everyone asked about.
    workflow.lift_restriction(incident, by=manager, reason="Not a security matter after all.")
    incident.refresh_from_db()
    assert allowed_user_ids(incident, everyone) == everyone


def test_two_reasons_at_once_to_be_told_of_a_restricted_incident_are_as_good_as_one(reporter, responder, manager):
    """Each user below holds two of the reasons; the rule must not cancel one with the other."""
    security = Group.objects.get(name=roles.SECURITY)
    admin = make_user("root", is_superuser=True)
    admin.groups.add(security)  # a superuser who is also in the Security group
    view_restricted_directly(reporter)  # the reporter, granted view_restricted_incident directly too
    both = make_user("sue")  # in the Security group only, and granted its permission directly as well
    both.groups.add(security)
    view_restricted_directly(both)
    incident = make_incident(by=reporter, type=IncidentType.objects.get(slug="security"))
    workflow.add_participant(incident, by=manager, user=responder)
    workflow.set_lead(incident, by=manager, lead=responder)  # a participant who now leads it
    incident.refresh_from_db()
    assert incident.restricted
    two_reasons = {admin.pk, reporter.pk, responder.pk, both.pk}
    assert allowed_user_ids(incident, two_reasons) == two_reasons


def test_an_account_no_longer_active_sees_no_restricted_incident_not_even_its_own(reporter, viewer):
    incident = make_incident(by=reporter, type=IncidentType.objects.get(slug="security"))
    assert may_see(reporter, incident) and not may_see(viewer, incident)
    reporter.is_active = False
    reporter.save()
    assert not may_see(reporter, incident)
    assert may_see(reporter, make_incident(by=None))  # an unrestricted one: its role aside, yes


def test_the_admins_lists_of_rows_about_incidents_keep_the_rows_about_none(reporter, responder, manager):
    """Subscriptions to a service point at no incident: everyone who may use the list sees them;
    rows about incidents follow need-to-know."""
    checkout = ServiceFactory(name="Checkout")
    open_one = make_incident(by=reporter, service=checkout)
    secret = make_incident(by=reporter, service=checkout, type=IncidentType.objects.get(slug="security"))
    rows = [
        Subscription.objects.create(user=responder, service=checkout),
        Subscription.objects.create(user=responder, incident=open_one),
        Subscription.objects.create(user=reporter, incident=secret),
    ]
    auditor = make_user("audrey", roles.VIEWER, is_staff=True)
    auditor.user_permissions.add(
        Permission.objects.get(codename="view_subscription"), Permission.objects.get(codename="access_admin")
    )

    def listed(user) -> set:
        client = Client()
        client.force_login(user)
        response = client.get("/admin/incidents/subscription/")
        assert response.status_code == 200
        return set(response.context["cl"].result_list)

    assert listed(manager) == set(rows)
    assert listed(auditor) == set(rows[:2])
