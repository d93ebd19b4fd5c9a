"""The server-drawn charts: hidden from assistive technology (the table beside carries the numbers),
links out of the tab order, labels escaped, odd values drawn without failing."""

import re

from incidents.reports.svg import Bar, bar_chart


def test_a_chart_is_a_hidden_picture_with_escaped_labels():
    svg = str(bar_chart([Bar("<b>Jan</b>", 3, "3", "/incidents/?a=1&b=2"), Bar("Feb", 0, "0")]))
    assert svg.startswith('<svg class="chart ') and 'aria-hidden="true"' in svg
    assert "&lt;b&gt;Jan&lt;/b&gt;" in svg and "<b>" not in svg
    assert '<a href="/incidents/?a=1&amp;b=2" tabindex="-1">' in svg
    assert svg.count("<rect") == 2


def test_empty_missing_and_negative_values():
    assert str(bar_chart([])) == ""
    svg = str(bar_chart([Bar("a", None, "–"), Bar("b", -5, "−5 min"), Bar("c", 0, "0")]))
    heights = [float(h) for h in re.findall(r'height="(-?[0-9.]+)"', svg)]
    assert heights == [0.0, 0.0, 0.0]
