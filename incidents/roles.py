"""The four roles (Viewer, Reporter, Responder, Manager), as Django groups and model permissions.
Every permission name Beacon checks is spelled here, once; code uses these constants.

The data migration creates the groups; `sync_roles` also runs after every `migrate`
so that permissions of models added later reach the groups too. It only adds: a
manager's own changes to a group in the admin are kept.
"""

REPORTER = "Reporter"
RESPONDER = "Responder"
MANAGER = "Manager"
VIEWER = "Viewer"
ROLES = [REPORTER, RESPONDER, MANAGER, VIEWER]
# Not a role but a group beside them: its members see every restricted incident (need-to-know,
# incidents/access.py) and may lift restrictions. Give its members a role as well.
SECURITY = "Security"

# --- permission names ("app_label.codename") ---------------------------------------------
ACCESS_ADMIN = "incidents.access_admin"
ADD_APITOKEN = "incidents.add_apitoken"
ADD_ESCALATIONPOLICY = "incidents.add_escalationpolicy"
ADD_INCIDENT = "incidents.add_incident"
ADD_MAINTENANCEWINDOW = "incidents.add_maintenancewindow"
ADD_OVERRIDE = "incidents.add_override"
ADD_ROTATION = "incidents.add_rotation"
ADD_SILENCE = "incidents.add_silence"
ADD_TIMELINEENTRY = "incidents.add_timelineentry"
CHANGE_ESCALATIONPOLICY = "incidents.change_escalationpolicy"
CHANGE_INCIDENT = "incidents.change_incident"
CHANGE_RETENTION = "incidents.change_retentionpolicy"
CHANGE_ROTATION = "incidents.change_rotation"
# Global managers: every team, its members and what it owns (incidents/teams.py: may_configure).
ADD_TEAM = "incidents.add_team"
CHANGE_TEAM = "incidents.change_team"
CLOSE_INCIDENT = "incidents.close_incident"
DELETE_ESCALATIONPOLICY = "incidents.delete_escalationpolicy"
DELETE_OVERRIDE = "incidents.delete_override"
EDIT_OWN_REPORT = "incidents.edit_own_report"
FOLLOW_INCIDENT = "incidents.follow_incident"
NOTE_OWN_INCIDENT = "incidents.note_own_incident"
RESPOND_INCIDENT = "incidents.respond_incident"
VIEW_ESCALATIONPOLICY = "incidents.view_escalationpolicy"
VIEW_INCIDENT = "incidents.view_incident"
VIEW_RESTRICTED = "incidents.view_restricted_incident"
VIEW_NOTIFICATION = "incidents.view_notification"
VIEW_OVERRIDE = "incidents.view_override"
VIEW_ROTATION = "incidents.view_rotation"
VIEW_SERVICE = "incidents.view_service"
VIEW_TIMELINEENTRY = "incidents.view_timelineentry"
EDIT_RUNBOOK = "reviews.edit_runbook"
PUBLISH_REVIEW = "reviews.publish_review"
VIEW_ACTIONITEM = "reviews.view_actionitem"
VIEW_REVIEW = "reviews.view_review"
VIEW_RUNBOOKREVISION = "reviews.view_runbookrevision"
WRITE_REVIEW = "reviews.write_review"


def codename(perm: str) -> str:
    """ "incidents.respond_incident" -> "respond_incident", for queries on Permission."""
    return perm.split(".", 1)[1]


_READ = [
    VIEW_INCIDENT,
    VIEW_SERVICE,
    VIEW_TIMELINEENTRY,
    FOLLOW_INCIDENT,
    # Their own personal API tokens, which act with their role (incidents/api/tokens.py).
    ADD_APITOKEN,
    VIEW_REVIEW,
    VIEW_ACTIONITEM,
    VIEW_RUNBOOKREVISION,
    # Who is on call: everybody with a role may see it (incidents/oncall/views.py).
    VIEW_ROTATION,
    VIEW_OVERRIDE,
    # Who will be paged next: everybody with a role may read the escalation policies.
    VIEW_ESCALATIONPOLICY,
]
_REPORT = [
    ADD_INCIDENT,
    EDIT_OWN_REPORT,
    NOTE_OWN_INCIDENT,
]
_RESPOND = [
    CHANGE_INCIDENT,
    RESPOND_INCIDENT,
    ADD_TIMELINEENTRY,
    WRITE_REVIEW,
    EDIT_RUNBOOK,
    # Silence a noisy alert from its panel, and lift a silence (incidents/maintenance/).
    ADD_SILENCE,
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
        # Sign-in lockouts (django-axes): see them, and lift one by deleting it.
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        # The audit log of configuration changes (incidents/audit.py): read only.
        "auditlog.view_logentry",
    ],
}

# Groups that are not roles, with what membership adds.
GROUP_PERMISSIONS: dict[str, list[str]] = {
    SECURITY: [VIEW_RESTRICTED],
}


def sync_roles(Group, Permission) -> None:
    for role, perms in {**ROLE_PERMISSIONS, **GROUP_PERMISSIONS}.items():
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
