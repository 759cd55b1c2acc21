"""``juki retention …``: the register's yearly 150-year purge (REG-R5), list and count → approval → delete.

    juki retention plan [--today DATE]                       what has expired: counts (and --list: the persons)
    juki retention request [--today DATE] [--reason TEXT] --user U
    juki retention approve REQUEST_ID --user U               another user than the requester (four-eyes)
    juki retention execute REQUEST_ID --user U
    juki retention list

and ``juki reception-retention plan|request|approve|execute|list`` the same for the 総合受付 records (CTR-2;
``JUKI_RECEPTION_RETENTION_YEARS``, default 5 years from a reception's last write: a local decision).

``--user``/``--terminal`` (or ``$JUKI_USER``/``$JUKI_TERMINAL``) name the acting user, as for
``juki audit purge``.  Errors are JukiErrors, translated to exit codes by ``main``.
"""

from __future__ import annotations

import argparse
from typing import Any

from juki.cli.audit import _actor, _date
from juki.cli.common import register as _register


def _service() -> Any:
    from juki.services.retention import RegisterRetention

    reg = _register()
    return RegisterRetention(reg.engine, audit=reg.audit, clock=reg.now)


def cmd_retention(args: argparse.Namespace) -> int:
    r = _service()
    step = args.retention_command
    if step == "plan":
        plan = r.plan(args.today)
        print(f"基準日 / cutoff: {plan.cutoff.isoformat()} 以前の消除・改製 (removed or superseded on or before)")
        print(f"対象 / expired: {plan.person_count} 人, {plan.version_count} 版 (うち除票 {plan.whole_count} 件)")
        if args.list:
            for i in plan.items:
                print(f"{i.person_id}\t{'除票' if i.whole else '改製前'}\t版 {i.upto_version} まで\t{i.versions} 版")
    elif step == "request":
        p = r.request(args.user, terminal=args.terminal, reason=args.reason, today=args.today)
        print(f"消去を申請しました / purge requested: 申請 {p.request_id}, {p.person_count} 人 {p.version_count} 版 "
              f"(基準日 {p.cutoff.isoformat()})")
    elif step == "approve":
        p = r.approve(args.request_id, args.user, terminal=args.terminal)
        print(f"消去を承認しました / purge approved: 申請 {p.request_id}")
    elif step == "execute":
        p = r.execute(args.request_id, args.user, terminal=args.terminal)
        print(f"消去しました / purged: 申請 {p.request_id}, {p.person_count} 人 {p.version_count} 版")
    else:
        for p in r.requests():
            print(f"{p.request_id}\t{p.status}\t{p.cutoff.isoformat()}\t{p.person_count}\t{p.version_count}\t{p.requested_by}")
    return 0


def _purge_commands(subparsers: Any, name: str, help: str, what: str, func: Any) -> argparse.ArgumentParser:
    """``juki NAME plan|request|approve|execute|list``: the steps of a four-eyes purge
    (:class:`juki.services.purging.FourEyesPurge`)."""
    ret: argparse.ArgumentParser = subparsers.add_parser(name, help=help)
    sub = ret.add_subparsers(dest="retention_command", required=True)
    pl = sub.add_parser("plan", help="対象の一覧と件数 / list and count what has expired")
    pl.add_argument("--today", type=_date, default=None, help="基準とする日 / the day to judge on (default: today)")
    pl.add_argument("--list", action="store_true", help=what)
    rq = sub.add_parser("request", help="消去を申請 / request the purge of today's list")
    rq.add_argument("--today", type=_date, default=None)
    rq.add_argument("--reason", default="")
    _actor(rq)
    for step in ("approve", "execute"):
        pa = sub.add_parser(step)
        pa.add_argument("request_id", type=int)
        _actor(pa)
    sub.add_parser("list", help="申請の一覧 / the requests and their status")
    ret.set_defaults(func=func)
    return ret


def register_retention_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``retention`` and its subcommands to ``juki``'s subparsers."""
    return _purge_commands(subparsers, "retention",
                           "保存期間（150年）経過後の消去 / the register's 150-year retention purge (REG-R5)",
                           "対象者を一覧表示 / list the persons", cmd_retention)


def cmd_reception_retention(args: argparse.Namespace) -> int:
    r = _register().reception_retention
    step = args.retention_command
    if step == "plan":
        plan = r.plan(args.today)
        print(f"基準日 / cutoff: 最終更新 {plan.cutoff.isoformat()} 以前 (last written on or before; {r.years} 年)")
        print(f"対象 / expired: 総合受付 {plan.count} 件")
        if args.list:
            for i in plan.items:
                print(f"{i.reception_id}\t版 {i.revision}\t{i.last_write.isoformat()}")
    elif step == "request":
        p = r.request(args.user, terminal=args.terminal, reason=args.reason, today=args.today)
        print(f"消去を申請しました / purge requested: 申請 {p.request_id}, 総合受付 {p.reception_count} 件 "
              f"(基準日 {p.cutoff.isoformat()})")
    elif step == "approve":
        p = r.approve(args.request_id, args.user, terminal=args.terminal)
        print(f"消去を承認しました / purge approved: 申請 {p.request_id}")
    elif step == "execute":
        p = r.execute(args.request_id, args.user, terminal=args.terminal)
        print(f"消去しました / purged: 申請 {p.request_id}, 総合受付 {p.reception_count} 件")
    else:
        for p in r.requests():
            print(f"{p.request_id}\t{p.status}\t{p.cutoff.isoformat()}\t{p.reception_count}\t{p.requested_by}")
    return 0


def register_reception_retention_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``reception-retention`` and its subcommands to ``juki``'s subparsers."""
    return _purge_commands(
        subparsers, "reception-retention",
        "総合受付の記録の保存期間経過後の消去 / purge of 総合受付 records past their keeping period (CTR-2)",
        "対象の受付を一覧表示 / list the receptions", cmd_reception_retention)
