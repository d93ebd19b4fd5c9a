"""incident_url() (incidents/models/core.py) gives what reverse() gives, for every incident URL."""

import pytest
from django.urls import NoReverseMatch, reverse, set_script_prefix

from incidents.models import Incident
from incidents.models.core import incident_url
from incidents.urls import incident_urls


def incident_url_names() -> list[str]:
    """Every URL name under /incidents/INC-n/ (incidents/urls.py) that takes the reference alone."""
    return sorted(pattern.name for pattern in incident_urls if not pattern.pattern.converters)


def test_there_are_incident_urls_to_compare():
    assert {"detail", "acknowledge", "resolve", "note", "update"} <= set(incident_url_names())


@pytest.mark.parametrize("prefix", ["/", "/beacon/"])
def test_every_incident_url_is_what_reverse_gives(prefix):
    set_script_prefix(prefix)
    try:
        for name in incident_url_names():
            for ref in ("INC-1", "INC-9876543210"):
                assert incident_url(ref, name) == reverse(f"incidents:{name}", kwargs={"ref": ref}), name
    finally:
        set_script_prefix("/")


@pytest.mark.django_db
def test_an_incident_knows_its_urls_by_name():
    incident = Incident(pk=42)
    assert incident.get_absolute_url() == "/incidents/INC-42/"
    assert incident.urls["acknowledge"] == "/incidents/INC-42/acknowledge/"
    with pytest.raises(NoReverseMatch):
        incident.urls["no-such-page"]
