"""The full-text index of reviews, on PostgreSQL only (SQLite searches with LIKE, unindexed).

It indexes exactly the expression reviews.search.search_vector() builds, so the planner
can use it for `/reviews/?q=`. Its definition is written out here, not imported, so this
migration keeps meaning what it meant when it ran.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations

FIELDS = [
    "summary",
    "impact",
    "timeline",
    "root_cause",
    "contributing_factors",
    "went_well",
    "went_badly",
    "lucky",
    "lessons_learned",
    "public_summary",
]


def index():
    return GinIndex(SearchVector(*FIELDS, config="english"), name="review_search")


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("reviews", "Review"), index())


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("reviews", "Review"), index())


class Migration(migrations.Migration):
    dependencies = [("reviews", "0001_reviews")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
