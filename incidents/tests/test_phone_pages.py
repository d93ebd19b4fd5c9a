"""The server side of the phone and no-JavaScript work: the colour-scheme choice, /favicon.ico,
the manifest, unique ids and the <details> disclosures on the incident page."""

import re
from collections import Counter

from incidents import workflow
from incidents.models import Profile
from incidents.tests.factories import make_incident


def test_theme_is_kept_on_the_profile_and_drawn_by_the_server(clients, responder):
    response = clients["responder"].post("/accounts/theme/", {"theme": "dark", "next": "/incidents/"})
    assert response.status_code == 302 and response["Location"] == "/incidents/"
    assert Profile.objects.get(user=responder).theme == "dark"
    html = clients["responder"].get("/").content.decode()
    assert '<html lang="en" data-theme-choice="dark" data-bs-theme="dark">' in html
    assert 'value="dark" class="btn btn-sm btn-theme active" aria-pressed="true"' in html


def test_theme_refuses_bad_input_and_foreign_redirects(clients, responder):
    Profile.objects.create(user=responder, theme="light")
    response = clients["responder"].post("/accounts/theme/", {"theme": "neon", "next": "/"}, follow=True)
    assert "Choose Auto, Light or Dark." in response.content.decode()
    assert Profile.objects.get(user=responder).theme == "light"  # nothing written
    response = clients["responder"].post("/accounts/theme/", {"theme": "auto", "next": "https://evil.example/"})
    assert response["Location"] == "/accounts/profile/"
    assert Profile.objects.get(user=responder).theme == "auto"


def test_auto_theme_leaves_the_scheme_to_the_device(clients):
    html = clients["viewer"].get("/").content.decode()
    assert '<html lang="en" data-theme-choice="auto">' in html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert re.search(r'<script src="/static/js/theme\.js"( nonce="[^"]+")?></script>\s*<link rel="stylesheet"', html)


def test_profile_form_sets_the_theme_and_keeps_it_when_left_out(clients, responder):
    clients["responder"].post("/accounts/profile/", {"time_zone": "", "theme": "dark"})
    assert Profile.objects.get(user=responder).theme == "dark"
    clients["responder"].post("/accounts/profile/", {"time_zone": "", "email_notifications": "on"})
    assert Profile.objects.get(user=responder).theme == "dark"


def test_favicon_and_manifest(clients):
    response = clients["anonymous"].get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"
    html = clients["anonymous"].get("/accounts/login/").content.decode()
    assert '<link rel="manifest" href="/static/manifest.webmanifest">' in html


def test_no_inline_script_or_handler_in_any_page_template():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "templates"
    offenders = []
    for path in root.rglob("*.html"):
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"\son[a-z]+=", text):
            offenders.append(str(path.relative_to(root)))
    assert not offenders


def test_incident_page_ids_are_unique_and_disclosures_are_details(clients, reporter, responder):
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)
    workflow.mitigate(incident, by=responder, text="")
    html = clients["manager"].get(f"/incidents/{incident.ref}/").content.decode()
    ids = Counter(re.findall(r'\sid="([^"]+)"', html))
    assert [i for i, n in ids.items() if n > 1] == []
    assert 'for="note_text"' in html and 'for="mitigate_text"' not in html  # mitigated: no Mitigate… now
    for panel in ("resolve-panel", "reactivate-panel"):
        assert f'<details class="disclosure" id="{panel}">' in html
    assert "data-bs-toggle" not in html
