"""The four roles of DESIGN.md, as Django groups and model permissions.

The data migration creates the groups; `sync_roles` also runs after every `migrate`
so that permissions of models added later reach the groups too. It only adds: a
manager's own changes to a group in the admin are kept.
"""

REPORTER = "Reporter"
RESPONDER = "Responder"
MANAGER = "Manager"
VIEWER = "Viewer"
ROLES = [REPORTER, RESPONDER, MANAGER, VIEWER]

_READ = [
    "incidents.view_incident",
    "incidents.view_service",
    "incidents.view_timelineentry",
    "incidents.follow_incident",
    # Their own personal API tokens, which act with their role (incidents/token_views.py).
    "incidents.add_apitoken",
    "reviews.view_review",
    "reviews.view_actionitem",
    "reviews.view_runbookrevision",
]
_REPORT = [
    "incidents.add_incident",
    "incidents.edit_own_report",
    "incidents.note_own_incident",
]
_RESPOND = [
    "incidents.change_incident",
    "incidents.respond_incident",
    "incidents.add_timelineentry",
    "reviews.write_review",
    "reviews.edit_runbook",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    VIEWER: _READ,
    REPORTER: _READ + _REPORT,
    RESPONDER: _READ + _REPORT + _RESPOND,
    # Managers may do everything in Beacon's own apps, plus manage users and groups.
    MANAGER: [
        "incidents.*",
        "reviews.*",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
        "auth.change_group",
        "django_tasks_db.view_dbtaskresult",
    ],
}


def sync_roles(Group, Permission) -> None:
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = Permission.objects.none()
        for perm in perms:
            app_label, codename = perm.split(".")
            if codename == "*":
                wanted |= Permission.objects.filter(content_type__app_label=app_label)
            else:
                wanted |= Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        group.permissions.add(*wanted)


def sync_roles_after_migrate(sender, **kwargs) -> None:
    from django.contrib.auth.models import Group, Permission

    sync_roles(Group, Permission)
