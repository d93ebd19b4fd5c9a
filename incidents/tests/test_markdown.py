"""Markdown written by engineers: raw HTML in it is shown as text (docs/reviews.md), never interpreted.

nh3 alone would keep an `<a href>` or a `<b>` typed as raw HTML (they are allowed tags, for the
markdown that produces them), so these tests pin the exact output of the escaping step in
incidents/templatetags/incident_tags.py for the payloads that survive sanitising: links, images,
forms and iframes, not only script.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents import markup, workflow
from incidents.templatetags.incident_tags import render_markdown
from incidents.tests.factories import make_incident

LINK = '<a href="https://evil.example">Reset your password</a>'

SHOWN_AS_TEXT = [
    (LINK, '<p>&lt;a href="https://evil.example"&gt;Reset your password&lt;/a&gt;</p>'),
    (
        '<img src="https://evil.example/x.png" alt="x">',
        '<p>&lt;img src="https://evil.example/x.png" alt="x"&gt;</p>',
    ),
    (
        '<form action="https://evil.example/login" method="post">'
        '<input name="password"><button>Sign in</button></form>',
        '<p>&lt;form action="https://evil.example/login" method="post"&gt;&lt;input name="password"&gt;'
        "&lt;button&gt;Sign in&lt;/button&gt;&lt;/form&gt;</p>",
    ),
    (
        '<iframe src="https://evil.example/"></iframe>',
        '<p>&lt;iframe src="https://evil.example/"&gt;&lt;/iframe&gt;</p>',
    ),
    (
        "Before\n\n<div>a block with <b>bold</b></div>\n\nAfter",
        "<p>Before</p>\n<p>&lt;div&gt;a block with &lt;b&gt;bold&lt;/b&gt;&lt;/div&gt;</p>\n<p>After</p>",
    ),
    ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
]


@pytest.mark.parametrize("text, html", SHOWN_AS_TEXT, ids=["link", "image", "form", "iframe", "block", "script"])
def test_raw_html_is_shown_as_text(text, html):
    assert render_markdown(text) == html


def test_markdown_itself_still_makes_formatting_and_safe_links():
    html = render_markdown("Raw <b>bold</b>, **real bold** and [the runbook](https://example.com/rb)")
    assert html == (
        "<p>Raw &lt;b&gt;bold&lt;/b&gt;, <strong>real bold</strong> and "
        '<a href="https://example.com/rb" rel="noopener noreferrer nofollow">the runbook</a></p>'
    )


def test_a_raw_link_in_a_note_is_text_on_the_incident_page(clients, reporter, responder):
    incident = make_incident(by=reporter)
    workflow.add_note(incident, by=responder, text=LINK)
    html = clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    assert "https://evil.example" in html
    assert '<a href="https://evil.example"' not in html
    assert '&lt;a href="https://evil.example"&gt;Reset your password&lt;/a&gt;' in html


# Characters Markdown, HTML and the sanitiser treat specially, among ordinary ones and others.
TRICKY = "*_`[]!<>&\\~|#-+=.:;()'\"/ \t\n\xa0\u2028é9aZ0"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.from_regex(markup._PLAIN, fullmatch=True), st.text(alphabet=TRICKY, max_size=40), st.text()))
def test_plain_text_skips_markdown_with_the_same_html(text):
    """The fast path for one-line plain text (what the intake writes on every alert) gives exactly
    the HTML Markdown and the sanitiser give, and only for text where that holds."""
    if markup._is_plain(text):
        assert markup.render_markdown(text) == markup._rendered(text)


@pytest.mark.parametrize(
    "text",
    [
        "HighLatency on api-1:9100 fired.",
        "Checkout service (EU) is at 12% errors, see https://grafana.example/d/1?x=2",
        "Störung: Zahlungen schlagen fehl",
        'He said "it\'s down" again',
    ],
)
def test_what_the_intake_writes_takes_the_fast_path(text):
    assert markup._is_plain(text)
    assert markup.render_markdown(text) == markup._rendered(text) == f"<p>{text}</p>"


@pytest.mark.parametrize(
    "text", ["1. first", "# heading", "- item", "a *b*", "a  ", "a\nb", "a\u00a0b", "x | y", "<b>x</b>", "a & b", ""]
)
def test_text_markdown_may_read_takes_the_full_path(text):
    assert not (text and markup._is_plain(text))
