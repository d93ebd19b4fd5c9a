"""The services and incident types the list and the dashboard offer come from cached lists
(incidents/choices.py): every change shows at once, and a stale list never lets a value through."""

import re

import pytest
from django.core.cache import cache

from incidents.choices import KEY
from incidents.models import IncidentType
from incidents.tests.factories import ServiceFactory, make_incident


def options(html: str, name: str) -> dict[str, str]:
    select = re.search(rf'<select name="{name}".*?</select>', html, re.S).group(0)
    return dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select))


def type_links(html: str) -> list[str]:
    return re.findall(r'<a href="/\?type=([\w-]+)">', html)


def test_services_and_types_added_renamed_or_removed_show_at_once(clients):
    client = clients["viewer"]
    checkout = ServiceFactory(name="Checkout", slug="checkout")
    assert options(client.get("/incidents/").content.decode(), "service")["checkout"] == "Checkout"
    checkout.name = "Checkout API"
    checkout.save()
    search = ServiceFactory(name="Search", slug="search")
    shown = options(client.get("/incidents/").content.decode(), "service")
    assert shown["checkout"] == "Checkout API" and shown["search"] == "Search"
    search.delete()
    assert "search" not in options(client.get("/incidents/").content.decode(), "service")

    outage = IncidentType.objects.create(name="Data loss", slug="data-loss", position=99)
    assert options(client.get("/incidents/").content.decode(), "type")["data-loss"] == "Data loss"
    assert "data-loss" in type_links(client.get("/").content.decode())
    outage.delete()
    assert "data-loss" not in options(client.get("/incidents/").content.decode(), "type")
    assert "data-loss" not in type_links(client.get("/").content.decode())


@pytest.mark.parametrize("name", ["services", "types"])
def test_a_stale_list_never_lets_a_value_through(clients, reporter, name):
    # As another process's memory cache may hold it for up to a minute.
    cache.set(KEY.format(name), [("gone", "Gone")], 60)
    make_incident(by=reporter)
    field = "service" if name == "services" else "type"
    answer = clients["viewer"].get(f"/incidents/?{field}=gone")
    assert "Select a valid choice" in answer.content.decode()
    dashboard = clients["viewer"].get("/?type=gone")
    # A type listed but gone matches nothing; one never listed is ignored (every open incident).
    assert dashboard.status_code == 200 and len(dashboard.context["incidents"]) == (0 if name == "types" else 1)


def test_the_dashboard_filters_by_a_type_it_lists(clients, reporter):
    security = IncidentType.objects.get(slug="security")
    breach = make_incident(by=reporter, type=security, title="Breach")
    down = make_incident(by=reporter, title="Down")
    refs = [i.ref for i in clients["manager"].get("/?type=security").context["incidents"]]
    assert breach.ref in refs and down.ref not in refs


def test_response_roles_added_renamed_or_removed_show_on_the_incident_page_at_once(clients, reporter):
    from incidents.models import ResponseRole

    incident = make_incident(by=reporter)
    client = clients["viewer"]

    def roles() -> list[str]:
        html = client.get(incident.get_absolute_url()).content.decode()
        return re.findall(r'<li class="list-group-item role" data-role="([\w-]+)">', html)

    before = roles()
    assert before and "liaison" not in before
    liaison = ResponseRole.objects.create(name="Customer liaison", slug="liaison", position=0)
    assert roles() == ["liaison", *before]
    liaison.name = "Customer contact"
    liaison.position = 999
    liaison.save()
    assert roles() == [*before, "liaison"]
    assert "Customer contact" in client.get(incident.get_absolute_url()).content.decode()
    liaison.delete()
    assert roles() == before


def test_a_types_custom_fields_added_changed_or_removed_show_on_the_incident_page_at_once(clients, manager):
    from incidents.models import CustomField

    security = IncidentType.objects.get(slug="security")
    incident = make_incident(by=manager, type=security, custom_fields={"ticket": "SEC-1"})
    client = clients["manager"]

    def fields() -> dict[str, str]:
        html = client.get(incident.get_absolute_url()).content.decode()
        return dict(
            re.findall(
                r"<dt>([^<]*)</dt><dd[^>]*>([^<]*)</dd>", html.split('id="custom-fields"')[1].split("</section>")[0]
            )
        )

    assert 'id="custom-fields"' not in client.get(incident.get_absolute_url()).content.decode()
    ticket = CustomField.objects.create(type=security, label="Ticket", name="ticket")
    assert fields() == {"Ticket": "SEC-1"}
    ticket.label = "Tracking ticket"
    ticket.save()
    CustomField.objects.create(type=security, label="Owner team", name="team", position=0)
    assert fields() == {"Owner team": "Not set", "Tracking ticket": "SEC-1"}
    ticket.delete()
    other = IncidentType.objects.create(name="Data loss", slug="data-loss")
    CustomField.objects.create(type=other, label="Rows lost")
    assert fields() == {"Owner team": "Not set"}  # the definitions of every type kept again
    other.delete()  # its fields go with it, and so does what was kept
    assert cache.get(KEY.format("custom_fields")) is None


@pytest.mark.django_db(transaction=True)
def test_a_list_built_while_a_change_is_not_committed_yet_is_dropped_when_it_commits():
    # Another request, between the change's save and its COMMIT, builds the list from the rows as
    # they were: that copy must not be kept for a minute after the commit.
    from django.db import transaction

    from incidents import choices

    ServiceFactory(name="Before")
    assert "Before" in dict(choices.services()).values()
    with transaction.atomic():
        ServiceFactory(name="During")
        cache.set(KEY.format("services"), [("before", "Before")])  # as a request outside the transaction would
    assert "During" in dict(choices.services()).values()
