"""Database guards of the provision log (PRF-6): kept 7 years, never changed, deleted only by the purge.

``provision_log`` and ``provision_log_subjects`` refuse UPDATE always, and DELETE unless the row is older
than the cutoff of a ``provision_purge_active`` marker row.  Only :meth:`juki.net.provision.ProvisionService.purge_log`
writes that marker (with a cutoff it has checked is at least 7 years back) and removes it before its
transaction commits, so an ordinary connection can never delete a row, and nobody can delete a row
younger than the retention period through juki.  On PostgreSQL TRUNCATE is refused as well.
"""

from __future__ import annotations

from juki.adapters.db.append_only import pg_guard_function

GUARDED: tuple[str, ...] = ("provision_log", "provision_log_subjects")

_MESSAGE = "juki: %s rows are kept 7 years and never changed (PRF-6)"

PG_FUNCTION = pg_guard_function(
    "juki_provision_log_guard", "EXISTS (SELECT 1 FROM provision_purge_active a WHERE OLD.at < a.cutoff)",
    "only the retention purge deletes rows older than the retention period",
    "juki: % rows are kept 7 years and never changed (PRF-6)")


def provision_guard_ddl(dialect: str) -> list[str]:
    stmts: list[str] = []
    if dialect == "sqlite":
        for t in GUARDED:
            msg = _MESSAGE % t
            stmts.append(f"CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t} BEGIN SELECT RAISE(ABORT, '{msg}'); END")
            stmts.append(
                f"CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t} "
                "WHEN NOT EXISTS (SELECT 1 FROM provision_purge_active a WHERE OLD.at < a.cutoff) "
                f"BEGIN SELECT RAISE(ABORT, '{msg}'); END"
            )
    elif dialect == "postgresql":
        stmts.append(PG_FUNCTION)
        for t in GUARDED:
            stmts.append(f"DROP TRIGGER IF EXISTS {t}_guard ON {t}")
            stmts.append(f"CREATE TRIGGER {t}_guard BEFORE UPDATE OR DELETE ON {t} "
                         "FOR EACH ROW EXECUTE FUNCTION juki_provision_log_guard()")
            stmts.append(f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}")
            stmts.append(f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
                         "FOR EACH STATEMENT EXECUTE FUNCTION juki_refuse_change()")
    else:
        raise ValueError(f"no provision log guards for dialect {dialect!r}")
    return stmts


def drop_provision_guard_ddl(dialect: str) -> list[str]:
    stmts: list[str] = []
    for t in GUARDED:
        if dialect == "sqlite":
            stmts += [f"DROP TRIGGER IF EXISTS {t}_no_update", f"DROP TRIGGER IF EXISTS {t}_no_delete"]
        else:
            stmts += [f"DROP TRIGGER IF EXISTS {t}_guard ON {t}", f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}"]
    if dialect == "postgresql":
        stmts.append("DROP FUNCTION IF EXISTS juki_provision_log_guard()")
    return stmts
