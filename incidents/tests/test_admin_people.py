"""Managers give roles and switch accounts on or off; superuser flags and raw permissions are
for superusers only, and a superuser's account is out of a manager's reach."""

from django.contrib.auth.models import Group, Permission, User

from conftest import make_user


def user_form(user: User, **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "groups": [g.pk for g in user.groups.all()],
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    data.update(changes)
    return data


def test_a_manager_cannot_make_anyone_superuser_staff_or_give_raw_permissions(clients, manager, reporter):
    delete_users = Permission.objects.get(codename="delete_user")
    for target in (reporter, manager):
        page = clients["manager"].get(f"/admin/auth/user/{target.pk}/change/").content.decode()
        assert 'name="is_superuser"' not in page and 'name="is_staff"' not in page
        assert 'name="user_permissions"' not in page
        response = clients["manager"].post(
            f"/admin/auth/user/{target.pk}/change/",
            user_form(target, is_superuser="on", is_staff="on", user_permissions=[delete_users.pk]),
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        target = User.objects.get(pk=target.pk)
        assert not target.is_superuser and not target.is_staff
        assert not target.user_permissions.exists()


def test_a_manager_gives_roles_and_switches_accounts_off(clients, nobody):
    responder_role = Group.objects.get(name="Responder")
    response = clients["manager"].post(
        f"/admin/auth/user/{nobody.pk}/change/", user_form(nobody, groups=[responder_role.pk], is_active="")
    )
    assert response.status_code == 302
    nobody = User.objects.get(pk=nobody.pk)
    assert list(nobody.groups.all()) == [responder_role] and not nobody.is_active


def test_a_manager_cannot_edit_a_superuser_nor_set_their_password(clients, db):
    boss = make_user("root", is_superuser=True, is_staff=True)
    page = clients["manager"].get(f"/admin/auth/user/{boss.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    edit = clients["manager"].post(f"/admin/auth/user/{boss.pk}/change/", user_form(boss, is_active=""))
    assert edit.status_code == 403
    password = clients["manager"].post(
        f"/admin/auth/user/{boss.pk}/password/", {"password1": "Taken-over-123", "password2": "Taken-over-123"}
    )
    assert password.status_code == 403
    boss = User.objects.get(pk=boss.pk)
    assert boss.is_active and boss.check_password("pw")


def test_a_manager_cannot_change_what_a_role_may_do(clients, db):
    role = Group.objects.get(name="Viewer")
    before = set(role.permissions.values_list("pk", flat=True))
    everything = list(Permission.objects.values_list("pk", flat=True))
    response = clients["manager"].post(
        f"/admin/auth/group/{role.pk}/change/", {"name": "Viewer", "permissions": everything}
    )
    assert response.status_code == 403
    assert set(role.permissions.values_list("pk", flat=True)) == before
    assert clients["manager"].get(f"/admin/auth/group/{role.pk}/change/").status_code == 200


def test_a_superuser_still_sets_every_field(client, reporter):
    root = make_user("root", is_superuser=True, is_staff=True)
    client.force_login(root)
    response = client.post(f"/admin/auth/user/{reporter.pk}/change/", user_form(reporter, is_staff="on"))
    assert response.status_code == 302
    assert User.objects.get(pk=reporter.pk).is_staff
