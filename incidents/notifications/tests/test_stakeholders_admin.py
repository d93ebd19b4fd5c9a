"""Managers keep a service's stakeholder list (users and outside addresses) in the admin."""

from incidents.models import Subscription
from incidents.tests.factories import ServiceFactory


def inline_data(service, **row):
    data = {
        "name": service.name,
        "slug": service.slug,
        "description": service.description,
        "runbook": "",
        "is_public": "on",
        "slack_webhook_url": "",
        "subscriptions-TOTAL_FORMS": "1",
        "subscriptions-INITIAL_FORMS": "0",
        "subscriptions-MIN_NUM_FORMS": "0",
        "subscriptions-MAX_NUM_FORMS": "1000",
        "subscriptions-0-user": "",
        "subscriptions-0-email": "",
    }
    data.update({f"subscriptions-0-{k}": v for k, v in row.items()})
    return data


def test_a_manager_adds_an_outside_address(clients, db):
    service = ServiceFactory(name="Checkout")
    response = clients["manager"].post(
        f"/admin/incidents/service/{service.pk}/change/", inline_data(service, email="cto@partner.example")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Subscription.objects.get(service=service).email == "cto@partner.example"


def test_a_row_with_both_a_user_and_an_address_is_refused_with_a_message(clients, viewer):
    service = ServiceFactory(name="Checkout")
    response = clients["manager"].post(
        f"/admin/incidents/service/{service.pk}/change/",
        inline_data(service, email="x@partner.example", user=str(viewer.pk)),
    )
    assert response.status_code == 200
    assert "Give either a user or an outside email address, not both." in response.content.decode()
    assert not Subscription.objects.exists()


def test_a_malformed_address_is_refused(clients, db):
    service = ServiceFactory(name="Checkout")
    response = clients["manager"].post(
        f"/admin/incidents/service/{service.pk}/change/", inline_data(service, email="not an address")
    )
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert not Subscription.objects.exists()
