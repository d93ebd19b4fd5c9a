"""Model instances from a plain SQL statement built once, converted as the ORM converts them.

For the few statements on the alert intake's hot path (the token's integration, the alert
group locked with its incident) where building the ORM query took longer than the database took
to run it, on every delivery, some of it while other deliveries of the same group waited
(bench/results.md). A statement lists each model's columns (`columns`), and `split` turns
one row back into the instances; the fields left out are deferred, read when first used.
"""

from functools import cache
from typing import cast

from django.db import connection
from django.db.models import Field, Model

Layout = list[tuple[type[Model], list[Field]]]


def fields_of(model: type[Model], left_out: set[str] | frozenset[str] = frozenset()) -> list[Field]:
    """The model's columns, but those named in `left_out`."""
    return [f for f in model._meta.concrete_fields if f.name not in left_out]


def columns(alias: str, fields: list[Field]) -> str:
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(str(f.column))}" for f in fields)


def split(row, layout: Layout) -> list[Model | None]:
    """One instance per (model, fields) of `layout`, from consecutive values of `row`; None for a
    model whose primary key is NULL (the missing side of a LEFT JOIN)."""
    found: list[Model | None] = []
    start = 0
    for model, fields in layout:
        values = row[start : start + len(fields)]
        start += len(fields)
        pk = values[fields.index(model._meta.pk)]
        found.append(None if pk is None else instance(model, fields, values))
    return found


def instance(model: type[Model], fields: list[Field], values) -> Model:
    converted = [value_of(f, value) for f, value in zip(fields, values, strict=True)]
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


@cache
def _converters(f: Field) -> list:
    # What the ORM's compiler applies to a column of this field (backend's, then the field's own).
    return connection.ops.get_db_converters(f.cached_col) + f.cached_col.get_db_converters(connection)


def update(obj: Model, names: list[str]) -> None:
    """`obj.save(update_fields=names)` as one plain UPDATE by primary key, each value prepared as
    the ORM prepares it (JSON, times). For models no signal listens to: none is sent."""
    fields = [cast(Field, obj._meta.get_field(name)) for name in names]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(str(f.column))} = %s" for f in fields)
    values = [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(obj._meta.db_table)} SET {assignments} WHERE {quote(str(obj._meta.pk.column))} = %s",
            [*values, obj.pk],
        )


def value_of(f: Field, value):
    """A column's value as a query returned it, converted as the ORM would."""
    for convert in _converters(f):
        value = convert(value, f.cached_col, connection)
    return value
