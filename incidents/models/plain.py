"""Model instances from a plain SQL statement built once, converted as the ORM converts them.

For the few statements on the alert intake's hot path (the token's integration, the alert
group locked with its incident) where building the ORM query took longer than the database took
to run it, on every delivery, some of it while other deliveries of the same group waited
(bench/results.md). A statement lists each model's columns (`columns`), and `split` turns
one row back into the instances; the fields left out are deferred, read when first used.
"""

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar, cast

from django.db import InterfaceError, OperationalError, connection
from django.db.models import Field, Model

Layout = list[tuple[type[Model], list[Field]]]
T = TypeVar("T")


def first_query(read: Callable[[], T]) -> T:
    """`read()`, the request's first query, standing in for the connection's health check.

    With CONN_HEALTH_CHECKS on, Django sends `SELECT 1` before the first query of each request on
    a reused connection: a round trip that, on a page served from the cache or on an alert
    delivery, was a large share of the work. Here the request's own first query goes instead: a
    connection the database dropped fails it at once, and is closed and opened again for one more
    try, which is what the health check would have done. (Inside a transaction, or when the check
    already ran or is off, `read()` runs as it is.)
    """
    db: Any = connection  # the health-check flags are Django's, not in its type stubs
    if db.connection is None or db.in_atomic_block or not db.health_check_enabled or db.health_check_done:
        return read()
    db.health_check_done = True
    try:
        return read()
    except (InterfaceError, OperationalError):
        connection.close()
        return read()


def prepares() -> bool:
    """Whether this connection prepares statements: PostgreSQL with DB_PREPARED_STATEMENTS on
    (server-side binding, incidentsite/settings.py)."""
    return connection.vendor == "postgresql" and bool(connection.settings_dict["OPTIONS"].get("server_side_binding"))


def generic_plans() -> None:
    """Until the transaction ends, a prepared statement runs on its one generic plan.

    Beacon plans each execution for its own values (plan_cache_mode=force_custom_plan,
    incidentsite/settings.py), which pages need: a status or a search term may match a few rows
    or half the table. The alert intake's statements are lookups by key, which one plan serves
    for every value, and planning them again on each delivery was two thirds of the database's
    work on it: the alert group's four-table lock statement took 0.65 ms to plan and 0.06 ms to
    run (pg_stat_statements on the bench database). `SET LOCAL` ends with the transaction, so
    nothing else on the connection is planned otherwise, behind PgBouncer too. Without prepared
    statements (DB_PREPARED_STATEMENTS=0) there is no plan to keep, and nothing is sent.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("generic_plans() applies to a transaction: call it inside transaction.atomic().")
    if prepares():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")


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


def insert(*objs: Model) -> None:
    """`obj.save()` of new rows of one model as plain multi-row INSERTs, each value prepared as the
    ORM prepares it (defaults, JSON, times), each object given its new primary key. For models no
    signal listens to: none is sent, and a model's own save() is not called."""
    if not objs:
        return
    model = type(objs[0])
    fields, sql = _insert_statement(model)
    if not connection.features.can_return_rows_from_bulk_insert:
        for obj in objs:  # SQLite before 3.35 (Django 5.2 runs on 3.31): the ORM, row by row
            obj.save(force_insert=True)
        return
    rows = [[f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields] for obj in objs]
    # The database's limit on parameters (SQLite's), and at most 1,000 rows (PostgreSQL's 65,535).
    size = min(connection.ops.bulk_batch_size(fields, list(objs)) or len(objs), 1000)
    values = f"({', '.join(['%s'] * len(fields))})"
    pk_column = connection.ops.quote_name(str(model._meta.pk.column))
    with connection.cursor() as cursor:
        for start in range(0, len(objs), size):
            batch = rows[start : start + size]
            cursor.execute(
                f"{sql} VALUES {', '.join([values] * len(batch))} RETURNING {pk_column}",
                [value for row in batch for value in row],
            )
            for obj, (pk,) in zip(objs[start : start + size], cursor.fetchall(), strict=True):
                obj.pk = pk
                obj._state.adding = False
                obj._state.db = connection.alias


@cache
def _insert_statement(model: type[Model]) -> tuple[list[Field], str]:
    # Every column but an automatic primary key and generated columns, which the database gives.
    fields = [f for f in model._meta.concrete_fields if f is not model._meta.auto_field and not f.generated]
    quote = connection.ops.quote_name
    return fields, f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(str(f.column)) for f in fields)})"


def value_of(f: Field, value):
    """A column's value as a query returned it, converted as the ORM would."""
    for convert in _converters(f):
        value = convert(value, f.cached_col, connection)
    return value
