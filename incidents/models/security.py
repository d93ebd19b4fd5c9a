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


class PublicRequest(models.Model):
    """One request of a public form (no account: the status page's email subscription), counted
    per address and per client address (incidents/security.py `throttle`). The address is kept
    only as a SHA-256 digest of its lower-cased form; old rows go as new requests come in."""

    form = models.CharField(max_length=32)
    email_digest = models.CharField(max_length=64)
    ip = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent = models.BooleanField(default=False)

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["form", "ip", "created_at"], name="public_request_ip")]

    def __str__(self) -> str:
        return f"{self.form} request from {self.ip} at {self.created_at:%Y-%m-%d %H:%M}"


class IdempotencyKey(models.Model):
    """A creating request already carried out: a second request with the same key lands on
    its result instead of creating again (incidents/idempotency.py).

    `owner` is who sent it ("user:<pk>", "integration:<pk>"), so keys never collide between
    callers; `fingerprint` is a digest of what an API request asked, so a key reused for a
    different request is refused rather than answered with the wrong result. Rows older than
    IDEMPOTENCY_KEY_HOURS are deleted by the sweeper.
    """

    owner = models.CharField(max_length=64)
    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64, blank=True)
    result_url = models.CharField(max_length=300, blank=True)
    result_ref = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["owner", "scope", "key"], name="idempotency_key_once")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} by {self.owner}"
