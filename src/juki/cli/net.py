"""``juki net …``: set up, watch and operate 住基ネット nodes (and ``juki serve --role``).

    juki net init --node DIR --role R --code C [--name N] [--host H] [--port P] [--api-port P]
                  [--database-url URL]              write node.json and create/migrate the node's database
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

``--node`` defaults to ``$JUKI_NODE_DIR`` or ``./var/node``.
"""

from __future__ import annotations

import argparse
import json
import os
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
                        port=args.port, database_url=args.database_url or "", api_port=args.api_port)
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
    i.add_argument("--database-url", help="default: sqlite:///<node dir>/node.db")
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
    return net
