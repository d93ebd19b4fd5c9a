from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class BeaconAdminConfig(AdminConfig):
    default_site = "incidentsite.admin.BeaconAdminSite"


class BeaconSiteConfig(AppConfig):
    """The project itself as an app, listed before django_tasks_db so that its `db_worker`
    (incidentsite/management/commands/db_worker.py) is the one `manage.py` runs."""

    name = "incidentsite"
    label = "incidentsite"
