"""incidents/roles.py: the permission names, as the queries that use them see them."""

from conftest import make_user
from incidents import people, roles


def test_codename_is_the_part_after_the_app_label():
    assert roles.codename(roles.RESPOND_INCIDENT) == "respond_incident"
    assert roles.codename(roles.WRITE_REVIEW) == "write_review"


def test_the_people_who_may_lead_are_the_active_responders_and_managers(responder, manager, reporter, viewer):
    gone = make_user("gone", roles.RESPONDER, is_active=False)
    assert set(people.responders()) == {responder, manager}
    assert gone not in people.responders()
