"""Insert many new rows fast: ``COPY`` on PostgreSQL, ``bulk_create`` elsewhere.

Used by the data generators (a million demo accounts) and, for saving changed rows in one
statement, by the jobs that move many accounts at once (``bulk_save_fields``). Rows
are either unsaved model instances (``bulk_insert``) or plain tuples in the order of named
fields (``insert_rows``, cheaper: no model instance per row). ``with_ids`` gives instances
their primary keys first, from the table's own sequence, for rows inserted afterwards that
point at them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connections, models, router

BATCH = 5000


def reserve_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` primary keys for new rows of ``model`` that no other insert will take.

    PostgreSQL draws them from the table's sequence; SQLite (one writer at a time, and the
    caller is in a transaction) continues after the highest id.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    table = model._meta.db_table
    column = str(model._meta.pk.column)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, column, count]
            )
            return [row[0] for row in cursor.fetchall()]
        quote = connection.ops.quote_name
        cursor.execute(f"SELECT COALESCE(MAX({quote(column)}), 0) FROM {quote(table)}")  # noqa: S608 - our names
        highest = int(cursor.fetchone()[0])
        return list(range(highest + 1, highest + 1 + count))


def _to_json(value: Any) -> Any:
    return None if value is None else json.dumps(value, cls=DjangoJSONEncoder)


def _copy(model: type[models.Model], fields: Sequence[models.Field[Any, Any]], rows: Iterable[Sequence[Any]]) -> None:
    """COPY the rows in; psycopg writes Python values (dates, decimals, text) in COPY's format."""
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    convert: list[Callable[[Any], Any] | None] = [
        _to_json if isinstance(field, models.JSONField) else None for field in fields
    ]
    columns = ", ".join(quote(str(field.column)) for field in fields)
    statement = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        if not any(convert):
            for row in rows:
                copy.write_row(row)
            return
        for row in rows:
            copy.write_row([value if fn is None else fn(value) for fn, value in zip(convert, row, strict=True)])


def bulk_insert(model: type[models.Model], objs: Sequence[Any], *, with_ids: bool = False) -> None:
    """Insert ``objs`` (unsaved instances of ``model``); with ``with_ids`` they get their pks."""
    if not objs:
        return
    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        model._default_manager.bulk_create(objs, batch_size=BATCH)  # pks set on SQLite ≥ 3.35 too
        return
    if with_ids:
        for obj, pk in zip(objs, reserve_ids(model, len(objs)), strict=True):
            obj.pk = pk
    # Without ids, the identity column numbers the rows.
    fields = [field for field in model._meta.concrete_fields if with_ids or not field.primary_key]
    names = [field.attname for field in fields]
    _copy(model, fields, ([getattr(obj, name) for name in names] for obj in objs))


def insert_rows(model: type[models.Model], names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert plain rows: each a tuple of values for the fields ``names`` (attnames, e.g. ``account_id``)."""
    if not rows:
        return
    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        model._default_manager.bulk_create(
            (model(**dict(zip(names, row, strict=True))) for row in rows), batch_size=BATCH
        )
        return
    by_name = {field.attname: field for field in model._meta.concrete_fields}
    _copy(model, [by_name[name] for name in names], rows)


def bulk_save_fields(objs: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Save these fields of many rows of one model in one statement.

    ``bulk_update`` builds a ``CASE WHEN`` per row and field, which costs more Python time than
    all the rest of a reactivation micro-batch; on PostgreSQL an ``UPDATE ... FROM (VALUES
    ...)`` costs next to nothing to build. Elsewhere (SQLite) it is ``bulk_update``. Text goes
    in as ``text`` so that the column's length is checked, not silently cut.
    """
    if not objs or not fields:
        return
    model = type(objs[0])
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objs, fields)
        return
    concrete = {name: field for field in model._meta.concrete_fields for name in (field.name, field.attname)}
    columns = [model._meta.pk, *(concrete[name] for name in fields)]
    casts = [
        "text" if isinstance(field, models.CharField | models.TextField) else field.db_type(connection)
        for field in columns
    ]
    row = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    params = [field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs for field in columns]
    table = connection.ops.quote_name(model._meta.db_table)
    names = [connection.ops.quote_name(str(field.column)) for field in columns]
    assignments = ", ".join(f"{name} = v.{name}" for name in names[1:])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row] * len(objs))}) "  # noqa: S608 - our names
            f"AS v ({', '.join(names)}) WHERE {table}.{names[0]} = v.{names[0]}",
            params,
        )


# What a bulk load drops and builds again: a table's foreign keys (checked row by row at commit
# otherwise), its unique constraints that no foreign key relies on, and its plain indexes. The
# primary key and the CHECK constraints stay: they check each row as it comes in, cheaply.
_DEFERRABLE = """
SELECT 'constraint', conname, pg_get_constraintdef(c.oid)
  FROM pg_constraint c
 WHERE c.conrelid = %(table)s::regclass
   AND (c.contype = 'f'
        OR (c.contype = 'u' AND NOT EXISTS (
              SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid)))
UNION ALL
SELECT 'index', i.relname, pg_get_indexdef(i.oid)
  FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
 WHERE x.indrelid = %(table)s::regclass
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
"""


@contextmanager
def indexes_deferred(*models_: type[models.Model]) -> Iterator[None]:
    """Load many rows into these tables with their indexes and foreign keys built afterwards.

    On PostgreSQL, inside the caller's transaction: the plain indexes, the unique constraints no
    foreign key relies on and the foreign keys of the tables are dropped, and made again (each
    index sorted once, each key checked in one pass) when the block ends; if the block fails,
    the transaction rolls the drops back with everything else. What ``pg_restore`` does, for
    the same reason: a million rows go in several times faster. Elsewhere it does nothing.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        yield
        return
    if not connection.in_atomic_block:
        raise RuntimeError("indexes_deferred must run inside a transaction, so that a failure restores them.")
    quote = connection.ops.quote_name
    dropped: list[tuple[str, str, str, str]] = []
    with connection.cursor() as cursor:
        for model in models_:
            table = model._meta.db_table
            cursor.execute(_DEFERRABLE, {"table": table})
            dropped += [(table, kind, name, definition) for kind, name, definition in cursor.fetchall()]
        for table, kind, name, _definition in dropped:
            if kind == "constraint":
                cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
            else:
                cursor.execute(f"DROP INDEX {quote(name)}")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        # Indexes and unique constraints first, then the foreign keys (checked in one pass each).
        for table, kind, name, definition in sorted(dropped, key=lambda item: item[3].startswith("FOREIGN KEY")):
            if kind == "constraint":
                cursor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}")
            else:
                cursor.execute(definition)
