"""Markdown written by engineers, rendered and sanitised: raw HTML in it is shown as text.

Used when a timeline entry is written (TimelineEntry.html keeps the result, so a page never
renders the same note twice) and by the `markdown` template filter for everything else.
"""

import re
import threading

import markdown as md
import nh3

# What survives sanitising: formatting, links and code, never script, style or attributes beyond these.
ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "strong",
    "em",
    "b",
    "i",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "del",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}


class _EscapeHtml(md.Extension):
    """Raw HTML in a note is shown as text, not interpreted (then nh3 cleans whatever remains)."""

    def extendMarkdown(self, parser):  # noqa: N802 - Markdown's API
        parser.preprocessors.deregister("html_block")
        parser.inlinePatterns.deregister("html")


_local = threading.local()


def _converter() -> md.Markdown:
    # Building a Markdown instance costs more than converting a note: keep one per thread
    # (instances are not thread-safe) and reset it between texts.
    converter = getattr(_local, "markdown", None)
    if converter is None:
        converter = _local.markdown = md.Markdown(extensions=["fenced_code", "tables", "sane_lists", _EscapeHtml()])
    return converter


# Text Markdown gives no meaning to but for the paragraph around it: one line of printable
# characters (no tab, newline or no-break space), none that Markdown, its tables and fenced code,
# or HTML read (* _ ` [ ] ! < > & \ ~ | #), starting with a letter or digit but not as a
# numbered list ("1. "), ending without a space. Most entries Beacon writes itself are such
# text ("HighLatency on api-1:9100 fired."): their HTML is the text in <p>, without a Markdown
# run (pinned against the full rendering by incidents/tests/test_markdown.py).
_PLAIN = re.compile(r"(?!\d+\.)[^\W_][^*_`\[\]!<>&\\~|#]*")


def _is_plain(text: str) -> bool:
    return bool(_PLAIN.fullmatch(text)) and text.isprintable() and not text[-1].isspace()


def render_markdown(text: str) -> str:
    """Sanitised HTML (a plain str: the caller marks it safe where it is shown)."""
    if _is_plain(text):
        return f"<p>{text}</p>"
    return _rendered(text)


def _rendered(text: str) -> str:
    html = _converter().reset().convert(text or "")
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return clean
