"""Issue 12, "Fast on outage day": the counter that lets each process keep the reference data the
alert intake reads for every incident it opens (incidents/reference.py), created with its one row."""

from django.db import migrations, models


def first_generation(apps, schema_editor):
    apps.get_model("incidents", "ReferenceGeneration").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0033_external_identity"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReferenceGeneration",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("generation", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(first_generation, migrations.RunPython.noop),
    ]
