"""
WSGI config for incidentsite project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incidentsite.settings")

application = get_wsgi_application()

# gunicorn runs no system checks: refuse here to serve with an unsafe production configuration.
from incidents.checks import refuse_unsafe_start  # noqa: E402

refuse_unsafe_start()
