"""What every machine-facing endpoint (the JSON API, the Alertmanager webhook, /metrics) checks
before it reads anything: the bearer token of the Authorization header, and the size of the body.

Each endpoint answers in its own shape; these functions only say what is wrong.
"""

from django.http import HttpRequest

# The largest request body Beacon reads from a program: the API's and the Alertmanager webhook's.
MAX_BODY_BYTES = 1024 * 1024


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer …` header, or None when there is none."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def body_refusal(request: HttpRequest) -> tuple[int, str] | None:
    """400 or 413 and why, from the Content-Length header alone, before the body is read; else None.

    Without this Django itself would answer a bare 400, and only above its own 2.5 MB
    DATA_UPLOAD_MAX_MEMORY_SIZE.
    """
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 400, "The Content-Length header is not a number."
    if length > MAX_BODY_BYTES:
        return 413, too_large()
    return None


def too_large() -> str:
    return f"The request body is larger than {MAX_BODY_BYTES} bytes (1 MiB)."
