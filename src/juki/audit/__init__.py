"""The audit log (SEC-3, SEC-7, NET-11): append-only and hash-chained, verified, anchored outside the
database, reviewed, disclosed per person, and purged only through an approved, logged retention step.

Public API::

    from juki.audit import AuditLog, AuditPolicy, verify, export_anchor
    seq = AuditLog().record(conn, user_id=..., terminal=..., action="person.read", subject_ids=[pid])
    AuditLog().record_now(engine, user_id=..., terminal=..., action="search", subject_ids=ids, detail={...})
    verify(engine, anchors="anchors/")            -> VerifyResult(ok, checked, first_bad_seq, reason)
    export_anchor(engine, "anchors/")              -> Path
    juki.audit.reviews: after_hours, long_sessions, bulk_reads, activity_summary, alerts
    juki.audit.disclosure: disclose, write_json, write_access_csv
    juki.audit.retention: AuditRetention, request_purge, approve_purge, execute_purge, purge_requests
"""

from .anchors import export_anchor
from .log import ACTIONS, READ_ACTIONS, AuditLog, AuditPolicy
from .verify import VerifyResult, verify

__all__ = ["ACTIONS", "READ_ACTIONS", "AuditLog", "AuditPolicy", "VerifyResult", "export_anchor", "verify"]
