"""``juki net …``: set up, watch and operate 住基ネット nodes (and ``juki serve --role``).

    juki net init --node DIR --role R --code C [--name N] [--host H] [--port P] [--api-port P]
                  [--database-url URL] [--key-file F]
                                                    write node.json and create/migrate the node's database
    juki net peer --node DIR --tier T --code C --url URL [--name N]
                                                    add or change a peer in peers.json
    juki net status [--node DIR | --network DIR] [--json]
                                                    the node's streams (local database), or every node of a
                                                    network directory over mutual TLS with its operator cert
    juki net alerts [--node DIR] [--all] [--json]   operator alerts (a refused update halts a stream)
    juki net resume ALERT_ID --action retry|force|skip|acknowledge --actor U --reason TEXT [--node DIR]
                                                    an operator's decision on an alert (audited)
    juki net show JUMINHYO_CODE [--file identity|fuhyo] --actor U [--node DIR]
                                                    one person's record in the node's file (audited; 個人番号 masked)
    juki net retention plan [--today DATE] [--json] | run --actor U [--json] | list [--limit N] [--json]
                                                    PRF-4 at any node: what has expired of its file, and the
                                                    transport copies to redact (counts), delete and redact
                                                    now (what the daily housekeeping does; audited), the
                                                    runs so far

``--node`` defaults to ``$JUKI_NODE_DIR`` or ``./var/node``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from juki.net.node import Node


def _node_dir(args: argparse.Namespace) -> Path:
    return Path(args.node or os.environ.get("JUKI_NODE_DIR") or "var/node")


def _open(args: argparse.Namespace) -> Node:
    from juki.net.node import Node

    return Node.open(_node_dir(args))


def cmd_init(args: argparse.Namespace) -> int:
    from juki.net.node import Node, NodeConfig
    from juki.net.pki import NATIONAL_CODE, Tier

    code = args.code or (NATIONAL_CODE if args.role == Tier.NATIONAL.value else "")
    config = NodeConfig(dir=_node_dir(args), role=Tier(args.role), code=code, name=args.name or "", host=args.host,
                        port=args.port, database_url=args.database_url or "", api_port=args.api_port,
                        key_file=args.key_file or "")
    path = config.save()
    Node(config).migrate()
    print(f"ノードを設定しました / node configured: {path} ({config.role.ja} {config.code}, {config.url})")
    print(f"  次に / next: juki pki issue --tier {config.role.value} --code {config.code} --out {config.dir}; "
          f"juki net peer --node {config.dir} …; juki serve --role {config.role.value} --node {config.dir}")
    return 0


def cmd_peer(args: argparse.Namespace) -> int:
    from juki.net.node import PeerDirectory, PeerEntry
    from juki.net.pki import Tier

    directory = PeerDirectory(_node_dir(args) / PeerDirectory.FILE)
    directory.put(PeerEntry(Tier(args.tier), args.code, args.url, args.name or ""))
    print(f"通信先を登録しました / peer {args.tier}:{args.code} at {args.url}")
    return 0


def _print_status(s: dict[str, Any]) -> None:
    n = s["node"]
    print(f"{n['role_ja']} {n['name']} ({n['role']}:{n['code']})")
    for file, states in sorted(s["records"].items()):
        print(f"  {file:9} " + ", ".join(f"{k} {v:,}" for k, v in sorted(states.items())))
    if "intake" in s:
        print(f"  intake: pending {s['intake']['pending']:,}{'  停止中 / HALTED' if s['intake']['halted'] else ''}")
    print(f"  outbound (更新順番号 / seq) {s['outbound']:,}")
    for d in s["deliveries"]:
        err = f"  last error: {d['last_error']}" if d["last_error"] else ""
        print(f"  → {d['destination']}: acknowledged {d['acked_through']:,}, pending {d['pending']:,}, "
              f"attempts {d['attempts']}{err}")
    for src, through in sorted(s["received"].items()):
        print(f"  ← {src}: received through {through:,}")
    for origin, through in sorted(s["applied"].items()):
        print(f"  applied {origin}: through 更新順番号 {through:,}")
    if s["inbox"]:
        print("  inbox: " + ", ".join(f"{k} {v:,}" for k, v in sorted(s["inbox"].items())))
    for h in s["halts"]:
        print(f"  停止 / HALT alert {h['alert_id']} [{h['scope']} {h['ref']}] {h['message_ja']}")
    if "consistency" in s:
        c = s["consistency"]
        last = c["last_run"]
        when = f"every {c['every_days']:g} days, next {c['next_due']}" if c["next_due"] else "timer off"
        if last is None:
            print(f"  整合性確認 / consistency: not run yet ({when})")
        else:
            print(f"  整合性確認 / consistency: last {last['at']} {last['result']} "
                  f"({last['differences']} differences, audit #{last['audit_seq']}); {when}")
            for r in last["reports"]:
                got = r["error"] if "error" in r else (f"{r['differences']} differences" if r["differences"] else "consistent")
                print(f"    ↔ {r['peer']} {r['file']}: {got}")
    if "housekeeping" in s:
        h = s["housekeeping"]
        last = h["last_run"]
        when = f"daily at {h['at']} JST, next {h['next_due']}" if h["next_due"] else ("timer off" if not h["at"] else
                                                                                      f"daily at {h['at']} JST")
        if last is None:
            print(f"  定期処理 / housekeeping ({', '.join(h['tasks'])}): not run yet ({when})")
        else:
            print(f"  定期処理 / housekeeping: last {last['at']} {last['result']} (audit #{last['audit_seq']}); {when}")
            for name, r in last["tasks"].items():
                if "error" in r:
                    got = r["error"]
                elif name == "retention":
                    got = (f"cutoff {r['cutoff']}: {r['history_rows']:,} history rows, {r['records']:,} records "
                           f"({r['persons']:,} persons) deleted")
                    if "redacted" in r:
                        got += "; redacted " + ", ".join(f"{t} {n:,}" for t, n in r["redacted"].items())
                else:
                    got = f"{r['deleted']:,} deleted"
                print(f"    {name}: {got}")
    print(f"  open alerts: {s['alerts_open']}")


def cmd_status(args: argparse.Namespace) -> int:
    if args.network:
        return _network_status(Path(args.network), as_json=args.json)
    from juki.net.operations import status

    node = _open(args)
    try:
        s = status(node)
    finally:
        node.close()
    if args.json:
        print(json.dumps(s, ensure_ascii=False, indent=1, default=str))
    else:
        _print_status(s)
    return 0


def _network_status(root: Path, *, as_json: bool) -> int:
    """Every node of a network directory (``network.json``, as ``juki demo`` writes it), asked over mutual
    TLS with the network's operator certificate (``operator/``)."""
    from juki.net.pki import NodeIdentity, Tier
    from juki.net.tls import TlsFiles, TlsMaterial, peer_client

    net = json.loads((root / "network.json").read_text(encoding="utf-8"))
    tls = TlsMaterial(TlsFiles.in_dir(root / "operator"))
    failed = 0
    for n in net["nodes"]:
        try:
            with peer_client(tls, n["url"], NodeIdentity(Tier(n["role"]), n["code"]), timeout=5) as c:
                r = c.get("/net/v1/status")
                r.raise_for_status()
                s = r.json()
        except Exception as e:
            failed += 1
            print(f"{n['role']}:{n['code']} {n.get('name', '')} at {n['url']}: 応答なし / unreachable ({type(e).__name__}: {e})")
            continue
        if as_json:
            print(json.dumps(s, ensure_ascii=False))
        else:
            _print_status(s)
    return 1 if failed else 0


