from django.db import models
from django.utils.timezone import now


class StatusPageGeneration(models.Model):
    """One row (pk 1): a counter bumped in the same transaction as any change the public status
    page shows. The status page caches its pages under the current generation
    (incidents/statuspage/cache.py), so a committed change is never served stale, whichever
    process and whichever cache backend serves the next request."""

    generation = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"Status page generation {self.generation}"
