"""Batched INSERTs for the store's write path, without the ORM's per-row work.

``bulk_create`` compiles its INSERT for every batch and runs each value of each row through
its field's ``get_db_prep_save``: for a batch of spans that costs more than the database's
own work (issue 15). A ``BulkInsert`` builds its statement once per database connection
and table, with the same ``INSERT``/conflict wording the ORM would use on that engine
(``INSERT OR IGNORE`` on SQLite, ``ON CONFLICT DO NOTHING`` on PostgreSQL), and hands the
rows to ``cursor.executemany`` as plain tuples. Only the JSON columns need adapting, and
they go through the connection's ``adapt_json_value``, as a ``JSONField`` does it, so the
stored values are the ORM's. The other columns of the store's tables are strings, integers
and booleans, which both drivers take as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connections, models, transaction
from django.db.models.constants import OnConflict


class BulkInsert:
    """An INSERT into ``model``'s table of the ``fields`` named, in that order: each row is
    a tuple of those fields' values. ``ignore_conflicts`` skips rows that would break a
    unique constraint, as ``bulk_create(ignore_conflicts=True)`` does."""

    def __init__(self, model: type[models.Model], fields: Sequence[str], *, ignore_conflicts: bool = False):
        self.model = model
        self.fields: tuple[models.Field, ...] = tuple(_concrete(model, name) for name in fields)
        self.on_conflict = OnConflict.IGNORE if ignore_conflicts else None
        self._sql: dict[str, str] = {}  # by database alias, built on first use
        self.json_positions = tuple(
            (position, field.encoder)
            for position, field in enumerate(self.fields)
            if isinstance(field, models.JSONField)
        )

    def run(self, rows: Iterable[Sequence], *, using: str) -> None:
        connection = connections[using]
        sql = self._sql.get(using) or self._sql.setdefault(using, self.sql(using))
        adapt_json = connection.ops.adapt_json_value
        memo: dict = {}  # for this batch, whose rows keep the values alive (ids stay theirs)
        params: list[Sequence] = (
            [self._adapted(row, adapt_json, memo) for row in rows] if self.json_positions else list(rows)
        )
        if params:  # in one transaction, as bulk_create: not a commit per row
            with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
                cursor.executemany(sql, params)

    def _adapted(self, row: Sequence, adapt_json, memo: dict) -> list:
        """The row with its JSON values adapted, each distinct value once per batch: the
        spans of a process share one resource, and most have no events and no links."""
        params = list(row)
        for position, encoder in self.json_positions:
            value = params[position]
            key = id(value) if value else (position, value.__class__)
            adapted = memo.get(key)
            if adapted is None:
                adapted = memo[key] = adapt_json(value, encoder)
            params[position] = adapted
        return params

    def sql(self, using: str) -> str:
        ops = connections[using].ops
        columns = ", ".join(ops.quote_name(field.column) for field in self.fields)
        placeholders = ", ".join(["%s"] * len(self.fields))
        suffix = ops.on_conflict_suffix_sql(self.fields, self.on_conflict, None, None)
        table = ops.quote_name(self.model._meta.db_table)
        insert = ops.insert_statement(on_conflict=self.on_conflict)
        return f"{insert} {table} ({columns}) VALUES ({placeholders}) {suffix}"


def _concrete(model: type[models.Model], name: str) -> models.Field:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.concrete:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field