def cmd_alerts(args: argparse.Namespace) -> int:
    node = _open(args)
    try:
        alerts = node.store.alerts(open_only=not args.all)
    finally:
        node.close()
    for a in alerts:
        if args.json:
            print(json.dumps(a.as_dict(), ensure_ascii=False, default=str))
            continue
        state = "open" if a.open else f"{a.action} by {a.resolved_by}"
        kind = "停止 / HALT" if a.blocking else "info"
        print(f"{a.alert_id:5}  {a.at.isoformat()[:19]}  {kind:11} [{a.scope} {a.ref}] {a.rule}  ({state})")
        print(f"       {a.message_ja}")
        print(f"       {a.message_en}")
    if not alerts and not args.json:
        print("警告はありません / no alerts")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from juki.net.operations import resolve

    node = _open(args)
    try:
        a = resolve(node, args.alert_id, action=args.action, actor=args.actor, reason=args.reason)
    finally:
        node.close()
    print(f"警告 {a.alert_id} を解決しました（{a.action}）/ resolved alert {a.alert_id} ({a.action}) by {a.resolved_by}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from juki.domain.errors import NotFound
    from juki.domain.identity import RecordFile
    from juki.net.status import record_view

    node = _open(args)
    file = RecordFile(args.file)
    try:
        try:
            view = record_view(node, file, args.juminhyo_code)
        finally:
            node.audit.record_now(node.engine, user_id=args.actor, terminal="CLI", action="net.read",
                                  subject_ids=[args.juminhyo_code], detail={"file": file.value})
    except NotFound:
        raise
    finally:
        node.close()
    print(json.dumps(view, ensure_ascii=False, indent=1, default=str))
    return 0


def _print_counts(counts: dict[str, dict[str, int]]) -> None:
    from juki.domain.identity import RecordFile

    for f in RecordFile:
        c = counts.get(f.value, {"history": 0, "records": 0})
        print(f"  {f.ja} / {f.value}: 履歴 {c['history']:,} 件 (history rows), 消除者 {c['records']:,} 件 (records)")


def _print_redacted(counts: dict[str, int], keep_days: int) -> None:
    print(f"  転送用の写し / transport copies ({keep_days} 日経過): "
          + ", ".join(f"{t} {n:,} 件" for t, n in counts.items()) + " (notice and sealed 個人番号 redacted)")


def cmd_retention(args: argparse.Namespace) -> int:
    from juki.net.retention import NodeRetention

    node = _open(args)
    try:
        keep = node.config.transport_keep_days
        r = NodeRetention(node.store, audit=node.audit, terminal="CLI", keep_days=keep)
        if args.retention_command == "plan":
            plan = r.plan(args.today)
            if args.json:
                print(json.dumps(plan.as_dict(), ensure_ascii=False, indent=1))
                return 0
            print(f"判定日 / judged on {plan.today.isoformat()}: {plan.cutoff.isoformat()} 以前に受けた通知の保存期間"
                  f"（{plan.years} 年）が経過 (notices received on or before the cutoff have expired)")
            print(f"対象 / expired: {len(plan.persons):,} 人, 履歴 {plan.history_rows:,} 件, 消除者 {plan.records:,} 件")
            _print_counts(plan.counts())
            _print_redacted(plan.transport, keep)
        elif args.retention_command == "run":
            run = r.run(actor=args.actor)
            if args.json:
                print(json.dumps({**run.as_dict(), "persons": run.persons, "skipped": run.skipped}, ensure_ascii=False,
                                 indent=1))
                return 0
            print(f"消去しました / deleted (run {run.run_id}, cutoff {run.cutoff.isoformat()}): {run.persons:,} 人, "
                  f"履歴 {run.history_rows:,} 件, 消除者 {run.records:,} 件")
            _print_counts(run.counts)
            _print_redacted(run.redacted, keep)
            if run.skipped:
                print(f"  判定中に更新された記録 {run.skipped} 件は次回に / {run.skipped} changed meanwhile: next run")
        else:
            runs = r.runs(args.limit)
            if args.json:
                print(json.dumps([x.as_dict() for x in runs], ensure_ascii=False, indent=1))
            for x in runs if not args.json else []:
                print(f"{x.run_id}\t{x.at.isoformat()}\t{x.run_on.isoformat()}\tcutoff {x.cutoff.isoformat()}\t"
                      f"{x.history_rows}\t{x.records}\t{x.redacted['net_inbox']}\t{x.redacted['net_outbound']}\t{x.actor}")
    finally:
        node.close()
    return 0


def cmd_serve_role(args: argparse.Namespace) -> int:
    """``juki serve --role R --node DIR``: serve a node until interrupted."""
    from juki.net.node import Node, run

    node = Node.open(_node_dir(args))
    if node.role.value != args.role:
        print(f"{_node_dir(args)}/node.json の役割は {node.role.value} です / the node directory is a {node.role.value}, "
              f"not a {args.role}")
        return 2
    c = node.config
    print(f"juki {node.role.ja} {node.name} ({node.identity.label}) を起動します: {c.url} (相互TLS / mutual TLS)", flush=True)
    if c.api_port:
        print(f"  住民基本台帳 API / register API: http://{c.api_host}:{c.api_port}/", flush=True)
    try:
        run(node)
    finally:
        node.close()
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    """Check a renewed certificate in a node directory and, with ``--pid``, tell the running node (SIGHUP).
    A running node also picks a renewed certificate up by itself on its next connection."""
    from juki.net.tls import TlsFiles, TlsMaterial

    config = _open(args).config
    material = TlsMaterial(TlsFiles.in_dir(config.dir))
    if material.identity != config.identity:
        print(f"cert.pem は {material.identity.label} のものです（ノードは {config.identity.label}）/ "
              "the certificate names another node", file=sys.stderr)
        return 1
    material.cert.verify_directly_issued_by(material.ca_cert)
    material.client_context()  # the key matches the certificate
    print(f"証明書 / certificate {material.identity.label}: serial {material.cert.serial_number:x}, "
          f"until {material.cert.not_valid_after_utc.isoformat()}")
    if args.pid:
        os.kill(args.pid, signal.SIGHUP)
        print(f"ノード（pid {args.pid}）に再読込みを指示しました / sent SIGHUP to {args.pid}")
    return 0


def register_net_commands(subparsers: Any) -> argparse.ArgumentParser:
    from juki.domain.identity import RecordFile
    from juki.net.operations import ACTIONS
    from juki.net.pki import Tier

    net: argparse.ArgumentParser = subparsers.add_parser("net", help="住基ネットのノード / the network nodes")
    sub = net.add_subparsers(dest="net_command", required=True)

    def node_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--node", help="ノードのディレクトリ / node directory (default $JUKI_NODE_DIR or var/node)")

    i = sub.add_parser("init", help="ノードの設定とデータベース / configure a node and create its database")
    node_dir(i)
    i.add_argument("--role", required=True, choices=["municipality", "prefecture", "national"])
    i.add_argument("--code", help="地方公共団体コード (national: 000000)")
    i.add_argument("--name")
    i.add_argument("--host", default="127.0.0.1")
    i.add_argument("--port", type=int, default=9000)
    i.add_argument("--api-port", type=int, help="municipality: 住民基本台帳 API のポート / also serve the register API")
    i.add_argument("--database-url", help="default: sqlite:///<node dir>/node.db (a municipality: its register's)")
    i.add_argument("--key-file", help="個人番号の鍵ファイル / the 個人番号 key file (a municipality: its register's; "
                                      "default <node dir>/keys.json)")
    i.set_defaults(func=cmd_init)

    p = sub.add_parser("peer", help="通信先の登録 / add or change a peer")
    node_dir(p)
    p.add_argument("--tier", required=True, choices=[t.value for t in Tier if t is not Tier.OPERATOR])
    p.add_argument("--code", required=True)
    p.add_argument("--url", required=True, help="https://host:port")
    p.add_argument("--name")
    p.set_defaults(func=cmd_peer)

    s = sub.add_parser("status", help="ノードの状態 / node status")
    node_dir(s)
    s.add_argument("--network", help="ネットワークのディレクトリ（juki demo の var/demo-net）/ every node of a network")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    rl = sub.add_parser("reload", help="更新した証明書の確認と再読込み / check a renewed certificate, reload it")
    node_dir(rl)
    rl.add_argument("--pid", type=int, help="実行中のノードのプロセスID（SIGHUP を送る）/ the running node's pid")
    rl.set_defaults(func=cmd_reload)

    a = sub.add_parser("alerts", help="運用者への警告 / operator alerts")
    node_dir(a)
    a.add_argument("--all", action="store_true", help="解決済みも / resolved ones too")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_alerts)

    r = sub.add_parser("resume", help="警告の解決（停止の解除）/ resolve an alert (resume a halted stream)")
    node_dir(r)
    r.add_argument("alert_id", type=int)
    r.add_argument("--action", required=True, choices=ACTIONS)
    r.add_argument("--actor", required=True, help="実行者の利用者ID / operator's user id (audited)")
    r.add_argument("--reason", required=True)
    r.set_defaults(func=cmd_resume)

    w = sub.add_parser("show", help="本人確認情報の閲覧（監査ログに記録）/ show one record (audited)")
    node_dir(w)
    w.add_argument("juminhyo_code")
    w.add_argument("--file", default=RecordFile.IDENTITY.value, choices=[f.value for f in RecordFile])
    w.add_argument("--actor", required=True, help="閲覧者の利用者ID / who reads (audited)")
    w.set_defaults(func=cmd_show)

    from juki.cli.audit import _date

    rt = sub.add_parser("retention", help="保存期間（150年）経過後の自動消去 / PRF-4 deletion past retention")
    rsub = rt.add_subparsers(dest="retention_command", required=True)
    rp = rsub.add_parser("plan", help="対象の件数 / what has expired (counts; writes nothing)")
    rp.add_argument("--today", type=_date, default=None, help="判定日 / the day to judge on (default: today)")
    rr = rsub.add_parser("run", help="今すぐ消去（毎日の定期処理と同じ）/ delete now (as the daily housekeeping does)")
    rr.add_argument("--actor", required=True, help="実行者の利用者ID / operator's user id (audited)")
    rl2 = rsub.add_parser("list", help="これまでの実行 / the runs so far")
    rl2.add_argument("--limit", type=int, default=50)
    for q in (rp, rr, rl2):
        node_dir(q)
        q.add_argument("--json", action="store_true")
    rt.set_defaults(func=cmd_retention)
    return net


