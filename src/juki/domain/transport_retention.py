"""How long a node keeps the notices it only passed on (転送用の写し, PRF-4): the inbox and the outgoing
stream, as opposed to its file (:mod:`juki.domain.node_retention`).

Every node keeps two **transport copies** of each notice, each with the notice's items (氏名, 住所, …) in
``payload`` and its 個人番号 sealed in ``number_ciphertext``:

* ``net_inbox`` (受信した通知, at the prefecture and the national server): each notice as received.  What
  is still needed of a row once it was decided (applied, forced, skipped, duplicate):
  its key (source, source seq) -- a sender's retry of an already stored seq is recognised and ignored
  (idempotency) -- the key's density -- the ``received:<source>`` acknowledgement counts only contiguous
  seqs (gap detection) -- its origin, 更新順番号, status and times (what the operator and ``juki net
  status`` see), and for a 住民票コードの変更 the two codes (the day the old code's last row was superseded,
  read by the file's retention).  The notice's items and the 個人番号 are no longer needed: the file holds
  the record, and at a prefecture the forwarded copy is in the outgoing stream.
  A **refused** row is needed whole until its alert is resolved (``juki net resume``: retry and force
  apply it again); a **pending** row until it is decided.
* ``net_outbound`` (送信する通知, the municipality CS's 更新順番号 stream and a prefecture's stream to the
  national server): each entry is needed whole until the destination acknowledged it
  (``net_deliveries.acked_through``), and a while after: a receiver restored from a backup asks again for
  what it lost (its acknowledgement goes down), and only an entry still whole can be sent again.

The decision (recorded in ``docs/operations.md``): **redact in place**, do not delete.  A settled row
keeps every column that idempotency, gap detection and the operator need; its ``payload`` becomes
``{"redacted": {"run_id": …, "on": …}}`` (plus, for a 住民票コードの変更, the two 住民票コード, which the
node's history keeps for 150 years anyway) and its sealed 個人番号 and key id become NULL.  Deleting rows
below a high-water mark was rejected: the inbox's idempotency check and its gap scan look the rows up by
key, the outgoing stream's seq must stay dense, and the status counts would silently shrink.

How long (:data:`TRANSPORT_KEEP_DAYS`, the node's ``transport_keep_days``, 1 to
:data:`MAX_TRANSPORT_KEEP_DAYS`): an inbox row is redacted that many days after it was **decided**
(``decided_at``); an outgoing entry that many days after the destination **acknowledged** it -- known to
within a day, from the acknowledgements each daily retention run records (an entry counts as
acknowledged by a run if every destination had acknowledged it then, and still has).  Every such copy
therefore outlives its need by at most ``transport_keep_days`` + 1 days, far inside PRF-4's 150 years
(the outer bound of the record it carries).  A row still needed (pending, refused with its alert open,
not acknowledged) is never redacted, however old: its alert or the delivery status shows it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

TRANSPORT_KEEP_DAYS = 30
"""Default days a settled transport copy keeps the notice and its sealed 個人番号 (``transport_keep_days``)."""

MAX_TRANSPORT_KEEP_DAYS = 365
"""The longest ``transport_keep_days`` a node may set (a copy is a transport aid, never a second file)."""

REDACTED = "redacted"
"""The key of a redacted row's payload."""

KEPT_KEYS = ("juminhyo_code", "old_juminhyo_code")
"""What a redacted payload keeps, for a 住民票コードの変更 only: the two codes."""

SETTLED = frozenset({"applied", "forced", "skipped", "duplicate"})
"""Inbox statuses of a row that nothing will apply again."""


def keep_period(days: int) -> dt.timedelta:
    """``transport_keep_days`` as a period; outside 1..:data:`MAX_TRANSPORT_KEEP_DAYS` a ValueError."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_TRANSPORT_KEEP_DAYS:
        raise ValueError(f"transport_keep_days is a whole number of days from 1 to {MAX_TRANSPORT_KEEP_DAYS}, "
                         f"not {days!r} (PRF-4)")
    return dt.timedelta(days=days)


def is_redacted(payload: Mapping[str, Any]) -> bool:
    return REDACTED in payload


def redacted_payload(payload: Mapping[str, Any], *, run_id: int, on: dt.date) -> dict[str, Any]:
    """What a redacted row keeps of ``payload``: the run that redacted it and, for a 住民票コードの変更,
    the old and the new 住民票コード; nothing else (no name, address, date of birth or 個人番号)."""
    out: dict[str, Any] = {REDACTED: {"run_id": run_id, "on": on.isoformat()}}
    new, old = payload.get("juminhyo_code"), payload.get("old_juminhyo_code")
    if isinstance(new, str) and isinstance(old, str) and old and old != new:
        out.update(juminhyo_code=new, old_juminhyo_code=old)
    return out


def inbox_redactable(status: str, decided_at: dt.datetime | None, *, before: dt.datetime, refusal_open: bool) -> bool:
    """May an inbox row be redacted: decided before ``before`` (now minus the keeping period), settled,
    or refused with no open alert left (a refusal being resolved needs the notice)."""
    if decided_at is None or decided_at >= before:
        return False
    if status in SETTLED:
        return True
    return status == "refused" and not refusal_open


def outbound_through(*, created_through: int, acked_now: Iterable[int], acked_then: Iterable[int] | None) -> int:
    """The highest seq of the outgoing stream that may be redacted: created before the keeping period
    began (``created_through``), acknowledged by every destination now (``acked_now``) and already at the
    last run at least a keeping period ago (``acked_then``: None when there is no such run).  No
    destination means nothing was acknowledged."""
    now, then = list(acked_now), list(acked_then) if acked_then is not None else []
    if not now or not then:
        return 0
    return max(0, min(created_through, min(now), min(then)))
