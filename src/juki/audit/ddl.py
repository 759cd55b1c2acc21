"""The database guards of the audit tables, on SQLite and PostgreSQL (house rule 2).

* ``audit_alerts``, ``audit_anchors``, ``audit_purges``: the generic append-only guard of
  :mod:`juki.adapters.db.append_only` (UPDATE, DELETE, TRUNCATE refused).
* ``audit_entries``, ``audit_subjects``: UPDATE and TRUNCATE refused always; DELETE refused unless, in
  the same transaction, a row of ``audit_purge_active`` names a purge request that has an *approve* row
  and whose ``upto_seq`` covers the row being deleted.  Only :func:`juki.audit.retention.execute_purge`
  writes that marker, and it empties it again before commit.  The ordinary INSERT path cannot delete.
* ``audit_head``: DELETE and TRUNCATE refused (UPDATE is how the head moves; a CHECK keeps one row).

Trigger names follow :mod:`juki.adapters.db.append_only` (``<table>_no_update`` / ``_no_delete`` on
SQLite, ``<table>_no_update_delete`` / ``_no_truncate`` on PostgreSQL).
"""

from __future__ import annotations

from juki.adapters.db.append_only import append_only_ddl, pg_guard_function

from .schema import AUDIT_INSERT_ONLY, AUDIT_PURGEABLE

_APPROVED_PURGE_COVERS_OLD = (
    "EXISTS (SELECT 1 FROM audit_purge_active a "
    "JOIN audit_purges r ON r.id = a.request_id AND r.step = 'request' "
    "JOIN audit_purges p ON p.request_id = a.request_id AND p.step = 'approve' "
    "WHERE OLD.seq <= r.upto_seq)"
)

PG_GUARD_FUNCTION = pg_guard_function(
    "juki_audit_guard", _APPROVED_PURGE_COVERS_OLD,
    "the audit log is only ever appended to; deletion needs an approved retention purge")


def audit_guard_ddl(dialect: str) -> list[str]:
    """Statements that install every audit guard on ``dialect`` ('sqlite' or 'postgresql')."""
    stmts = append_only_ddl(dialect, AUDIT_INSERT_ONLY)
    if dialect == "sqlite":
        for t in AUDIT_PURGEABLE:
            stmts.append(
                f"CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t} "
                f"BEGIN SELECT RAISE(ABORT, 'juki: {t} is append-only'); END"
            )
            stmts.append(
                f"CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t} "
                f"WHEN NOT {_APPROVED_PURGE_COVERS_OLD} "
                f"BEGIN SELECT RAISE(ABORT, 'juki: {t} is append-only'); END"
            )
        stmts.append(
            "CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_head "
            "BEGIN SELECT RAISE(ABORT, 'juki: audit_head cannot be deleted'); END"
        )
    elif dialect == "postgresql":
        stmts.append(PG_GUARD_FUNCTION)
        for t in AUDIT_PURGEABLE:
            stmts += [
                f"DROP TRIGGER IF EXISTS {t}_no_update_delete ON {t}",
                f"CREATE TRIGGER {t}_no_update_delete BEFORE UPDATE OR DELETE ON {t} "
                "FOR EACH ROW EXECUTE FUNCTION juki_audit_guard()",
                f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}",
                f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
                "FOR EACH STATEMENT EXECUTE FUNCTION juki_refuse_change()",
            ]
        stmts += [
            "DROP TRIGGER IF EXISTS audit_head_no_delete ON audit_head",
            "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
            "FOR EACH ROW EXECUTE FUNCTION juki_refuse_change()",
            "DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_head",
            "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
            "FOR EACH STATEMENT EXECUTE FUNCTION juki_refuse_change()",
        ]
    else:
        raise ValueError(f"no audit guards for dialect {dialect!r}")
    return stmts


def drop_audit_guard_ddl(dialect: str) -> list[str]:
    """Statements that remove every audit guard (downgrade; and the tamper tests, playing an attacker
    with database superuser rights)."""
    tables = (*AUDIT_INSERT_ONLY, *AUDIT_PURGEABLE)
    if dialect == "sqlite":
        stmts = [f"DROP TRIGGER IF EXISTS {t}_no_{op}" for t in tables for op in ("update", "delete")]
        stmts.append("DROP TRIGGER IF EXISTS audit_head_no_delete")
        return stmts
    if dialect == "postgresql":
        stmts = [
            f"DROP TRIGGER IF EXISTS {t}_{suffix} ON {t}"
            for t in tables
            for suffix in ("no_update_delete", "no_truncate")
        ]
        stmts += [
            "DROP TRIGGER IF EXISTS audit_head_no_delete ON audit_head",
            "DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_head",
            "DROP FUNCTION IF EXISTS juki_audit_guard()",
        ]
        return stmts
    raise ValueError(f"no audit guards for dialect {dialect!r}")
