"""incidents/access.py's decorator, beyond the role matrix of test_permissions.py."""

from django.views.decorators.csrf import csrf_exempt

from incidents import roles
from incidents.access import role_required


def test_role_required_keeps_the_views_name_and_markers():
    @csrf_exempt
    def follow_list(request):
        """The list of what I follow."""

    wrapped = role_required(roles.VIEW_INCIDENT)(follow_list)
    # Django reads markers such as csrf_exempt off the view it is given; tracebacks show the name.
    assert wrapped.csrf_exempt is True
    assert (wrapped.__name__, wrapped.__doc__) == ("follow_list", "The list of what I follow.")
