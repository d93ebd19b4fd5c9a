"""The signed unsubscribe link every email carries, and what following it stops.

The token names one Notification (by uuid); following it ends the subscription that caused
that message, or, for direct messages, all email to that user.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from incidents.models import Notification, Profile, StatusSubscriber

UNSUBSCRIBE_SALT = "beacon.notifications.unsubscribe"


def unsubscribe_token(notification: Notification) -> str:
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object({"n": str(notification.uuid)})


def unsubscribe_url(notification: Notification) -> str:
    return settings.SITE_URL + reverse("unsubscribe", kwargs={"token": unsubscribe_token(notification)})


def read_unsubscribe_token(token: str) -> Notification | None:
    """The notification a signed token names; raises signing.BadSignature for a forged one."""
    data = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    if not isinstance(data, dict) or not isinstance(data.get("n"), str):
        raise signing.BadSignature("malformed")
    return (
        Notification.objects.select_related("subscription__service", "user", "incident").filter(uuid=data["n"]).first()
    )


def unsubscribe(notification: Notification) -> str:
    """Stop what caused `notification`: its subscription (on the status page too), or else all
    email to that user. Returns a sentence for the person."""
    if notification.status_subscriber_id is not None:
        StatusSubscriber.objects.filter(pk=notification.status_subscriber_id).delete()
        return "You will no longer receive email updates from the status page."
    sub = notification.subscription
    if sub is not None:
        if sub.incident_id:
            what = f"updates on INC-{sub.incident_id}"
        elif sub.service is not None:
            what = f"updates on {sub.service.name}"
        else:
            what = f"every new {sub.get_min_severity_display()} or more severe incident"
        sub.delete()
        return f"You will no longer receive emails about {what}."
    if notification.user_id and notification.reason != "subscription":
        Profile.objects.update_or_create(user_id=notification.user_id, defaults={"email_notifications": False})
        return "Beacon will send you no more email. You can turn it on again in your settings."
    return "There is nothing left to unsubscribe from."