DEMO_NETWORK_DIR = "var/demo-net"


def _demo_progress(net: Any, municipalities: list[str]) -> tuple[int, int] | None:
    """(notices applied at the national server, notices the CS have sent), or None if a node is not up."""
    try:
        sent = sum(net.status(m)["outbound"] for m in municipalities)
        applied = sum(net.status("000000")["applied"].values())
    except Exception:
        return None
    return applied, sent


def run_demo_network(args: argparse.Namespace, register_url: str, *, database_url: str, key_file: str) -> int:
    """``juki demo``'s network: six node processes on loopback (two 北海道 municipalities, 千葉市, both
    prefectures, the national server), the demo register being 札幌市's node; runs until Ctrl+C."""
    import dataclasses
    import time

    from juki.net.network import DEMO_NODES, Network, NodeFailed
    from juki.services.seeding import seed_city

    shift = args.net_port - 9000  # the demo's ports are 9001… by default (--net-port 9000)
    specs = [dataclasses.replace(s, port=s.port + shift) for s in DEMO_NODES]
    cert_key = os.environ.get("JUKI_CERT_KEY_FILE", "")  # the demo register's signing key stays 札幌市's
    specs = [dataclasses.replace(s, api_port=args.port, database_url=database_url, key_file=key_file,
                                 cert_key_file=os.path.abspath(cert_key) if cert_key else "")
             if s.code == "011002" else s for s in specs]
    root = Path(DEMO_NETWORK_DIR).resolve()
    net = Network(root, specs).build(ca_name="juki デモ")
    municipalities = [s.code for s in specs if s.role == "municipality"]
    for code in municipalities[1:]:
        node = net.node(code)
        try:
            if node.register.store.counts().residents == 0:
                print(f"合成の市を作成しています / seeding {node.name} ({args.network_residents:,} residents)…", flush=True)
                seed_city(node.register, args.network_residents, args.seed)
        finally:
            node.close()
    print("住基ネットを起動しています / starting the network nodes…", flush=True)

    def _stop(_sig: int, _frame: Any) -> None:  # SIGTERM stops the demo like Ctrl+C: the nodes go with it
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        net.start_all()
    except (NodeFailed, KeyboardInterrupt) as e:
        net.stop_all()
        if isinstance(e, KeyboardInterrupt):
            return 0
        print(f"ノードを起動できませんでした / a node did not start: {e}", file=sys.stderr)
        return 1
    op = root / "operator"
    print("住基ネット / the network (each node its own process, database and certificate; mutual TLS only):", flush=True)
    for s in specs:
        extra = f"   住民基本台帳 API / register API {register_url}" if s.api_port else ""
        print(f"  {s.url}  {s.tier.ja:8} {s.name} ({s.role}:{s.code}){extra}", flush=True)
    print(f"  見る / look:  uv run juki net status --network {DEMO_NETWORK_DIR}", flush=True)
    print(f"  mTLS で読む / read with the operator certificate:  curl --cacert {op.parent}/ca/ca.pem "
          f"--cert {op}/cert.pem --key {op}/key.pem {net.specs['000000'].url}/net/v1/records/identity/<住民票コード>",
          flush=True)
    print("  移行（初期データ）が全国サーバに届くまで数十秒かかります / the initial load takes a little while to reach "
          "the national server:", flush=True)
    done = False
    try:
        while True:
            for code, proc in list(net.processes.items()):
                if proc.poll() is not None:
                    print(f"ノード {code} が停止しました / node {code} stopped:\n{net.log_tail(code)}", flush=True)
                    return 1
            if not done:
                progress = _demo_progress(net, municipalities)
                if progress is not None:
                    applied, sent = progress
                    if sent and applied >= sent:
                        done = True
                        print(f"  全国サーバ: {applied:,} 件の本人確認情報の更新を反映しました / the national server has every "
                              f"notice ({applied:,}). 窓口で入力・決裁した異動は数秒で全国サーバに届きます / a change approved "
                              "at the register now reaches it within seconds.   停止: Ctrl+C", flush=True)
                    else:
                        print(f"    {applied:,} / {sent:,}", flush=True)
            time.sleep(5 if not done else 1)
    except KeyboardInterrupt:
        print("停止します / stopping…", flush=True)
        return 0
    finally:
        net.stop_all()
