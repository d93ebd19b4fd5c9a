"""How Beacon names people, everywhere: timeline entries, forms, pages and emails."""


def display_name(user, fallback: str = "") -> str:
    """A user's full name, else their username; `fallback` when there is nobody."""
    if user is None:
        return fallback
    return user.get_full_name() or user.get_username()
