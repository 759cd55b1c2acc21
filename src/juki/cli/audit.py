"""``juki audit …``: verify the log, export a signed anchor, reviews, 開示, retention purge.

    juki audit verify [--anchors DIR] [--public-key PEM]   exit 0 intact / 1 naming the first bad entry
    juki audit export-anchor --out DIR                      sign the chain head (run daily)
    juki audit public-key                                   print the anchor verification key (PEM)
    juki audit report after-hours|long-sessions|bulk-reads|alerts|activity --from DATE --to DATE
    juki audit disclose PERSON_ID --out FILE [--csv FILE] [--with-number] --user U --terminal T
    juki audit purge request --before DATE --user U | approve REQUEST_ID --user U | execute REQUEST_ID --user U
    juki audit purge list

The lead wires this in ``cli/main.py`` with ``register_audit_commands(sub)``.  Errors are JukiErrors,
translated to exit codes by ``main``.  Until access control is wired, ``--user``/``--terminal`` (or
``$JUKI_USER``/``$JUKI_TERMINAL``) name the acting user.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import socket
import sys
from typing import TYPE_CHECKING, Any

from juki.cli.common import register as _register

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

EXIT_TAMPERED = 1




def _engine() -> Engine:
    return _register().engine


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"日付は YYYY-MM-DD / date must be YYYY-MM-DD: {text!r}") from exc


def _period(args: argparse.Namespace) -> tuple[dt.datetime, dt.datetime]:
    from juki.clock import JST

    start = dt.datetime.combine(args.date_from, dt.time(0), JST)
    end = dt.datetime.combine(args.date_to + dt.timedelta(days=1), dt.time(0), JST)  # --to is inclusive
    return start, end


def _actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", default=os.environ.get("JUKI_USER") or getpass.getuser(),
                        help="操作する職員 / acting user (default $JUKI_USER)")
    parser.add_argument("--terminal", default=os.environ.get("JUKI_TERMINAL") or socket.gethostname(),
                        help="端末 / terminal (default $JUKI_TERMINAL or the host name)")


def cmd_verify(args: argparse.Namespace) -> int:
    from juki.audit.verify import verify

    public_key = open(args.public_key, encoding="ascii").read() if args.public_key else None
    result = verify(_engine(), anchors=args.anchors, public_key=public_key)
    if result.ok:
        print(f"OK: {result.reason} (anchors {result.anchors_checked})")
        return 0
    print(f"NG: 第 {result.first_bad_seq} 番 / entry {result.first_bad_seq}: {result.reason}")
    return EXIT_TAMPERED


def cmd_export_anchor(args: argparse.Namespace) -> int:
    from juki.audit.anchors import export_anchor

    reg = _register()
    path = export_anchor(reg.engine, args.out, municipality=reg.settings.lg_code)
    print(f"アンカーを書き出しました / anchor written: {path}")
    return 0


def cmd_public_key(args: argparse.Namespace) -> int:
    from juki.audit.anchors import load_private_key, public_key_pem

    print(public_key_pem(load_private_key()), end="")
    return 0


def _print_rows(rows: list[Any], as_json: bool) -> None:
    import dataclasses

    from juki.adapters.db.engine import json_default

    for r in rows:
        d = dataclasses.asdict(r) if dataclasses.is_dataclass(r) and not isinstance(r, type) else r
        if as_json:
            print(json.dumps(d, ensure_ascii=False, default=json_default))
        else:
            print("\t".join(str(v.isoformat() if isinstance(v, dt.datetime) else v) for v in d.values()))


def cmd_report(args: argparse.Namespace) -> int:
    from juki.audit import reviews
    from juki.audit.log import AuditPolicy

    engine = _engine()
    start, end = _period(args)
    rows: list[Any]
    if args.kind == "after-hours":
        rows = reviews.after_hours(engine, start, end)
    elif args.kind == "long-sessions":
        rows = reviews.long_sessions(engine, start, end, dt.timedelta(hours=args.hours))
    elif args.kind == "bulk-reads":
        rows = reviews.bulk_reads(engine, start, end, AuditPolicy.from_env())
    elif args.kind == "activity":
        rows = reviews.activity_summary(engine, start, end, users=args.users or None)
    else:
        rows = reviews.alerts(engine, start, end)
    _print_rows(rows, args.json)
    print(f"{len(rows)} 件 / rows ({args.kind}, {args.date_from}〜{args.date_to})", file=sys.stderr)
    return 0


def cmd_disclose(args: argparse.Namespace) -> int:
    from juki.audit.disclosure import disclose, write_access_csv, write_json

    reg = _register()
    result = disclose(reg.store, reg.engine, args.person_id, requested_by=args.user, terminal=args.terminal,
                      include_individual_number=args.with_number)
    write_json(result, args.out)
    if args.csv:
        write_access_csv(result, args.csv)
    print(f"開示ファイルを作成しました / disclosure written: {args.out} "
          f"(履歴 {len(result['history'])} 件, アクセス記録 {len(result['accesses'])} 件)")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from juki.audit import retention

    engine = _engine()
    if args.step == "request":
        r = retention.request_purge(engine, args.before, args.user, terminal=args.terminal, reason=args.reason)
        print(f"消去を申請しました / purge requested: 申請 {r.request_id}, 第 {r.upto_seq} 番まで {r.entry_count} 件")
    elif args.step == "approve":
        r = retention.approve_purge(engine, args.request_id, args.user, terminal=args.terminal)
        print(f"消去を承認しました / purge approved: 申請 {r.request_id}")
    elif args.step == "execute":
        r = retention.execute_purge(engine, args.request_id, args.user, terminal=args.terminal)
        print(f"消去しました / purged: 申請 {r.request_id}, {r.entry_count} 件 (第 {r.upto_seq} 番まで)")
    else:
        for r in retention.purge_requests(engine):
            print(f"{r.request_id}\t{r.status}\t{r.before.isoformat()}\t{r.upto_seq}\t{r.entry_count}\t{r.requested_by}")
    return 0


def register_audit_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``audit`` and its subcommands to ``juki``'s subparsers (``parser.add_subparsers(...)``)."""
    audit: argparse.ArgumentParser = subparsers.add_parser("audit", help="監査ログ / the audit log")
    sub = audit.add_subparsers(dest="audit_command", required=True)

    v = sub.add_parser("verify", help="改ざん検査 / verify the hash chain")
    v.add_argument("--anchors", help="書き出したアンカーのディレクトリ / directory of exported anchors")
    v.add_argument("--public-key", help="アンカー検証用公開鍵 (PEM) / trusted public key file")
    v.set_defaults(func=cmd_verify)

    x = sub.add_parser("export-anchor", help="署名付き先頭ハッシュの書き出し / export a signed chain head")
    x.add_argument("--out", required=True)
    x.set_defaults(func=cmd_export_anchor)

    sub.add_parser("public-key", help="アンカー検証用公開鍵 / print the anchor public key").set_defaults(
        func=cmd_public_key)

    r = sub.add_parser("report", help="点検用の報告 / review reports")
    r.add_argument("kind", choices=["after-hours", "long-sessions", "bulk-reads", "alerts", "activity"])
    r.add_argument("--from", dest="date_from", type=_date, required=True)
    r.add_argument("--to", dest="date_to", type=_date, required=True, help="この日を含む / inclusive")
    r.add_argument("--hours", type=float, default=10.0, help="long-sessions: 閾値 (時間) / threshold in hours")
    r.add_argument("--users", nargs="*", help="activity: 対象の利用者 / only these users (contractors)")
    r.add_argument("--json", action="store_true", help="JSON lines")
    r.set_defaults(func=cmd_report)

    d = sub.add_parser("disclose", help="開示 / disclosure for one person (SEC-7)")
    d.add_argument("person_id")
    d.add_argument("--out", required=True, help="JSON file")
    d.add_argument("--csv", help="アクセス記録の CSV / also write the access log as CSV")
    d.add_argument("--with-number", action="store_true", help="本人の個人番号を含める / include their own 個人番号")
    _actor(d)
    d.set_defaults(func=cmd_disclose)

    p = sub.add_parser("purge", help="保存期間経過後の消去 / retention purge (four-eyes)")
    psub = p.add_subparsers(dest="step", required=True)
    pr = psub.add_parser("request")
    pr.add_argument("--before", type=_date, required=True)
    pr.add_argument("--reason", default="")
    _actor(pr)
    for name in ("approve", "execute"):
        pa = psub.add_parser(name)
        pa.add_argument("request_id", type=int)
        _actor(pa)
    psub.add_parser("list")
    p.set_defaults(func=cmd_purge)
    return audit
