"""Who a single sign-on user is at the identity provider (incidents/sso.py, docs/sso.md).

A user is found by the provider's issuer and `sub`, never by email alone: a provider may hand a
departed colleague's address to a newcomer, and an email match would sign the newcomer in as the
old account, roles and all. `sub` is the provider's promise: never reassigned, never changed.
"""

from django.conf import settings
from django.db import models
from django.utils.timezone import now


class ExternalIdentity(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField("subject (sub)", max_length=255)
    created_at = models.DateTimeField(default=now, editable=False)
    last_sign_in_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "external identity"
        verbose_name_plural = "external identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="external_identity_once")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
