from functools import update_wrapper

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from incidents import roles


class BeaconAdminSite(admin.AdminSite):
    """The Django admin, for managers only.

    Access is the `incidents.access_admin` permission (the Manager group has it), not
    `is_staff`, so giving someone the Manager role is all it takes. Everyone else gets
    Beacon's own sign-in page or a 403, never the admin's login form.
    """

    site_header = "Beacon administration"
    site_title = "Beacon admin"
    index_title = "Manage Beacon"
    site_url = "/"

    def has_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.has_perm(roles.ACCESS_ADMIN)

    def _refuse(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        raise PermissionDenied

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            if not self.has_permission(request):
                return self._refuse(request)
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, inner)

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if self.has_permission(request):
            return super().login(request, extra_context)
        return self._refuse(request)
