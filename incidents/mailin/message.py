"""Reading one inbound email with the standard library (email, policy=default).

Nothing here touches the database. `read()` never raises for what a sender can put in a message:
a message without a usable From is `Unreadable` (the receiver answers 550 and the mail server
tells the sender), a part in an unknown or broken charset is decoded with replacement characters.
"""

import email
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, MIMEPart
from html import unescape

from django.utils.html import strip_tags

# Longest title and description taken from a message (the title column holds 200).
TITLE_MAX = 200
TEXT_MAX = 20_000


class Unreadable(Exception):
    """The message cannot be acted on at all (no sender to act for or to answer). `str()` is
    the SMTP answer's text."""


@dataclass
class Mail:
    key: str  # the SHA-256 of sender and Message-ID (of the bytes when there is none): one action per message
    message_id: str
    sender: str  # the From address, lower case
    subject: str
    body: str  # the plain text (or the HTML's text), signature and all
    attachments: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)  # In-Reply-To first, then References newest first
    # Why no one should act on it ("" when someone should): Beacon's own mail, an auto-reply, a bounce.
    loop: str = ""
    # Whether a refusal may be sent back (never to automatic or bulk mail: no reply loops).
    answerable: bool = True


def read(raw: bytes, *, envelope_sender: str = "", own_address: str = "") -> Mail:
    """Read `raw`; `envelope_sender` is MAIL FROM ("" for a bounce), `own_address` Beacon's From."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        sender = _sender(message)
        subject = _header(message, "Subject")
        message_id = _header(message, "Message-ID")[:300]
    except Unreadable:
        raise
    except Exception as error:  # noqa: BLE001 - the email package fails in many ways on hostile input
        raise Unreadable(f"5.6.0 The message could not be parsed ({type(error).__name__}).") from error
    # With its sender: someone else's message cannot take a Message-ID's place before it arrives.
    key = hashlib.sha256(f"{sender}\n{message_id}".encode() if message_id else raw).hexdigest()
    mail = Mail(key=key, message_id=message_id, sender=sender, subject=" ".join(subject.split()), body="")
    mail.body, mail.attachments = _text(message)
    mail.references = _references(message)
    mail.loop, mail.answerable = _automatic(message, mail, envelope_sender, own_address.lower())
    return mail


def _header(message: EmailMessage, name: str) -> str:
    """A header's decoded text ("" when absent or undecodable)."""
    try:
        value = message.get(name)
    except Exception:  # noqa: BLE001 - a broken encoded word or a parser defect
        return ""
    return str(value).strip() if value is not None else ""


def _sender(message: EmailMessage) -> str:
    """The one address in From; Unreadable when there is none, or more than one."""
    header = message.get("From")
    addresses = getattr(header, "addresses", ()) if header is not None else ()
    found = [a.addr_spec.lower() for a in addresses if a.username and a.domain]
    if len(found) != 1:
        raise Unreadable("5.1.7 The message needs one sender address in its From header.")
    return found[0]


HTML_BREAK = re.compile(r"<br\s*/?>|</(p|div|li|tr|h[1-6]|blockquote)>", re.IGNORECASE)


