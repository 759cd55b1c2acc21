"""``juki net …`` commands of the 住基ネット services (net-svc), run on a node's directory by its operator.

    juki net numbers [--person ID] [--status S] [--json]          生成要求・変更要求 and what came of them (NET-7)
    juki net numbers send                                          collect and send them now (the node's worker
                                                                   does this every few seconds)
    juki net transfer list [--status S]                            received 転出証明書情報 (個人番号 masked, NET-6)
    juki net transfer purge                                        delete those past 転出予定日 + 30 days
    juki net consistency [--peer prefecture|national|all] [--file identity|fuhyo|all] [--repair] [--json]
                                                                   整合性確認 of the CS with its prefecture and
                                                                   the national server (NET-10, PRF-9)
    juki net sending status | purge | respool REF…                 the 送付先情報 spool (NET-8)
    juki net provision uses load FILE --actor U | uses list        the prefecture's 別表 uses (PRF-5)
    juki net provision provide --recipient R --use U --actor U --terminal T (--juminhyo-code C |
        --individual-number N | --name N [--address A] [--birth-date D] [--sex S]) [--fuhyo] [--number]
    juki net provision batch --recipient R --use U --in FILE --out FILE --actor U --terminal T [--approval ID]
    juki net provision approval request --recipient R --use U --max-rows N --reason TEXT --actor U
    juki net provision approval approve ID --actor U
    juki net provision disclose CODE --actor U --identity-check TEXT --out FILE.pdf   開示 (PRF-7)
    juki net provision correction add CODE --content TEXT --actor U | close ID (--corrected | --no-error)
        --result TEXT --actor U                                    訂正等の申出 (30条の35)
    juki net provision log [--code C] [--recipient R] [--json]     the provision log (PRF-6)
    juki net provision purge-log --actor U [--before ISO]          retention purge (older than 7 years only)
    juki net provision purge-temp                                  the temporary 附票 個人番号 area (PRF-8)

``--node`` defaults to ``$JUKI_NODE_DIR`` or ``./var/node``.  Every command that reads or provides personal
data is audited in the node's log under the ``--actor`` given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from juki.cli.net import _open


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=1, default=str))


def _actor(args: argparse.Namespace) -> Any:
    from juki.services.changes import Actor

    return Actor(args.actor, getattr(args, "terminal", None) or "CLI")


def cmd_numbers(args: argparse.Namespace) -> int:
    from juki.domain.model import to_json
    from juki.net.numbers import national_of
    from juki.net.services import services

    node = _open(args)
    s = services(node)
    if args.action == "send":
        added = s.designation.collect()
        report = s.designation.send_pending(national_of(node))
        print(f"生成要求 {added} 件を追加、指定 {len(report.done)} 件、拒否 {len(report.failed)} 件、再試行 {len(report.retry)} 件 / "
              f"added {added}, designated {len(report.done)}, refused {len(report.failed)}, retry {len(report.retry)}")
        return 0
    views = s.designation.requests(person_id=args.person, status=args.status, limit=args.limit)
    if args.json:
        _print_json([to_json(v) for v in views])
    for v in views if not args.json else []:
        err = f"  {v.last_error}" if v.last_error else ""
        print(f"{v.request_ref}  {v.kind:8}  {v.person_id}  {v.juminhyo_code}  {v.status:10}  試行 {v.attempts}{err}")
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    from juki.net.services import services

    s = services(_open(args))
    if args.action == "purge":
        n = s.transfer.purge()
        print(f"転出証明書情報 {n} 件を削除しました / deleted {n} move-out certificates past their keeping period")
        return 0
    for c in s.transfer.certificates(status=args.status):
        names = "、".join(p["name"] for p in c.certificate["persons"])
        print(f"{c.id}  {c.juminhyo_code}  {c.from_lg_code}  転出予定日 {c.planned_move_out}  削除日 {c.delete_on}  {c.status}  {names}")
    return 0


FILE_JA = {"identity": "本人確認情報", "fuhyo": "附票本人確認情報"}


def cmd_consistency(args: argparse.Namespace) -> int:
    from juki.domain.identity import RecordFile
    from juki.net import consistency
    from juki.net.node import prefecture_of
    from juki.net.pki import NATIONAL_CODE, Tier

    node = _open(args)
    if node.role is not Tier.MUNICIPALITY:
        print("整合性確認は市町村CSから行います / run the consistency check at a municipality node", file=sys.stderr)
        return 2
    peers = {"prefecture": [prefecture_of(node.code)], "national": [NATIONAL_CODE],
             "all": [prefecture_of(node.code), NATIONAL_CODE]}[args.peer]
    files = list(RecordFile) if args.file == "all" else [RecordFile(args.file)]
    status = 0
    for peer, file in ((p, f) for p in peers for f in files):
        report = consistency.check(node, peer, file=file)
        if args.repair and not report.consistent:
            consistency.repair_at(node, report)
        if args.json:
            _print_json(report.summary())
            continue
        print(f"{node.code} ↔ {peer} {FILE_JA[file]}: 件数 {report.local_count:,} / {report.remote_count:,}, "
              f"{'一致 / consistent' if report.consistent else f'不一致 {len(report.findings)} 件 / {len(report.findings)} differences'} "
              f"({report.bytes_sent + report.bytes_received:,} bytes, {report.rounds} rounds, {report.seconds:.2f} s)")
        for f in report.findings:
            items = f"（{', '.join(f.items)}）" if f.items else ""
            print(f"  {f.juminhyo_code}  {f.kind.ja}{items}")
        if report.resent:
            print(f"  再送 / re-sent on the stream: {len(report.resent)}")
        if report.to_investigate:
            print(f"  要調査 / to investigate: {', '.join(report.to_investigate)}")
        status = status or (0 if report.consistent or args.repair else 1)
    return status


def cmd_sending(args: argparse.Namespace) -> int:
    from juki.net.services import services

    s = services(_open(args))
    if args.action == "purge":
        print(f"送付先情報 {s.sending.purge()} 件を削除しました / deleted")
    elif args.action == "respool":
        n = s.sending.respool(list(args.refs))
        print(f"{n} 件の送付先情報を次回作成し直します / {n} will be made again")
    else:
        _print_json(s.sending.spool.counts())
    return 0


def cmd_provision(args: argparse.Namespace) -> int:
    from juki.domain.identity_search import IdentityQuery
    from juki.domain.model import to_json
    from juki.net.provision import disclosure_pdf
    from juki.net.services import services

    _correction_args(args)
    node = _open(args)
    prov = services(node).provision
    what = args.provision_command
    if what == "uses":
        if args.action == "load":
            uses = prov.load_uses(json.loads(Path(args.file).read_text(encoding="utf-8")), actor=_actor(args))
            print(f"用途 {len(uses)} 件を設定しました / {len(uses)} uses loaded")
        else:
            _print_json([to_json(u) for u in prov.uses().values()])
        return 0
    if what == "provide":
        birth = dt.date.fromisoformat(args.birth_date) if args.birth_date else None
        query = IdentityQuery(args.juminhyo_code or "", args.individual_number or "", "", args.name or "",
                              args.address or "", birth, args.sex or "")
        got = prov.provide(recipient=args.recipient, use_code=args.use, query=query, actor=_actor(args),
                           fuhyo=args.fuhyo, want_number=args.number)
        _print_json({"log_id": got.log_id, "outcome": got.outcome, "records": got.records})
        return 0
    if what == "batch":
        result = prov.provide_batch(recipient=args.recipient, use_code=args.use,
                                    conditions=Path(args.infile).read_text(encoding="utf-8"), actor=_actor(args),
                                    approval_id=args.approval)
        Path(args.outfile).write_text(result.text, encoding="utf-8")
        print(f"一括提供 {result.batch_ref}: {result.lines} 行、該当 {result.found}、出力 {result.rows} 件 → {args.outfile}")
        return 0
    if what == "approval":
        if args.action == "request":
            aid = prov.request_approval(recipient=args.recipient, use_code=args.use, max_rows=args.max_rows,
                                        reason=args.reason, actor=_actor(args))
            print(f"承認申請 {aid} / approval request {aid}")
        else:
            prov.approve(args.id, actor=_actor(args))
            print(f"承認しました / approved {args.id}")
        return 0
    if what == "disclose":
        doc = prov.disclose(args.code, actor=_actor(args), identity_check=args.identity_check)
        Path(args.out).write_bytes(disclosure_pdf(doc, prefecture=node.name))
        print(f"開示書を出力しました / disclosure written: {args.out} (提供記録 {len(doc['provided'])} 件)")
        return 0
    if what == "correction":
        if args.action == "add":
            print(f"申出 {prov.record_correction(args.code, args.content, actor=_actor(args))} を受け付けました")
        else:
            prov.close_correction(args.id, corrected=args.corrected, result=args.result, actor=_actor(args))
            print(f"申出 {args.id} を完了しました / closed")
        return 0
    if what == "log":
        entries = prov.log_entries(juminhyo_code=args.code, recipient=args.recipient)
        if args.json:
            _print_json(entries)
        for e in entries if not args.json else []:
            print(f"{e['at']:%Y-%m-%d %H:%M:%S}  {e['operator']:10} {e['recipient']:12} {e['use_code']:14} "
                  f"{e['mode']:10} {e['outcome']:9} {e['rule'] or ''}  {', '.join(e['subjects'])}")
        return 0
    if what == "purge-log":
        before = dt.datetime.fromisoformat(args.before) if args.before else None
        print(f"提供記録 {prov.purge_log(actor=_actor(args), before=before)} 件を消去しました / purged")
        return 0
    if what == "purge-temp":
        print(f"一時保存の個人番号 {prov.purge_temporary_numbers()} 件を削除しました / deleted")
        return 0
    raise AssertionError(what)  # pragma: no cover


def register_netsvc_commands(net: argparse.ArgumentParser) -> None:
    """Add the net-svc subcommands to ``juki net`` (the parser :func:`juki.cli.net.register_net_commands`
    returned)."""
    sub = next(a for a in net._actions if isinstance(a, argparse._SubParsersAction))

    def node_dir(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--node", help="ノードのディレクトリ / node directory (default $JUKI_NODE_DIR or var/node)")
        return p

    n = node_dir(sub.add_parser("numbers", help="個人番号の生成要求・変更要求 / number requests (NET-7)"))
    n.add_argument("action", nargs="?", default="list", choices=["list", "send"])
    n.add_argument("--person")
    n.add_argument("--status", choices=["pending", "designated", "failed"])
    n.add_argument("--limit", type=int, default=100)
    n.add_argument("--json", action="store_true")
    n.set_defaults(func=cmd_numbers)

    t = node_dir(sub.add_parser("transfer", help="特例転入の転出証明書情報 / received move-out certificates (NET-6)"))
    t.add_argument("action", nargs="?", default="list", choices=["list", "purge"])
    t.add_argument("--status", choices=["received", "submitted", "used"])
    t.set_defaults(func=cmd_transfer)

    c = node_dir(sub.add_parser("consistency", help="整合性確認 / consistency check with the prefecture and 機構 (NET-10)"))
    c.add_argument("--peer", default="all", choices=["prefecture", "national", "all"])
    c.add_argument("--file", default="all", choices=["identity", "fuhyo", "all"],
                   help="本人確認情報・附票本人確認情報 / which file (PRF-8: the 附票 file too)")
    c.add_argument("--repair", action="store_true", help="差異を更新の再送で修復 / re-send what differs on the stream")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_consistency)

    s = node_dir(sub.add_parser("sending", help="送付先情報 / the sending-information spool (NET-8)"))
    s.add_argument("action", nargs="?", default="status", choices=["status", "purge", "respool"])
    s.add_argument("refs", nargs="*", help="respool: 依頼管理番号")
    s.set_defaults(func=cmd_sending)

    p = sub.add_parser("provision", help="都道府県の提供・開示 / the prefecture's provision and 開示 (PRF-5..8)")
    psub = p.add_subparsers(dest="provision_command", required=True)

    def op(name: str, help: str, *, actor: bool = True, terminal: bool = False) -> argparse.ArgumentParser:
        q = node_dir(psub.add_parser(name, help=help))
        if actor:
            q.add_argument("--actor", required=True, help="操作者の利用者ID / operator (audited)")
        if terminal:
            q.add_argument("--terminal", required=True, help="端末ID / terminal (media output: designated terminals only)")
        q.set_defaults(func=cmd_provision)
        return q

    u = op("uses", "別表の用途 / configured uses", actor=False)
    u.add_argument("action", choices=["load", "list"])
    u.add_argument("file", nargs="?")
    u.add_argument("--actor", default="CLI")
    pr = op("provide", "提供・移転（1件）/ a single request", terminal=True)
    for flag in ("--recipient", "--use"):
        pr.add_argument(flag, required=True)
    for flag in ("--juminhyo-code", "--individual-number", "--name", "--address", "--birth-date", "--sex"):
        pr.add_argument(flag)
    pr.add_argument("--fuhyo", action="store_true", help="附票本人確認情報 (PRF-8)")
    pr.add_argument("--number", action="store_true", help="個人番号も（番号法の用途のみ）")
    b = op("batch", "一括提供 / batch file", terminal=True)
    b.add_argument("--recipient", required=True)
    b.add_argument("--use", required=True)
    b.add_argument("--in", dest="infile", required=True)
    b.add_argument("--out", dest="outfile", required=True)
    b.add_argument("--approval", type=int)
    a = op("approval", "大量出力の事前承認 / prior approval of a large output")
    a.add_argument("action", choices=["request", "approve"])
    a.add_argument("id", nargs="?", type=int)
    a.add_argument("--recipient")
    a.add_argument("--use")
    a.add_argument("--max-rows", type=int, default=0)
    a.add_argument("--reason", default="")
    d = op("disclose", "開示（本人確認情報と提供状況）/ disclosure to the person")
    d.add_argument("code")
    d.add_argument("--identity-check", required=True, help="本人確認の方法 / how the person was identified")
    d.add_argument("--out", required=True)
    co = op("correction", "訂正等の申出 / correction requests")
    co.add_argument("action", choices=["add", "close"])
    co.add_argument("code_or_id")
    co.add_argument("--content", default="")
    co.add_argument("--corrected", action="store_true")
    co.add_argument("--no-error", dest="corrected", action="store_false")
    co.add_argument("--result", default="")
    lg = op("log", "提供記録 / the provision log", actor=False)
    lg.add_argument("--code")
    lg.add_argument("--recipient")
    lg.add_argument("--json", action="store_true")
    pl = op("purge-log", "保存期間（7年）を過ぎた提供記録の消去 / retention purge")
    pl.add_argument("--before")
    op("purge-temp", "附票の一時保存領域の個人番号の削除 / purge the temporary area", actor=False)


def _correction_args(args: argparse.Namespace) -> None:
    if getattr(args, "provision_command", None) == "correction":
        if args.action == "add":
            args.code = args.code_or_id
        else:
            args.id = int(args.code_or_id)
