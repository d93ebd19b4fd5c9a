from django.db import models
from django.utils.timezone import now

from incidents.models.reference import Generation


class StatusPageGeneration(Generation):
    """One row (pk 1): a counter bumped in the same transaction as any change the public status
    page shows. The status page caches its pages under the current generation
    (incidents/statuspage/cache.py), so a committed change is never served stale, whichever
    process and whichever cache backend serves the next request."""

    changed_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"Status page generation {self.generation}"
