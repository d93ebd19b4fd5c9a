"""What every answer tells the browser: CSP, HSTS, caching of private pages, COOP, referrers,
permissions."""

from incidents.tests.factories import make_incident
from incidents.tests.test_setup import run_python


def test_production_hsts_is_one_year_with_subdomains():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='incidentsite.settings'; django.setup();"
        "from django.conf import settings; print(settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS)"
    )
    result = run_python(code, DEBUG="0", SECRET_KEY="p" * 60, ALLOWED_HOSTS="beacon.example.com")
    assert result.stdout.split() == ["31536000", "True"], result.stderr


def test_signed_in_pages_are_never_stored(clients, reporter):
    incident = make_incident(by=reporter, logs="secret stack trace")
    for path in ["/", f"/incidents/{incident.ref}/", "/incidents/", "/accounts/profile/"]:
        response = clients["responder"].get(path)
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store", path


def test_the_public_status_page_may_be_cached_by_anonymous_visitors(client, db):
    response = client.get("/status/")
    assert "no-store" not in response.get("Cache-Control", "")


def test_every_answer_carries_the_policies(clients, client, db):
    for response in [
        clients["responder"].get("/"),
        client.get("/accounts/login/"),
        client.get("/status/"),
        client.get("/no-such-page/"),
    ]:
        policy = response["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["script-src"].startswith("'self'") and "unsafe" not in directives["script-src"]
        assert directives["object-src"] == "'none'"
        assert directives["base-uri"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        assert response["Referrer-Policy"] == "same-origin"
        assert "camera=()" in response["Permissions-Policy"]


def test_script_tags_carry_this_requests_nonce(clients):
    response = clients["responder"].get("/")
    nonce = response["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    html = response.content.decode()
    assert html.count(f'nonce="{nonce}"') == html.count("<script")
    assert '"allowEval": false' in html and '"includeIndicatorStyles": false' in html
