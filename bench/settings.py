"""Production settings plus the benchmark's reference pages (bench/urls.py). Used only by
`make bench` (bench/http.py); never by Beacon itself, so the reference views are never shipped."""

import warnings

from incidentsite.settings import *  # noqa: F403
from incidentsite.settings import BASE_DIR, STORAGES, TEMPLATES

ROOT_URLCONF = "bench.urls"
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], BASE_DIR / "bench" / "templates"]
# Static files unhashed, so the benchmark needs no collectstatic (pages only link to them).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}

# WhiteNoise warns that STATIC_ROOT was never collected; the benchmark does not need it.
warnings.filterwarnings("ignore", message="No directory at")
