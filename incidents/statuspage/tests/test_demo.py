"""seed_demo puts a few incidents on the status page, once."""

from django.core.management import call_command

from incidents.models import Incident, StatusUpdate


def test_seed_demo_fills_the_status_page_once(client, db, settings):
    settings.DEBUG = True
    call_command("seed_demo")

    overview = client.get("/status/").context["overview"]
    assert len(overview.active) == 2
    assert all(i.updates for i in overview.active)
    assert overview.resolved
    html = client.get("/status/").content.decode()
    assert "We are investigating errors." in html
    assert "paging the DBA" not in html  # the internal update beside them

    counts = (Incident.objects.filter(public=True).count(), StatusUpdate.objects.count())
    call_command("seed_demo")
    assert (Incident.objects.filter(public=True).count(), StatusUpdate.objects.count()) == counts
