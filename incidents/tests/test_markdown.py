"""Markdown written by engineers: raw HTML in it is shown as text (docs/reviews.md), never interpreted.

nh3 alone would keep an `<a href>` or a `<b>` typed as raw HTML (they are allowed tags, for the
markdown that produces them), so these tests pin the exact output of the escaping step in
incidents/templatetags/incident_tags.py for the payloads that survive sanitising: links, images,
forms and iframes, not only script.
"""

import pytest

from incidents import workflow
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
