"""incidents/roles.py: the permission names, as the queries that use them see them."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from conftest import make_user
from incidents import people, roles


def test_codename_is_the_part_after_the_app_label():
    assert roles.codename(roles.RESPOND_INCIDENT) == "respond_incident"
    assert roles.codename(roles.WRITE_REVIEW) == "write_review"


def test_the_people_who_may_lead_are_the_active_responders_and_managers(responder, manager, reporter, viewer):
    gone = make_user("gone", roles.RESPONDER, is_active=False)
    root = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    direct = get_user_model().objects.create_user("direct")
    app_label, codename = roles.RESPOND_INCIDENT.split(".")
    direct.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label=app_label))
    assert list(people.responders()) == sorted(
        {responder, manager, root, direct}, key=lambda u: (u.first_name, u.username)
    )
    assert gone not in people.responders()