def _text(message: EmailMessage) -> tuple[str, list[str]]:
    """The message's text (plain preferred, else the HTML's text) and its attachments' names."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except Exception:  # noqa: BLE001 - a malformed MIME structure
        part = None
    text = _content(part) if part is not None else ""
    if part is not None and part.get_content_subtype() == "html":
        # Line breaks where the HTML breaks lines, then its text.
        text = unescape(strip_tags(HTML_BREAK.sub("\n", text)))
    names = []
    try:
        for attachment in message.iter_attachments():
            names.append(" ".join(str(attachment.get_filename() or attachment.get_content_type()).split())[:100])
    except Exception:  # noqa: BLE001 - iter_attachments on a broken or non-multipart message
        pass
    text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return text.strip()[:TEXT_MAX], names[:20]


def _content(part: MIMEPart) -> str:
    try:
        content = part.get_content()
        return content if isinstance(content, str) else ""
    except (LookupError, UnicodeError, ValueError, AssertionError):
        # An unknown charset or broken transfer encoding: the bytes as UTF-8, replaced where wrong.
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""


ID_RE = re.compile(r"<([^<>\s]{1,250})>")


def _references(message: EmailMessage) -> list[str]:
    """The Message-IDs this message answers, the most direct first."""
    ids = ID_RE.findall(_header(message, "In-Reply-To"))
    ids += reversed(ID_RE.findall(_header(message, "References")))
    return list(dict.fromkeys(ids))[:50]


AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?reply|auto:|out of (the )?office|abwesenheitsnotiz|r[ée]ponse automatique)", re.IGNORECASE
)
BOUNCE_SENDERS = ("mailer-daemon@", "postmaster@")


def _automatic(message: EmailMessage, mail: Mail, envelope_sender: str, own_address: str) -> tuple[str, bool]:
    """(why nobody acts on it or "", whether a refusal may be sent back)."""
    auto_submitted = _header(message, "Auto-Submitted").lower()
    precedence = _header(message, "Precedence").lower()
    if _header(message, "X-Beacon"):
        return "Beacon's own email came back (a mail loop)", False
    if own_address and mail.sender == own_address:
        return "sent from Beacon's own address (a mail loop)", False
    if auto_submitted.startswith("auto-replied") or precedence == "auto_reply":
        return "an automatic reply", False
    if _header(message, "X-Autoreply") or _header(message, "X-Autorespond") or AUTO_REPLY_SUBJECT.match(mail.subject):
        return "an automatic reply (out of office)", False
    report = message.get_content_type() == "multipart/report"
    if not envelope_sender or mail.sender.startswith(BOUNCE_SENDERS) or report:
        return "a bounce or delivery report", False
    # Other automatic mail (a monitor's alert) may report, but is never answered (RFC 3834).
    automatic = (auto_submitted not in ("", "no")) or precedence in ("bulk", "junk", "list") or bool(message["List-Id"])
    return "", not automatic


# --- replies: what the person wrote, without the quoted message and the signature ---------

QUOTE_HEADER = re.compile(
    r"^(On\b.*\bwrote:|Le\b.*\ba écrit ?:|Am\b.*\bschrieb.*:|-{2,}\s*Original Message\s*-{2,}|_{20,}|"
    r"From:\s.*|Sent from my\b.*|Get Outlook for\b.*)\s*$",
    re.IGNORECASE,
)


def reply_text(body: str) -> str:
    """The new text of a reply: stops at the signature ("-- "), the quoted message's header ("On …
    wrote:", Outlook's line or From: block) and leaves out quoted lines ("> …")."""
    lines = body.split("\n")
    kept: list[str] = []
    for number, line in enumerate(lines):
        stripped = line.strip()
        if line.rstrip() == "--" or line == "-- ":
            break
        # "On Mon, 1 Dec 2026 at 10:00, Beacon <beacon@…>" and "wrote:" on the next line.
        joined = stripped + " " + lines[number + 1].strip() if number + 1 < len(lines) else stripped
        if QUOTE_HEADER.match(stripped) or (stripped.startswith("On ") and QUOTE_HEADER.match(joined)):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def without_signature(body: str) -> str:
    """The body up to the signature delimiter ("-- " on its own line)."""
    lines = body.split("\n")
    for number, line in enumerate(lines):
        if line == "-- " or line.rstrip() == "--":
            return "\n".join(lines[:number]).strip()
    return body


def title_of(subject: str) -> str:
    subject = re.sub(r"^\s*((fwd?|fw|wg|tr)\s*:\s*)+", "", subject, flags=re.IGNORECASE).strip()
    return subject[: TITLE_MAX - 1] + "…" if len(subject) > TITLE_MAX else subject


def address_of(value: str) -> str:
    """The bare address in a From-like string ("Beacon <beacon@x>" → "beacon@x")."""
    return email.utils.parseaddr(value)[1].lower()
