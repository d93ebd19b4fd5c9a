"""Creating requests that happen once, however often they are sent.

A double-clicked "Report incident" sent two identical POSTs 50 ms apart and made INC-67 and
INC-68. Forms that create things carry a hidden one-time token (`IdempotencyTokenField`,
a fresh one each time the form is shown); `POST /api/incidents` takes an `Idempotency-Key`
header. `once()` records the key in the same transaction as the thing it creates, under a
unique constraint: a second request with the key waits for the first to commit, then lands
on its result. On PostgreSQL the unique index makes the second insert wait; SQLite runs one
write transaction at a time.
"""

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.db import IntegrityError, transaction

from incidents.models import IdempotencyKey

TOKEN_RE = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")


def new_token() -> str:
    return uuid.uuid4().hex


class IdempotencyTokenField(forms.CharField):
    """A hidden field holding the form's one-time token; a malformed one counts as none."""

    def __init__(self, **kwargs):
        super().__init__(required=False, widget=forms.HiddenInput, initial=new_token, max_length=100, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        return value if TOKEN_RE.match(value or "") else ""


def pop_token(form: forms.Form) -> str:
    """The token of a valid form, taken out of its cleaned_data (which workflow calls receive)."""
    return form.cleaned_data.pop("idempotency_token", "") or ""


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Outcome:
    result: Any  # what create() returned; None when replayed
    url: str
    ref: str
    replayed: bool


class KeyReused(Exception):
    """The key was used before for a different request."""


def once(
    *,
    owner: str,
    scope: str,
    key: str,
    create: Callable[[], Any],
    url_of: Callable[[Any], str],
    ref_of: Callable[[Any], str] = lambda result: "",
    request_fingerprint: str = "",
) -> Outcome:
    """Run `create()` unless (owner, scope, key) already ran; then return the first result's URL."""
    if not key:
        result = create()
        return Outcome(result, url_of(result), ref_of(result), replayed=False)
    try:
        with transaction.atomic():
            row = IdempotencyKey.objects.create(owner=owner, scope=scope, key=key, fingerprint=request_fingerprint)
            result = create()
            row.result_url = url_of(result)
            row.result_ref = ref_of(result)
            row.save(update_fields=["result_url", "result_ref"])
            return Outcome(result, row.result_url, row.result_ref, replayed=False)
    except IntegrityError:
        first = IdempotencyKey.objects.filter(owner=owner, scope=scope, key=key).first()
        if first is None:
            raise  # not the key: something else refused the write
    if request_fingerprint and first.fingerprint != request_fingerprint:
        raise KeyReused(key)
    return Outcome(None, first.result_url, first.result_ref, replayed=True)
