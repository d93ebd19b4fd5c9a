"""Issue 12, "Fast on outage day": what the pages need to stay fast on a large history.

- StatusPageGeneration: the counter the cached status pages are keyed by (incidents/statuspage/cache.py).
- TimelineEntry.html: an entry's markdown rendered and sanitised once, when it is written. Older
  entries keep an empty value and are rendered when shown (TimelineEntry.text_html).
- search_document (PostgreSQL only): a stored generated tsvector column over title and
  description with a GIN index, for the incident list's search. It is not a model field (SQLite has
  no tsvector and searches with LIKE); incidents/filters.py reads it by name. Adding it rewrites
  the incidents table once (seconds per 100,000 incidents). Generated columns and GIN indexes
  need no extension and no superuser.
- Partial indexes for recently resolved incidents (dashboard, status page, similar incidents) and
  an index for the list filtered by status and sorted by severity.
"""

import django.utils.timezone
from django.db import migrations, models

SEARCH_COLUMN = """
ALTER TABLE incidents_incident ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', coalesce(title, '')), 'A')
    || setweight(to_tsvector('english', coalesce(description, '')), 'B')
) STORED
"""


def first_generation(apps, schema_editor):
    apps.get_model("incidents", "StatusPageGeneration").objects.get_or_create(pk=1)


def add_search(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SEARCH_COLUMN)
        schema_editor.execute("CREATE INDEX incident_search ON incidents_incident USING gin (search_document)")
        # Statistics for the new column now, not at autovacuum's next visit: without them the planner
        # guesses a common word is rare and ranks every match instead of walking the newest.
        schema_editor.execute("ANALYZE incidents_incident")


def drop_search(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE incidents_incident DROP COLUMN search_document")


RESOLVED = models.Q(("status__in", ["resolved", "closed"]))


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0008_act_email_links_and_slack_app"),
    ]

    operations = [
        migrations.CreateModel(
            name="StatusPageGeneration",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("generation", models.BigIntegerField(default=0)),
                ("changed_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.RunPython(first_generation, migrations.RunPython.noop),
        migrations.AddField(
            model_name="timelineentry",
            name="html",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.RunPython(add_search, drop_search, elidable=False),
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(condition=RESOLVED, fields=["-resolved_at", "-id"], name="incident_resolved"),
        ),
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(
                condition=RESOLVED, fields=["service", "-resolved_at", "-id"], name="incident_service_resolved"
            ),
        ),
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(fields=["status", "severity_rank", "-reported_at"], name="incident_status_severity"),
        ),
    ]
