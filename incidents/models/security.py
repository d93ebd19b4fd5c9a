"""Records that let Beacon throttle what strangers may make it do."""

from django.db import models


class PasswordResetRequest(models.Model):
    """One request of the password-reset form: counted per address and per client address.

    The email address is stored only as a SHA-256 digest of its lower-cased form; rows older
    than the throttle window are deleted as new requests come in (incidents/accounts.py).
    """

    email_digest = models.CharField(max_length=64, db_index=True)
    ip = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent = models.BooleanField(default=False)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"reset request from {self.ip} at {self.created_at:%Y-%m-%d %H:%M}"
