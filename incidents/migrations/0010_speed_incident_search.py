"""Full-text search of incidents on PostgreSQL: a stored generated tsvector column and its GIN index.

Generated columns and GIN indexes need no extension and no superuser. The column is not a model
field (SQLite has no tsvector; it searches with LIKE): incidents/filters.py reads it by name, and
must say what this migration says. Adding it rewrites the incidents table once (a few seconds
per 100,000 incidents).
"""

from django.db import migrations

COLUMN = """
ALTER TABLE incidents_incident ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', coalesce(title, '')), 'A')
    || setweight(to_tsvector('english', coalesce(description, '')), 'B')
) STORED
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(COLUMN)
        schema_editor.execute("CREATE INDEX incident_search ON incidents_incident USING gin (search_document)")
        # Statistics for the new column now, not at autovacuum's next visit: without them the planner
        # guesses a common word is rare and ranks every match instead of walking the newest.
        schema_editor.execute("ANALYZE incidents_incident")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE incidents_incident DROP COLUMN search_document")


class Migration(migrations.Migration):
    dependencies = [("incidents", "0009_speed_timeline_html")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
