"""Database functions the ORM lacks, in each backend's native SQL (no Python callback per row)."""

from __future__ import annotations

from django.db import models


class MonthDay(models.Func):
    """The ``"MM-DD"`` of a date column: a date's month and day, whatever the year.

    Django's ``__month`` and ``__day`` lookups call back into Python for every row on SQLite; a run
    compares every contract and contact of an organization with a few days, so this is written in
    each backend's own SQL."""

    output_field = models.CharField()
    arity = 1

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="strftime('%%m-%%d', %(expressions)s)", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="to_char(%(expressions)s, 'MM-DD')", **extra)
