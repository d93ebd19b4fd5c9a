"""A user's on-call shifts as an iCalendar (RFC 5545) feed, written by hand.

Small enough not to need a library: one VCALENDAR of VEVENTs with UTC times, escaped
text, lines folded at 75 octets and CRLF line endings (RFC 5545 3.1, 3.3.11, 3.3.5).
"""

import datetime as dt
import hashlib
from urllib.parse import urlsplit

from django.conf import settings

from incidents.models import Rotation
from incidents.oncall.schedule import Shift

PRODID = "-//Beacon//On-call shifts//EN"


def escape(text: str) -> str:
    """TEXT value escaping (RFC 5545 3.3.11): backslash, semicolon, comma and newlines."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """Split a content line into pieces of at most 75 octets, never inside a UTF-8 character."""
    out, current, size = [], "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        limit = 75 if not out else 74  # continuation lines start with one space
        if size + width > limit:
            out.append(current)
            current, size = "", 0
        current += char
        size += width
    out.append(current)
    return "\r\n ".join(out)


def utc_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar(*, name: str, events: list[tuple[Rotation, Shift, str]], stamp: dt.datetime) -> str:
    """The feed: `events` are (rotation, shift, description) in time order; `stamp` is DTSTAMP."""
    domain = urlsplit(settings.SITE_URL).hostname or "beacon"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape(name)}",
        "X-PUBLISHED-TTL:PT1H",
    ]
    for rotation, shift, description in events:
        # Stable per (rotation, person, start), renames included: a calendar app updates the
        # event, not duplicates it.
        seed = f"{rotation.pk}|{shift.user.pk}|{utc_stamp(shift.start)}".encode()
        uid = hashlib.sha256(seed).hexdigest()[:32]
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid}@{domain}",
            f"DTSTAMP:{utc_stamp(stamp)}",
            f"DTSTART:{utc_stamp(shift.start)}",
            f"DTEND:{utc_stamp(shift.end)}",
            f"SUMMARY:{escape(f'On call: {rotation.name}' + (' (override)' if shift.override else ''))}",
            f"DESCRIPTION:{escape(description)}",
            "TRANSP:OPAQUE",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
