"""Access decisions (SEC-2, SEC-8): pure functions of a :class:`Principal`, a :class:`Requester` and the
active 支援措置.  No I/O here: the services and the API load what they need and ask.

* :func:`can` / :func:`require` -- per function; :func:`require` raises :class:`Forbidden` naming the
  permission (field ``permission``, rule ``SEC-2/<permission>``).
* :func:`may_see_number` / :func:`may_search_number` -- 個人番号 only in number-use work; pass
  ``number_use=may_see_number(p)`` to the query views, and call :func:`check_search` before searching.
* :func:`screen` -- DV 支援措置: drops the protected people from a hit list when the request is made for
  the named offender; :func:`requires_manual_handling` says that anything about a protected person goes
  to manual handling (no automatic answer, no certificate without a supervisor).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from juki.clock import jst_date, utcnow
from juki.domain.errors import Forbidden, Problem
from juki.domain.kana import kana_key, name_key

from .model import Principal, Requester, SupportMeasure
from .roles import NUMBER_SEARCH, NUMBER_VIEW, PERMISSIONS

T = TypeVar("T")


def can(principal: Principal | None, permission: str) -> bool:
    """Whether ``principal`` holds ``permission`` (in their section).  ``None`` (no session) holds nothing."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    return principal is not None and permission in principal.permissions


def forbidden(permission: str) -> Forbidden:
    return Forbidden(
        Problem(
            "permission",
            f"SEC-2/{permission}",
            f"この操作を行う権限がありません ({permission})。",
            f"You do not have the right to do this ({permission}).",
        )
    )


def require(principal: Principal | None, permission: str) -> None:
    """Raise :class:`Forbidden` unless ``principal`` holds ``permission``."""
    if not can(principal, permission):
        raise forbidden(permission)


def may_see_number(principal: Principal | None) -> bool:
    """個人番号 unmasked only in number-use work (番号利用事務, SEC-2 / REG-SEARCH)."""
    return can(principal, NUMBER_VIEW)


def may_search_number(principal: Principal | None) -> bool:
    return can(principal, NUMBER_SEARCH)


def check_search(principal: Principal | None, criteria: Any) -> None:
    """Refuse a search by 個人番号 (``criteria.individual_number``) outside number-use work; a search by
    anything else needs ``person.search``."""
    require(principal, "person.search")
    if getattr(criteria, "individual_number", None) and not may_search_number(principal):
        raise Forbidden(
            Problem(
                "individual_number",
                "SEC-2/number.search",
                "個人番号による検索は番号利用事務の担当者に限られます。",
                "Searching by 個人番号 is limited to staff in number-use work.",
            )
        )


# --- DV 支援措置 (SEC-8) --------------------------------------------------------------------------


def _today() -> dt.date:
    return jst_date(utcnow())


def is_offender(requester: Requester | None, measure: SupportMeasure) -> bool:
    """Whether ``requester`` is (or may be) the offender named by ``measure``.

    Matched on the offender's 宛名番号, or on the name search key (kanji or kana) together with the birth
    date.  When either side lacks a birth date, a name match alone counts: a false match only sends the
    request to manual handling, a missed one discloses a victim's address."""
    if requester is None:
        return False
    if requester.person_id and measure.offender_person_id and requester.person_id == measure.offender_person_id:
        return True
    names = False
    if requester.name and measure.offender_name:
        names = name_key(requester.name) == name_key(measure.offender_name) != ""
    if not names and requester.name_kana and measure.offender_name_kana:
        names = kana_key(requester.name_kana) == kana_key(measure.offender_name_kana) != ""
    if not names:
        return False
    if requester.birth_date is None or measure.offender_birth_date is None:
        return True
    return requester.birth_date == measure.offender_birth_date


def _person_id(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return str(item["person_id"])
    return str(item.person_id)


@dataclass(frozen=True)
class Screened(Generic[T]):
    """A list split by the 支援措置: what may be shown, and the ids withheld (for the audit log)."""

    visible: list[T] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)


def active(measures: Iterable[SupportMeasure], on: dt.date | None = None) -> list[SupportMeasure]:
    day = on or _today()
    return [m for m in measures if m.active_on(day)]


def screen(
    items: Sequence[T],
    requester: Requester | None,
    measures: Iterable[SupportMeasure],
    *,
    on: dt.date | None = None,
) -> Screened[T]:
    """Split ``items`` (search hits, records, views or ids: anything with a ``person_id``) into those
    that may be shown for a request made for ``requester`` and those withheld because a 支援措置 active
    on ``on`` (default today, JST) protects them from that requester."""
    blocked = {m.person_id for m in active(measures, on) if is_offender(requester, m)}
    visible: list[T] = []
    withheld: list[str] = []
    for item in items:
        pid = _person_id(item)
        if pid in blocked:
            withheld.append(pid)
        else:
            visible.append(item)
    return Screened(visible, withheld)


def withheld(
    items: Sequence[T], requester: Requester | None, measures: Iterable[SupportMeasure], *, on: dt.date | None = None
) -> list[str]:
    """The person ids in ``items`` withheld from ``requester`` (see :func:`screen`)."""
    return screen(items, requester, measures, on=on).withheld


def requires_manual_handling(
    person_id: str, measures: Iterable[SupportMeasure], *, on: dt.date | None = None
) -> bool:
    """Whether anything about ``person_id`` must go to manual handling (an active 支援措置 protects them):
    no automatic answers (EXC-4), certificates only after a supervisor checks the requester."""
    return any(m.person_id == person_id for m in active(measures, on))


def withheld_error(person_id: str) -> Forbidden:
    """The refusal for a direct request (certificate, record) about a protected person by the offender.
    It names no person and says nothing about whether the record exists."""
    return Forbidden(
        Problem(
            "person_id",
            "SEC-8/withheld",
            "この請求には応じられません。担当者にお問い合わせください。",
            "This request cannot be answered. Please ask the staff in charge.",
        )
    )


def check_request(
    person_id: str,
    requester: Requester | None,
    measures: Iterable[SupportMeasure],
    *,
    on: dt.date | None = None,
) -> None:
    """Raise (rule ``SEC-8/withheld``) when a request about ``person_id`` is made for its offender."""
    if screen([person_id], requester, measures, on=on).withheld:
        raise withheld_error(person_id)
