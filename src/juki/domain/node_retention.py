"""Retention at every 住基ネット node (保存期間, PRF-4): what of a node's file has expired, decided from the
days the node received (at a municipality's CS: took in) each notice.

What the law keeps, and for how long (seed 004 II(1)6 and III(1)7; 住基法施行令第30条の6 「都道府県における
本人確認情報の保存期間」):

* the **current record** (住民票の記載の修正後の本人確認情報) is kept until the next notice of a change
  (新たに記載の修正の通知を受けるまで);
* the **history** (修正前の本人確認情報, 履歴情報) and the record of a **消除者** (a person removed: moved out of
  the prefecture, died, 職権消除) are kept **150 years**; the 個人番号 of a deceased person stays with their
  消除者 record for the same 150 years (seed 004 ⑩死者の個人番号);
* past that, the system **finds and deletes them by itself** (システムにて自動判別し消去する).

**The municipality's CS** (市町村CSの本人確認情報ファイル) follows the same rule under another article.  The
municipalities' assessments say, for the CS's file: the current record is kept until the next notice of
a change, the history (履歴情報) and the 消除者's 本人確認情報 150 years, citing 住基法施行令第34条第2項
(保存), not 第30条の6 (seed 000 千葉市 lines 2337-2339; seed 001 札幌市 lines 1963-1965; seed 003 藤沢市
line 946); a deceased person's 個人番号 stays with it as long (seed 000 line 4204, seed 001 line 3789);
and the system erases what has expired by itself (システムにて自動判別し消去する: seed 000 line 2334, seed
003 line 321; 消去する仕組みとする: seed 000 line 4230, seed 001 line 3823).  Seed 001 line 1951 says
札幌市 deletes it in a CS batch started by hand (バッチ処理で…手動削除する); this project runs the same
batch daily by itself (the other seeds' wording) and keeps ``juki net retention run`` for the by-hand
start.  The CS's period runs from the day the CS took the register's change in (its history row's
``recorded_at``), which is the day of the 消除 or 修正 up to the intake's delay.

The seeds cite 施行令第30条の6 for the 都道府県知事保存本人確認情報ファイル only.  The same rule is applied to
the 附票本人確認情報 file of the 附票都道府県サーバ and to the national server's 機構保存本人確認情報 (a
decision of this project: the seeds give no article for those two files; 機構 is described only from the
outside, REQUIREMENTS §6).  The period runs from the day the node **received** the notice of the 修正 or
消除 (通知を受けた年月日, PRF-1), in Japan's calendar, not from the 異動年月日.

The rule, for one (file, 住民票コード), from its history rows in the order they were recorded:

* **Whole record (消除者)**: the current record is removed (消除) or void (無効: created by a change that was
  cancelled), and every row of its history -- the 消除 notice and anything received after it -- was
  received on or before the cutoff: the current record and every history row go.
* **Superseded history**: otherwise, a row that became the current record expires once the next row that
  became the current record was received on or before the cutoff (it was superseded then).  A row kept as
  history only (``current`` False: e.g. a 転出 from a municipality the person had already left for
  another) was history from the day it was received, and expires 150 years after that.  The latest
  current row is the current record and never expires this way: a living resident's record is never
  purged, however old.
* **A replaced 住民票コード** (住民票コードの変更): the record moved to the new code; the old code has history
  only.  Its last current row was superseded the day the node received the change (``replaced_on``).  If
  that day is not known, that row is kept (never purged early).

The cutoff is ``today`` minus the retention years (:func:`~juki.domain.retention.years_before`: 29 February
becomes 28 February), and a notice received **on** the cutoff has expired -- the same convention as the
register's purge (REG-R5, :mod:`juki.domain.retention`).  Storage, the guard and the run are in
:mod:`juki.net.retention`.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from .identity import RecordState
from .retention import years_before

NODE_RETENTION_YEARS = 150
"""住基法施行令第30条の6 (prefecture), 第34条第2項 (the municipality's CS): history and 消除者 kept 150
years (applied to every file of every node, see the module docstring)."""

GONE_STATES = frozenset({RecordState.REMOVED, RecordState.VOID})
"""States of a current record that make its person a 消除者 for retention (消除, and 無効 as in REG-R5)."""


def node_cutoff(today: dt.date, years: int = NODE_RETENTION_YEARS) -> dt.date:
    """The newest day of receipt that has expired on ``today``."""
    return years_before(today, years)


@dataclass(frozen=True)
class HistoryFacts:
    """What the rule needs of one history row: its id (recording order), whether its notice became the
    current record, and the day the node received that notice (通知を受けた年月日, JST)."""

    history_id: int
    current: bool
    received: dt.date


@dataclass(frozen=True)
class Expiry:
    """What of one (file, 住民票コード) has expired: these history rows and, if ``whole``, the current
    record too (then ``history_ids`` is every row of its history)."""

    history_ids: tuple[int, ...]
    whole: bool


def expiry(rows: Sequence[HistoryFacts], record_state: RecordState | None, cutoff: dt.date, *,
           replaced_on: dt.date | None = None) -> Expiry | None:
    """What of one (file, 住民票コード) has expired by ``cutoff`` (see the module docstring), or None.

    ``record_state`` is the state of its current record, None when the code has no current record (its
    record moved to a new 住民票コード; ``replaced_on`` is the day the node received that change, if known).
    """
    ordered = sorted(rows, key=lambda r: r.history_id)
    if not ordered:
        return None
    if record_state in GONE_STATES and all(r.received <= cutoff for r in ordered):
        return Expiry(tuple(r.history_id for r in ordered), True)
    expired: set[int] = set()
    chain = [r for r in ordered if r.current]
    for older, newer in itertools.pairwise(chain):
        if newer.received <= cutoff:
            expired.add(older.history_id)
    if chain and record_state is None and replaced_on is not None and replaced_on <= cutoff:
        expired.add(chain[-1].history_id)
    expired.update(r.history_id for r in ordered if not r.current and r.received <= cutoff)
    if not expired:
        return None
    return Expiry(tuple(r.history_id for r in ordered if r.history_id in expired), False)
