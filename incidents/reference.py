"""Reference data the alert intake reads for every incident it opens, kept in each process and
never read stale: the service an alert names, the incident types, their custom fields and
response checklists, the outgoing webhooks, and the service's on-call rotations (with their
members, overrides and the people in them: who is on call is still worked out for the instant).

Opening an incident from an alert read each of them from the database, a query each (and the ORM
work to build it), for rows that change a few times a month; in an alert storm that was a quarter
of the work (bench/results.md). How they are kept without ever serving an old copy:

* One database row (`ReferenceGeneration`, pk 1) counts changes to those tables. Every save or
  delete of one of their rows bumps it *inside its own transaction* (`bump`, connected to the
  models' signals by `connect_signals`): the change and the new count commit together.
* A webhook delivery reads the count in the same statement as its token (no extra round trip,
  incidents/models/tokens.py) and applies the payload inside `at(generation)`. There, `kept(key,
  build)` answers from this process's copy if it was made at that same count, else builds it from
  the database and keeps it. A change committed by any process moves the count, so the next
  delivery in every process builds afresh. Each answer is a fresh copy (kept pickled: unpickling
  is several times quicker than copy.deepcopy), so nobody changes the kept one.
* Outside `at()` (pages, the API, workers) `kept` always builds: only deliveries use the copies.
* A bump in this process drops its copies, and keeps nothing more until the delivery ends: rows
  read after it may be its transaction's own, not committed, and may yet roll back.

Writes that bypass the model signals (QuerySet.update, bulk_create, raw SQL) on these tables must
call `bump()` in their transaction (or `ReferenceGeneration.bump()` from the models, as
`models.response.ensure_shipped_response` does).
"""

import contextlib
import contextvars
import pickle
from collections.abc import Callable, Hashable, Iterator
from typing import TypeVar

from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save

from incidents.models import (
    ChecklistItem,
    CustomField,
    IncidentType,
    Override,
    Profile,
    ReferenceGeneration,
    Rotation,
    RotationMember,
    Service,
    Team,
    Webhook,
)

T = TypeVar("T")

# The tables whose rows are kept: any change to one of them bumps the count. (People too, for
# the rotations: a deactivated account must not be paged; see _person_changed for sign-ins.)
MODELS = (Service, IncidentType, CustomField, ChecklistItem, Webhook, Rotation, RotationMember, Override, Team, Profile)
# Copies kept at once (one per service name an alert used, per type...): past this, start again.
MOST = 1000

_generation: contextvars.ContextVar[int | None] = contextvars.ContextVar("reference_generation", default=None)
_kept: dict[Hashable, bytes] = {}
_kept_at: list[int | None] = [None]  # the count _kept was read at


@contextlib.contextmanager
def at(generation: int | None) -> Iterator[None]:
    """Within this block `kept` may answer from copies made at `generation` (None: it never does)."""
    token = _generation.set(generation)
    try:
        yield
    finally:
        _generation.reset(token)


def kept(key: Hashable, build: Callable[[], T]) -> T:
    """`build()`, or a copy of what it gave at the same generation in this process (see above)."""
    generation = _generation.get()
    if generation is None:
        return build()
    if _kept_at[0] != generation:
        _kept.clear()
        _kept_at[0] = generation
    if key not in _kept:
        if len(_kept) >= MOST:
            _kept.clear()
        value = build()
        _kept[key] = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        return value
    return pickle.loads(_kept[key])  # noqa: S301 - bytes this process pickled itself


def bump() -> None:
    """Make every process's copies out of date, in the caller's transaction; keep none here until
    the current delivery ends."""
    _kept.clear()
    _kept_at[0] = None
    _generation.set(None)
    ReferenceGeneration.bump()


def _changed(**kwargs) -> None:
    bump()


def _person_changed(update_fields=None, **kwargs) -> None:
    # Every sign-in saves the account's last_login, which nothing kept shows: no bump for that.
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    bump()


def connect_signals() -> None:
    for model in MODELS:
        post_save.connect(_changed, sender=model, dispatch_uid=f"reference.{model._meta.label}.save")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"reference.{model._meta.label}.delete")
    User = get_user_model()
    post_save.connect(_person_changed, sender=User, dispatch_uid="reference.user.save")
    post_delete.connect(_changed, sender=User, dispatch_uid="reference.user.delete")
    m2m_changed.connect(_changed, sender=Rotation.services.through, dispatch_uid="reference.rotation.services")
