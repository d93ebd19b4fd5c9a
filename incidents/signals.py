"""Signals other apps may listen to. Business rules stay in workflow.py; these only announce."""

from django.dispatch import Signal

# Sent by `manage.py seed_demo` after the demo incidents exist, inside its transaction, with
# users={"Reporter": user, "Responder": user, "Manager": user, "Viewer": user}. Other apps add
# their own demo data (reviews: a few published reviews) without incidents importing them.
demo_seeded = Signal()
