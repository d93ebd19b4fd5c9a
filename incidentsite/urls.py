from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from incidents import accounts, retention_views, sso
from incidents import views as incident_views
from incidents.accounts import local_passwords_only
from incidents.alerts import views as alert_views
from incidents.api import metrics, tokens
from incidents.api.endpoints import api
from incidents.notifications import channel_views
from incidents.notifications import views as notification_views
from incidents.slack import views as slack_views

auth_urls = [
    path("login/", accounts.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Single sign-on (incidents/sso.py): 404 unless OIDC_RP_CLIENT_ID is set.
    path("oidc/authenticate/", sso.SignInView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", sso.CallbackView.as_view(), name="oidc_authentication_callback"),
    # Password pages: 404 with LOCAL_PASSWORDS off, but for a signed-in superuser (break-glass).
    path("password/", local_passwords_only(auth_views.PasswordChangeView.as_view()), name="password_change"),
    path(
        "password/done/",
        local_passwords_only(auth_views.PasswordChangeDoneView.as_view()),
        name="password_change_done",
    ),
    path("password/reset/", local_passwords_only(accounts.PasswordResetView.as_view()), name="password_reset"),
    path(
        "password/reset/sent/",
        local_passwords_only(auth_views.PasswordResetDoneView.as_view()),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        local_passwords_only(auth_views.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        local_passwords_only(auth_views.PasswordResetCompleteView.as_view()),
        name="password_reset_complete",
    ),
    path("profile/", incident_views.profile, name="profile"),
    path("theme/", incident_views.theme, name="theme"),
    path("tokens/", tokens.tokens, name="api_tokens"),
    path("tokens/<int:pk>/revoke/", tokens.revoke_token, name="api_token_revoke"),
    path("profile/notifications/", notification_views.notification_settings, name="notification_settings"),
    # Paging channels and rules (incidents/notifications/channel_views.py): each person their own.
    path("profile/paging/", channel_views.paging_settings, name="paging_settings"),
    path("profile/paging/channels/", channel_views.add_channel, name="paging_channel_add"),
    path("profile/paging/channels/<int:pk>/test/", channel_views.test_channel, name="paging_channel_test"),
    path("profile/paging/channels/<int:pk>/remove/", channel_views.remove_channel, name="paging_channel_remove"),
    path("profile/paging/rules/", channel_views.add_rule, name="paging_rule_add"),
    path("profile/paging/rules/<int:pk>/remove/", channel_views.remove_rule, name="paging_rule_remove"),
    path("profile/paging/quiet/", channel_views.quiet_hours, name="paging_quiet_hours"),
    path("profile/notifications/my-teams/", notification_views.follow_my_teams, name="follow_my_teams"),
]

urlpatterns = [
    path("", incident_views.dashboard, name="dashboard"),
    path("accounts/", include(auth_urls)),
    path("incidents/", include("incidents.urls")),
    path("reviews/", include("reviews.urls")),
    # The status page's email sign-up (no account): before the status page's own URLs.
    path("status/subscribe/", include("incidents.notifications.subscribe_urls")),
    path("status/report/", include("incidents.user_report_urls")),
    path("status/", include("incidents.statuspage.urls")),
    path("unsubscribe/<str:token>/", notification_views.unsubscribe, name="unsubscribe"),
    path("email-actions/<str:token>/", notification_views.email_action, name="email_action"),
    path("oncall/", include("incidents.oncall.urls")),
    path("reports/", include("incidents.reports.urls")),
    path("maintenance/", include("incidents.maintenance.urls")),
    path("teams/", include("incidents.team_urls")),
    path("services/<slug:slug>/", incident_views.service_detail, name="service_detail"),
    path("retention/", retention_views.retention_page, name="retention"),
    path("healthz", incident_views.healthz, name="healthz"),
    path("favicon.ico", incident_views.favicon, name="favicon"),
    path("api/", api.urls),
    path("metrics", metrics.metrics, name="metrics"),
    path("integrations/alertmanager/", alert_views.alertmanager_webhook, name="alertmanager_webhook"),
    path("integrations/grafana/", alert_views.grafana_webhook, name="grafana_webhook"),
    path("integrations/webhook/", alert_views.generic_webhook, name="generic_webhook"),
    path("integrations/slack/interactions/", slack_views.interactions, name="slack_interactions"),
    path("integrations/slack/commands/", slack_views.commands, name="slack_commands"),
    path("admin/", admin.site.urls),
]

# Database outages and lock timeouts answer 503 with Retry-After; other errors 500 (incidents/outage.py).
handler500 = "incidents.outage.server_error"
# Unknown URLs and refused requests under /api/ answer JSON (incidents/api/errors.py).
handler404 = "incidents.api.errors.not_found_page"
handler400 = "incidents.api.errors.bad_request_page"
