"""Database-enforced append-only tables (house rule 2), on SQLite and PostgreSQL.

``append_only_ddl(dialect)`` returns the statements that make the database itself refuse UPDATE and
DELETE (and on PostgreSQL TRUNCATE) on every table in :data:`~juki.adapters.db.schema.APPEND_ONLY_TABLES`;
the initial migration executes them.  The error message is always ``juki: <table> is append-only``.

* SQLite: ``BEFORE UPDATE`` / ``BEFORE DELETE`` triggers doing ``RAISE(ABORT, ...)`` (surfaces as an
  ``IntegrityError``).  SQLite has no TRUNCATE; ``DELETE FROM t`` without WHERE still fires the trigger.
* PostgreSQL: one plpgsql function ``juki_refuse_change()`` raising an exception (SQLSTATE P0001),
  ``BEFORE UPDATE OR DELETE ... FOR EACH ROW`` triggers and a ``BEFORE TRUNCATE ... FOR EACH STATEMENT``
  trigger per table.  A superuser can still disable triggers; that is what audit (pgaudit) is for.

Caveats for future migrations:

* A SQLite batch migration (``render_as_batch``) that rebuilds one of these tables drops its triggers
  with the old table: call :func:`append_only_ddl` again for that table afterwards.
* The 150-year retention purge (REG-R5) will need its own approved path: e.g. a migration-defined
  ``juki_purge`` function that sets a transaction-local flag the trigger checks, and is itself logged.
  Nothing here allows any deletion today.
"""

from __future__ import annotations

from collections.abc import Iterable

from .schema import APPEND_ONLY_TABLES

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION juki_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'juki: % is append-only', TG_TABLE_NAME
        USING HINT = 'the register never updates or deletes recorded rows; record a new event instead';
END
$$
"""


def pg_guard_function(name: str, allow_delete_when: str, hint: str, message: str = "juki: % is append-only", *,
                      operation: str = "DELETE") -> str:
    """A plpgsql trigger function ``name()`` that lets a DELETE through when ``allow_delete_when`` (SQL over
    ``OLD``) holds and otherwise raises ``message`` (``%`` is the table's name) with ``hint``: the guard of
    a table whose rows only an approved purge may delete (audit log, provision log, register history).
    With ``operation="UPDATE"`` it lets an UPDATE through instead (the condition may read ``OLD`` and
    ``NEW``): the guard of a table whose rows only a retention run may redact (``net_outbound``)."""
    if operation not in ("DELETE", "UPDATE"):
        raise ValueError(f"a guard lets a DELETE or an UPDATE through, not {operation!r}")
    returned = "OLD" if operation == "DELETE" else "NEW"
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = '{operation}' AND {allow_delete_when} THEN
        RETURN {returned};
    END IF;
    RAISE EXCEPTION '{message}', TG_TABLE_NAME
        USING HINT = '{hint}';
END
$$
"""


def append_only_ddl(dialect: str, tables: Iterable[str] = APPEND_ONLY_TABLES) -> list[str]:
    """The statements that create the guards for ``tables`` on ``dialect`` ('sqlite' or 'postgresql')."""
    stmts: list[str] = []
    if dialect == "sqlite":
        for t in tables:
            for op in ("UPDATE", "DELETE"):
                stmts.append(
                    f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t} "
                    f"BEGIN SELECT RAISE(ABORT, 'juki: {t} is append-only'); END"
                )
    elif dialect == "postgresql":
        stmts.append(PG_FUNCTION)
        for t in tables:
            stmts.append(f"DROP TRIGGER IF EXISTS {t}_no_update_delete ON {t}")
            stmts.append(
                f"CREATE TRIGGER {t}_no_update_delete BEFORE UPDATE OR DELETE ON {t} "
                "FOR EACH ROW EXECUTE FUNCTION juki_refuse_change()"
            )
            stmts.append(f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}")
            stmts.append(
                f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
                "FOR EACH STATEMENT EXECUTE FUNCTION juki_refuse_change()"
            )
    else:
        raise ValueError(f"no append-only guards for dialect {dialect!r}")
    return stmts


def drop_append_only_ddl(dialect: str, tables: Iterable[str] = APPEND_ONLY_TABLES) -> list[str]:
    """The statements that remove the guards (for downgrades only)."""
    stmts: list[str] = []
    if dialect == "sqlite":
        for t in tables:
            stmts += [f"DROP TRIGGER IF EXISTS {t}_no_update", f"DROP TRIGGER IF EXISTS {t}_no_delete"]
    elif dialect == "postgresql":
        for t in tables:
            stmts += [
                f"DROP TRIGGER IF EXISTS {t}_no_update_delete ON {t}",
                f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}",
            ]
        stmts.append("DROP FUNCTION IF EXISTS juki_refuse_change()")
    else:
        raise ValueError(f"no append-only guards for dialect {dialect!r}")
    return stmts
