"""The role matrix: every URL, for anonymous, an account without a role, and each role.

incidents/roles.py and the README's roles table are the specification. A URL added without a row here fails
test_every_url_is_in_the_matrix.
"""

import pytest

from incidents.models import Team
from incidents.oncall.tests import data as oncall_data
from incidents.tests.factories import make_incident
from incidents.tests.urlconf import routes

ROLES = ["anonymous", "nobody", "reporter", "responder", "manager", "viewer"]
LOGIN = "login"  # a redirect to the sign-in page


def expect(anonymous, nobody, reporter, responder, manager, viewer):
    return dict(zip(ROLES, [anonymous, nobody, reporter, responder, manager, viewer], strict=True))


# (method, url template, expected answer per role). {ref} is an incident reported by the reporter;
# {public_ref} one shown on the status page.
MATRIX = [
    ("get", "/", expect(LOGIN, 200, 200, 200, 200, 200)),
    ("get", "/incidents/", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("get", "/incidents/new/", expect(LOGIN, 403, 200, 200, 200, 403)),
    # Open incidents like the one being reported: for those who may report.
    ("get", "/incidents/new/matches/?title=checkout", expect(LOGIN, 403, 200, 200, 200, 403)),
    ("get", "/incidents/{ref}/", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("get", "/incidents/INC-999999/", expect(LOGIN, 403, 404, 404, 404, 404)),
    ("get", "/incidents/{ref}/edit/", expect(LOGIN, 403, 200, 200, 200, 403)),
    # Exports: whoever sees the list or the incident (incidents/reports/exports.py).
    ("get", "/incidents/export.csv", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("get", "/incidents/export.json", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("get", "/incidents/export.csv?severity=urgent", expect(LOGIN, 403, 400, 400, 400, 400)),
    ("get", "/incidents/{ref}/export.json", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("get", "/incidents/{ref}/export.md", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("get", "/incidents/INC-999999/export.md", expect(LOGIN, 403, 404, 404, 404, 404)),
    ("get", "/incidents/{ref}/timeline/", expect(LOGIN, 403, 302, 302, 302, 302)),
    ("post", "/incidents/{ref}/note/", expect(LOGIN, 403, 302, 302, 302, 403)),
    ("post", "/incidents/{ref}/acknowledge/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("post", "/incidents/{ref}/take/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("post", "/incidents/{ref}/lead/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("post", "/incidents/{ref}/severity/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("post", "/incidents/{ref}/mitigate/", expect(LOGIN, 403, 403, 302, 302, 403)),
    # The user-impact window (error budgets): corrected by responders and managers, with a reason.
    ("post", "/incidents/{ref}/impact/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("post", "/incidents/{ref}/resolve/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("post", "/incidents/{ref}/reopen/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("post", "/incidents/{ref}/reactivate/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("post", "/incidents/{ref}/close/", expect(LOGIN, 403, 403, 403, 302, 403)),
    ("post", "/incidents/{ref}/update/", expect(LOGIN, 403, 403, 302, 302, 403)),
    # Who an update would reach (counts): for those who may post one.
    ("get", "/incidents/{ref}/update/audience/", expect(LOGIN, 403, 403, 200, 200, 403)),
    ("post", "/incidents/{ref}/update/audience/", expect(LOGIN, 403, 403, 405, 405, 403)),
    ("post", "/incidents/{ref}/visibility/", expect(LOGIN, 403, 403, 302, 302, 403)),
    # Need-to-know: responders restrict and add people; only the Security group and managers lift.
    ("post", "/incidents/{ref}/restrict/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("post", "/incidents/{ref}/unrestrict/", expect(LOGIN, 403, 403, 403, 302, 403)),
    ("post", "/incidents/{ref}/participants/", expect(LOGIN, 403, 403, 302, 302, 403)),
    # Related incidents: responders and managers link and unlink; everyone who sees both reads them.
    ("post", "/incidents/{ref}/links/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("post", "/incidents/{ref}/links/999999/remove/", expect(LOGIN, 403, 403, 302, 302, 403)),
    # One outage, one incident: responders and managers close a duplicate into its primary, and undo it.
    ("post", "/incidents/{ref}/duplicate/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("post", "/incidents/{ref}/duplicate/undo/", expect(LOGIN, 403, 403, 302, 302, 403)),
    # Response roles and tasks: responders and managers change them; everyone who sees the incident reads them.
    ("post", "/incidents/{ref}/roles/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("post", "/incidents/{ref}/tasks/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("post", "/incidents/{ref}/tasks/{task}/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("post", "/incidents/{ref}/tasks/999999/", expect(LOGIN, 403, 403, 404, 404, 403)),
    ("post", "/incidents/{ref}/follow/", expect(LOGIN, 403, 302, 302, 302, 302)),
    ("post", "/incidents/{ref}/unfollow/", expect(LOGIN, 403, 302, 302, 302, 302)),
    ("post", "/incidents/services/checkout/follow/", expect(LOGIN, 403, 302, 302, 302, 302)),
    ("post", "/incidents/services/checkout/unfollow/", expect(LOGIN, 403, 302, 302, 302, 302)),
    ("post", "/accounts/profile/notifications/", expect(LOGIN, 403, 302, 302, 302, 302)),
    # Paging channels, rules and quiet hours: every signed-in person edits their own (empty posts
    # are refused with the form; someone else's channel or rule, like a missing one, is a 404).
    ("get", "/accounts/profile/paging/", expect(LOGIN, 200, 200, 200, 200, 200)),
    ("post", "/accounts/profile/paging/channels/", expect(LOGIN, 422, 422, 422, 422, 422)),
    ("post", "/accounts/profile/paging/channels/999999/test/", expect(LOGIN, 404, 404, 404, 404, 404)),
    ("post", "/accounts/profile/paging/channels/999999/remove/", expect(LOGIN, 404, 404, 404, 404, 404)),
    ("post", "/accounts/profile/paging/rules/", expect(LOGIN, 422, 422, 422, 422, 422)),
    ("post", "/accounts/profile/paging/rules/999999/remove/", expect(LOGIN, 404, 404, 404, 404, 404)),
    ("post", "/accounts/profile/paging/quiet/", expect(LOGIN, 422, 422, 422, 422, 422)),
    # Follow every service of my teams (docs/teams.md): whoever may follow.
    ("post", "/accounts/profile/notifications/my-teams/", expect(LOGIN, 403, 302, 302, 302, 302)),
    # The signed token is the credential: the same answer for everyone (a forged token here).
    ("get", "/unsubscribe/forged-token/", expect(400, 400, 400, 400, 400, 400)),
    ("post", "/unsubscribe/forged-token/", expect(400, 400, 400, 400, 400, 400)),
    # Email action links: the signed token names the user it acts as (a forged one here);
    # incidents/notifications/tests/test_email_actions.py walks real links per role.
    ("get", "/email-actions/forged-token/", expect(400, 400, 400, 400, 400, 400)),
    ("post", "/email-actions/forged-token/", expect(400, 400, 400, 400, 400, 400)),
    ("get", "/admin/incidents/notification/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/subscription/", expect(LOGIN, 403, 403, 403, 200, 403)),
    # Reviews (reviews/tests/test_permissions.py walks them again with a review in every state).
    ("get", "/reviews/", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("get", "/reviews/actions/", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("get", "/reviews/{ref}/", expect(LOGIN, 403, 404, 404, 404, 404)),
    ("post", "/reviews/{ref}/start/", expect(LOGIN, 403, 403, 302, 302, 403)),
    ("get", "/reviews/{ref}/edit/", expect(LOGIN, 403, 403, 404, 404, 403)),
    ("post", "/reviews/{ref}/submit/", expect(LOGIN, 403, 403, 404, 404, 403)),
    ("post", "/reviews/{ref}/publish/", expect(LOGIN, 403, 403, 403, 404, 403)),
    ("post", "/reviews/{ref}/return/", expect(LOGIN, 403, 403, 403, 404, 403)),
    ("post", "/reviews/{ref}/public-summary/", expect(LOGIN, 403, 403, 403, 404, 403)),
    ("get", "/reviews/{ref}/markdown/", expect(LOGIN, 403, 404, 404, 404, 404)),
    ("post", "/reviews/{ref}/actions/add/", expect(LOGIN, 403, 403, 404, 404, 403)),
    ("get", "/accounts/login/", expect(200, 302, 302, 302, 302, 302)),
    ("post", "/accounts/logout/", expect(302, 302, 302, 302, 302, 302)),
    # Single sign-on (incidents/sso.py): not configured in the test settings, so not there at all.
    ("get", "/accounts/oidc/authenticate/", expect(404, 404, 404, 404, 404, 404)),
    ("get", "/accounts/oidc/callback/", expect(404, 404, 404, 404, 404, 404)),
    ("get", "/accounts/password/", expect(LOGIN, 200, 200, 200, 200, 200)),
    ("get", "/accounts/password/done/", expect(LOGIN, 200, 200, 200, 200, 200)),
    ("get", "/accounts/password/reset/", expect(200, 200, 200, 200, 200, 200)),
    ("get", "/accounts/password/reset/sent/", expect(200, 200, 200, 200, 200, 200)),
    ("get", "/accounts/password/reset/MQ/bad-token/", expect(200, 200, 200, 200, 200, 200)),
    ("get", "/accounts/password/reset/done/", expect(200, 200, 200, 200, 200, 200)),
    ("get", "/accounts/profile/", expect(LOGIN, 200, 200, 200, 200, 200)),
    ("get", "/healthz", expect(200, 200, 200, 200, 200, 200)),
    ("get", "/favicon.ico", expect(200, 200, 200, 200, 200, 200)),
    ("post", "/accounts/theme/", expect(LOGIN, 302, 302, 302, 302, 302)),
    ("get", "/status/", expect(200, 200, 200, 200, 200, 200)),
    ("get", "/status/feed.atom", expect(200, 200, 200, 200, 200, 200)),
    ("get", "/status/incidents/{public_ref}/", expect(200, 200, 200, 200, 200, 200)),
    # {ref} is internal: the public page answers 404 to everybody, staff included.
    ("get", "/status/incidents/{ref}/", expect(404, 404, 404, 404, 404, 404)),
    # The status page's email sign-up: public, no account (an empty form is refused with 422).
    ("get", "/status/subscribe/", expect(200, 200, 200, 200, 200, 200)),
    ("post", "/status/subscribe/", expect(422, 422, 422, 422, 422, 422)),
    ("get", "/status/subscribe/sent/", expect(200, 200, 200, 200, 200, 200)),
    ("get", "/status/subscribe/confirm/not-a-link/", expect(400, 400, 400, 400, 400, 400)),
    # "Report a problem": public, no account; the reports wait for responders and managers.
    ("get", "/status/report/", expect(200, 200, 200, 200, 200, 200)),
    ("post", "/status/report/", expect(422, 422, 422, 422, 422, 422)),
    ("get", "/status/report/thanks/", expect(200, 200, 200, 200, 200, 200)),
    ("get", "/status/report/confirm/not-a-link/", expect(400, 400, 400, 400, 400, 400)),
    ("get", "/incidents/user-reports/", expect(LOGIN, 403, 403, 200, 200, 403)),
    ("post", "/incidents/user-reports/", expect(LOGIN, 403, 403, 422, 422, 403)),
    ("get", "/accounts/tokens/", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("post", "/accounts/tokens/", expect(LOGIN, 403, 302, 302, 302, 302)),
    ("post", "/accounts/tokens/999999/revoke/", expect(LOGIN, 403, 404, 404, 404, 404)),
    # The API answers to bearer tokens only: a session cookie is no credential there
    # (incidents/tests/test_api_auth.py walks the same endpoints with each role's token).
    ("get", "/api/", expect(404, 404, 404, 404, 404, 404)),
    # The schema and its docs page are public (no data in them); the rest of /api/ answers 401 JSON.
    ("get", "/api/docs", expect(200, 200, 200, 200, 200, 200)),
    ("get", "/api/openapi.json", expect(200, 200, 200, 200, 200, 200)),
    ("get", "/api/incidents", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/api/incidents", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/api/incidents/{ref}", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/api/incidents/{ref}/updates", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/api/incidents/{ref}/acknowledge", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/api/incidents/{ref}/resolve", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/api/incidents/{ref}/roles", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/api/incidents/{ref}/roles", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/api/incidents/{ref}/tasks", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/api/incidents/{ref}/tasks/{task}", expect(401, 401, 401, 401, 401, 401)),
    # The workflow verbs, the timeline, following, types and on call (incidents/api/actions.py,
    # timeline.py, catalog.py; incidents/api/tests/test_auth.py has their token matrix).
    *[
        ("post", f"/api/incidents/{{ref}}/{verb}", expect(401, 401, 401, 401, 401, 401))
        for verb in ["take", "lead", "severity", "mitigate", "reopen", "reactivate", "close", "follow", "unfollow"]
    ],
    ("get", "/api/incidents/{ref}/updates", expect(401, 401, 401, 401, 401, 401)),
    ("patch", "/api/incidents/{ref}", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/api/incidents/{ref}/timeline", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/api/incidents/{ref}/notes", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/api/incidents/{ref}/notes", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/api/incidents/{ref}/followers", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/api/types", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/api/types/downtime", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/api/oncall", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/api/oncall/load", expect(401, 401, 401, 401, 401, 401)),
    # Maintenance windows and silences (incidents/maintenance/api.py; its tests walk them with tokens).
    ("get", "/api/maintenance-windows", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/api/maintenance-windows", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/api/maintenance-windows/999999/cancel", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/api/silences", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/api/silences", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/api/silences/999999/cancel", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/api/escalation-policies", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/api/escalation-policies/1", expect(401, 401, 401, 401, 401, 401)),
    # Reviews and action items (reviews/api.py; reviews/tests/test_api.py walks them with tokens).
    ("get", "/api/incidents/{ref}/review", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/api/incidents/{ref}/review", expect(401, 401, 401, 401, 401, 401)),
    ("put", "/api/incidents/{ref}/review", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/api/incidents/{ref}/review/action-items", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/api/action-items", expect(401, 401, 401, 401, 401, 401)),
    ("patch", "/api/action-items/999999", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/api/action-items/999999/state", expect(401, 401, 401, 401, 401, 401)),
    # Prometheus scrapes it without a session; METRICS_TOKEN (unset here) would demand a bearer token.
    ("get", "/metrics", expect(200, 200, 200, 200, 200, 200)),
    # Integration-token auth, never a session: without the token everyone gets 401 (JSON).
    ("post", "/integrations/alertmanager/", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/integrations/grafana/", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/integrations/webhook/", expect(401, 401, 401, 401, 401, 401)),
    # Slack signs its requests; a session is no credential there (incidents/slack/tests/ signs them).
    ("post", "/integrations/slack/interactions/", expect(401, 401, 401, 401, 401, 401)),
    ("post", "/integrations/slack/commands/", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/admin/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/incident/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/incident/{pk}/change/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/incidenttype/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/responserole/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/service/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/integration/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/integration/add/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/webhookmapping/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/webhookmapping/add/", expect(LOGIN, 403, 403, 403, 200, 403)),
    # "Try it" posts the add form; it answers the form again, never saving (incidents/alerts/admin.py).
    ("post", "/admin/incidents/webhookmapping/add/", expect(LOGIN, 403, 403, 403, 200, 403)),
    # Outgoing webhooks (docs/webhooks-out.md): managers only.
    ("get", "/admin/incidents/webhook/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/webhook/add/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/auth/user/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/apitoken/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/auth/group/", expect(LOGIN, 403, 403, 403, 200, 403)),
    # On call: everybody with a role sees who is on call; only managers edit. {token}: the responder's feed.
    ("get", "/oncall/", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("get", "/oncall/rotations/new/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/oncall/rotations/{rotation}/edit/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/oncall/rotations/{rotation}/overrides/new/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("post", "/oncall/overrides/{override}/delete/", expect(LOGIN, 403, 403, 403, 302, 403)),
    # The on-call load report: for those on call, responders and managers (incidents/oncall/views.py).
    ("get", "/oncall/load/", expect(LOGIN, 403, 403, 200, 200, 403)),
    ("get", "/oncall/load/?month=2026-13", expect(LOGIN, 403, 403, 400, 400, 403)),
    ("get", "/oncall/load.csv", expect(LOGIN, 403, 403, 200, 200, 403)),
    ("get", "/oncall/load.csv?month=1999-12", expect(LOGIN, 403, 403, 400, 400, 403)),
    # Escalation policies: everybody with a role reads them and their preview; managers edit (a team
    # manager edits their team's: incidents/oncall/tests/test_policy_pages.py).
    ("get", "/oncall/policies/", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("get", "/oncall/policies/new/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/oncall/policies/{policy}/", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("get", "/oncall/policies/{policy}/edit/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("post", "/oncall/policies/{policy}/delete/", expect(LOGIN, 403, 403, 403, 302, 403)),
    ("post", "/oncall/calendar/token/", expect(LOGIN, 302, 302, 302, 302, 302)),
    ("get", "/oncall/calendar/{token}.ics", expect(200, 200, 200, 200, 200, 200)),
    ("get", "/oncall/calendar/NoSuchTokenNoSuchTokenNoSuchToken00.ics", expect(404, 404, 404, 404, 404, 404)),
    ("get", "/services/{slug}/", expect(LOGIN, 403, 200, 200, 200, 200)),
    # Maintenance: everybody with a role reads it; managers plan windows; responders and managers
    # silence alerts (an empty form is a 422: the permission let it through).
    ("get", "/maintenance/", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("post", "/maintenance/windows/", expect(LOGIN, 403, 403, 403, 422, 403)),
    ("post", "/maintenance/windows/999999/cancel/", expect(LOGIN, 403, 403, 403, 404, 403)),
    ("post", "/maintenance/silences/", expect(LOGIN, 403, 403, 422, 422, 403)),
    ("post", "/maintenance/silences/999999/cancel/", expect(LOGIN, 403, 403, 404, 404, 403)),
    ("post", "/maintenance/silences/incident/{ref}/", expect(LOGIN, 403, 403, 302, 302, 403)),
    # Reports: everybody with a role sees the service-level part; response times (and their export)
    # are for responders and managers (incidents/reports/views.py).
    ("get", "/reports/", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("get", "/reports/?severity=urgent", expect(LOGIN, 403, 400, 400, 400, 400)),
    ("get", "/reports/export.csv", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("get", "/reports/export.csv?table=months", expect(LOGIN, 403, 403, 200, 200, 403)),
    ("get", "/services/no-such-service/", expect(LOGIN, 403, 404, 404, 404, 404)),
    # Data retention: managers only (incidents/retention_views.py); a valid policy saves and redirects.
    ("get", "/retention/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("post", "/retention/", expect(LOGIN, 403, 403, 403, 302, 403)),
    ("get", "/admin/incidents/rotation/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/rotation/{rotation}/change/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/override/", expect(LOGIN, 403, 403, 403, 200, 403)),
    # Teams (docs/teams.md): everybody with a role reads them; global managers create them; a
    # team's managers (none here: incidents/tests/test_teams.py walks them) and global managers
    # change members. {team} is a team nobody here is in.
    ("get", "/teams/", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("post", "/teams/new/", expect(LOGIN, 403, 403, 403, 302, 403)),
    ("get", "/teams/{team}/", expect(LOGIN, 403, 200, 200, 200, 200)),
    ("get", "/teams/no-such-team/", expect(LOGIN, 403, 404, 404, 404, 404)),
    ("post", "/teams/{team}/members/", expect(LOGIN, 403, 403, 403, 302, 403)),
    ("post", "/teams/{team}/members/999999/remove/", expect(LOGIN, 403, 403, 403, 404, 403)),
    ("get", "/api/teams", expect(401, 401, 401, 401, 401, 401)),
    ("get", "/admin/incidents/team/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("get", "/admin/incidents/team/add/", expect(LOGIN, 403, 403, 403, 200, 403)),
    # A service's stakeholder list: its team's managers (incidents/notifications/tests/
    # test_stakeholder_pages.py) and global managers.
    ("get", "/incidents/services/checkout/stakeholders/", expect(LOGIN, 403, 403, 403, 200, 403)),
    ("post", "/incidents/services/checkout/stakeholders/", expect(LOGIN, 403, 403, 403, 302, 403)),
    ("post", "/incidents/services/checkout/stakeholders/999999/remove/", expect(LOGIN, 403, 403, 403, 404, 403)),
    ("get", "/admin/incidents/handoff/", expect(LOGIN, 403, 403, 403, 200, 403)),
]

# POST bodies that are valid, so the answer shows the permission, not a form error.
POST_DATA = {
    "note": {"text": "Seen it too."},
    "lead": {"lead": ""},
    "severity": {"severity": "critical"},
    "mitigate": {"text": ""},
    "resolve": {"summary": "Fixed.", "confirmed": "on"},
    "reopen": {"reason": "Back again."},
    "impact": {"started_at": "2020-01-01T10:00", "reason": "Users were hurt from ten."},
    "reactivate": {"reason": "Errors again."},
    "tokens": {"name": "deploy script"},
    "update": {"message": "We are looking into it.", "public": "on"},
    "visibility": {"public": "1"},
    "restrict": {"reason": "Customer data may be exposed."},
    "unrestrict": {"reason": "No data was exposed."},
    "participants": {"username": "rob"},
    "roles": {"role": "scribe", "person": "rob"},
    "tasks": {"title": "Check the CDN"},
    "notifications": {"min_severity": "high"},
    "token": {"action": "regenerate"},
    "theme": {"theme": "dark"},
    "new": {"name": "Search"},
    "members": {"username": "rob"},
    "stakeholders": {"email": "cfo@partner.example"},
    "retention": {"incident_years": "5", "action": "anonymise", "keep_reviews": "on", "task_days": "14"},
}


@pytest.mark.parametrize("method, template, expected", MATRIX, ids=[f"{m} {u}" for m, u, _ in MATRIX])
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(role, method, template, expected, clients, reporter):
    incident = make_incident(by=reporter)
    public = make_incident(by=reporter, public=True)
    task = incident.tasks.first()
    team = Team.objects.create(name="Payments")
    url = template.format(
        ref=incident.ref,
        pk=incident.pk,
        public_ref=public.ref,
        task=task.pk,
        team=team.slug,
        **oncall_data.matrix_args(),
    )
    action = url.rstrip("/").rsplit("/", 1)[-1]
    client = clients[role]
    response = getattr(client, method)(url, POST_DATA.get(action, {}))
    want = expected[role]
    if want == LOGIN:
        assert response.status_code == 302, response
        assert response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == want, (role, url, response.status_code)
        if want == 302 and role != "anonymous" and "log" not in url:
            assert not response["Location"].startswith("/accounts/login/")


def test_every_url_is_in_the_matrix():
    """Each route of Beacon (the admin aside) is matched by a row of a role matrix, whatever its converters."""
    import re

    from reviews.tests.test_permissions import MATRIX as REVIEWS_MATRIX  # reviews walk theirs with real reviews

    # The matrix URLs as requested: every {placeholder} stands for some value of one path segment.
    templates = [row[1] for row in MATRIX + REVIEWS_MATRIX]
    requested = [re.sub(r"\{[^}]+\}", "X1", template.split("?")[0]) for template in templates]
    missing = []
    for route in routes():
        # <converter:name> matches one segment (or part of one, as in "<str:token>.ics").
        shape = re.compile("^" + re.sub(r"<[^>]+>", "[^/]+", re.escape(route)) + "$")
        if not any(shape.match(url) for url in requested):
            missing.append(route)
    assert not missing, f"URLs without a row in the role matrix: {sorted(missing)}"


def test_reporter_edits_own_report_only_while_reported(clients, reporter, responder):
    own = make_incident(by=reporter)
    other = make_incident(by=responder)
    assert clients["reporter"].get(f"/incidents/{own.ref}/edit/").status_code == 200
    assert clients["reporter"].get(f"/incidents/{other.ref}/edit/").status_code == 403
    from incidents import workflow

    workflow.acknowledge(own, by=responder)
    assert clients["reporter"].get(f"/incidents/{own.ref}/edit/").status_code == 403


def test_reporter_adds_notes_to_own_reports_only(clients, reporter, responder):
    other = make_incident(by=responder)
    response = clients["reporter"].post(f"/incidents/{other.ref}/note/", {"text": "hello"})
    assert response.status_code == 403
    assert other.timeline.count() == 1
