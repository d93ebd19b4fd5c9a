from django.contrib.admin.apps import AdminConfig


class BeaconAdminConfig(AdminConfig):
    default_site = "incidentsite.admin.BeaconAdminSite"
