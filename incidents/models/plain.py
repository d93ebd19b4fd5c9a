"""Model instances from a plain SQL statement built once, converted as the ORM converts them.

For the few statements on the alert intake's hot path (the token's integration, the alert
group locked with its incident) where building the ORM query took longer than the database took
to run it, on every delivery, some of it while other deliveries of the same group waited
(bench/results.md). A statement lists each model's columns (`columns`), and `split` turns
one row back into the instances; the fields left out are deferred, read when first used.
"""

from functools import cache

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
    converted = []
    for f, value in zip(fields, values, strict=True):
        for convert in _converters(f):
            value = convert(value, f.cached_col, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


@cache
def _converters(f: Field) -> list:
    # What the ORM's compiler applies to a column of this field (backend's, then the field's own).
    return connection.ops.get_db_converters(f.cached_col) + f.cached_col.get_db_converters(connection)
