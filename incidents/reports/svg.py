"""Bar charts drawn on the server as inline SVG: no JavaScript, and every colour comes from the
page (currentColor and Bootstrap's CSS variables), so the dark scheme reads as well as the light.

The chart is a picture of the table printed under it; the table carries the same numbers and the
links for screen readers and copy-paste, so the picture is hidden from assistive technology and
its bars' links are left out of the tab order.
"""

from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH = 360
HEIGHT = 140
AXIS = 18  # room for the labels under the bars
TOP = 14  # room for the value above the tallest bar


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    text: str  # the value as the table shows it
    href: str = ""


def bar_chart(bars: list[Bar], *, css_class: str = "") -> SafeString:
    """One bar per period, labelled every few bars so that 12 of them fit at 390 px."""
    if not bars:
        return mark_safe("")
    top = max(max((b.value or 0) for b in bars), 0) or 1
    slot = WIDTH / len(bars)
    width = max(slot * 0.7, 2)
    every = 1 if len(bars) <= 6 else 2 if len(bars) <= 12 else 4
    plot = HEIGHT - AXIS - TOP
    shapes = []
    for i, bar in enumerate(bars):
        height = 0 if not bar.value or bar.value < 0 else max(plot * bar.value / top, 1)
        x = i * slot + (slot - width) / 2
        y = TOP + plot - height
        rect = format_html(
            '<rect class="chart-bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>',
            f"{x:.1f}",
            f"{y:.1f}",
            f"{width:.1f}",
            f"{height:.1f}",
            bar.label,
            bar.text,
        )
        if bar.href:
            rect = format_html('<a href="{}" tabindex="-1">{}</a>', bar.href, rect)
        shapes.append(rect)
        if bar.value:
            shapes.append(
                format_html(
                    '<text class="chart-value" x="{}" y="{}" text-anchor="middle">{}</text>',
                    f"{x + width / 2:.1f}",
                    f"{y - 3:.1f}",
                    bar.text,
                )
            )
        if i % every == 0 or i == len(bars) - 1:
            shapes.append(
                format_html(
                    '<text class="chart-label" x="{}" y="{}" text-anchor="middle">{}</text>',
                    f"{x + width / 2:.1f}",
                    HEIGHT - 4,
                    bar.label,
                )
            )
    baseline = format_html(
        '<line class="chart-axis" x1="0" y1="{}" x2="{}" y2="{}"></line>', TOP + plot, WIDTH, TOP + plot
    )
    return format_html(
        '<svg class="chart {}" viewBox="0 0 {} {}" width="100%" preserveAspectRatio="xMidYMid meet" '
        'aria-hidden="true" focusable="false">{}{}</svg>',
        css_class,
        WIDTH,
        HEIGHT,
        baseline,
        format_html_join("", "{}", ((s,) for s in shapes)),
    )
