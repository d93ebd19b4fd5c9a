"""Beacon's URLconf as route templates, for the tests that must meet every URL the day it is
added: the role matrix (incidents/tests/test_permissions.py) and the need-to-know leak test
(incidents/tests/test_need_to_know.py). Each test keeps its own rule for what a route must do;
this module only says which routes there are."""

from django.urls import get_resolver


def routes() -> list[str]:
    """Every route of the URLconf but the admin's (tested on its own), as a path template such
    as "/incidents/<str:ref>/note/", in URLconf order."""
    found = []

    def walk(patterns, prefix=""):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                if str(p.pattern).startswith("admin/"):
                    continue
                walk(p.url_patterns, prefix + str(p.pattern))
            else:
                found.append("/" + prefix + str(p.pattern))

    walk(get_resolver().url_patterns)
    # An empty walk would let every test built on it pass without looking at anything.
    assert len(found) > 50, f"the walk found only {found}"
    return found
