"""``juki pki …``: the deployment's certificate authority for mutual TLS between nodes (相互認証).

    juki pki init --dir CA --name NAME                       create the CA (key 0600, certificate, empty CRL)
    juki pki issue --dir CA --tier T --code C --out NODE_DIR [--host H …] [--days N] [--name N]
                                                             a node (or operator) certificate into NODE_DIR
    juki pki list --dir CA [--json]                          every certificate issued, with its status
    juki pki revoke --dir CA SERIAL [--reason R] [--publish NODE_DIR …]
                                                             revoke; re-sign the CRL and copy it to nodes
    juki pki crl --dir CA [--publish NODE_DIR …]             re-sign the CRL (it is valid 30 days)

``--dir`` defaults to ``$JUKI_PKI_DIR`` or ``./var/pki``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from juki.domain.errors import InvalidInput, Problem


def _ca_dir(args: argparse.Namespace) -> Path:
    return Path(args.dir or os.environ.get("JUKI_PKI_DIR") or "var/pki")


def _pki_error(e: Exception) -> InvalidInput:
    return InvalidInput(Problem("pki", "NET-2/pki", f"証明書の操作に失敗しました: {e}", f"PKI operation failed: {e}"))


def cmd_init(args: argparse.Namespace) -> int:
    from juki.net.pki import DeploymentCA, PkiError

    try:
        ca = DeploymentCA.init(_ca_dir(args), args.name, days=args.days)
    except PkiError as e:
        raise _pki_error(e) from None
    print(f"認証局を作成しました / created the deployment CA in {ca.dir}")
    print(f"  証明書 / certificate: {ca.cert_path}   秘密鍵 / key (0600): {ca.key_path}   CRL: {ca.crl_path}")
    return 0


def cmd_issue(args: argparse.Namespace) -> int:
    from juki.net.pki import DeploymentCA, NodeIdentity, PkiError, Tier

    try:
        ca = DeploymentCA(_ca_dir(args))
        entry = ca.issue(NodeIdentity(Tier(args.tier), args.code), args.out, name=args.name or "",
                         hosts=args.host or ["127.0.0.1", "localhost"], days=args.days)
    except PkiError as e:
        raise _pki_error(e) from None
    print(f"発行しました / issued {entry.tier}:{entry.code} serial {entry.serial}, valid until {entry.not_after}")
    print(f"  {args.out}/cert.pem, key.pem (0600), ca.pem, crl.pem")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from juki.clock import utcnow
    from juki.net.pki import DeploymentCA, PkiError, describe

    try:
        ca = DeploymentCA(_ca_dir(args))
    except PkiError as e:
        raise _pki_error(e) from None
    now = utcnow()
    rows = [describe(e, now) for e in ca.issued()]
    if args.json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return 0
    for r in rows:
        print(f"{r['serial']}  {r['tier']:12} {r['code']:8} {r['status']:13} until {r['not_after'][:19]}  {r['name']}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from juki.net.pki import DeploymentCA, PkiError

    try:
        entry = DeploymentCA(_ca_dir(args)).revoke(args.serial, args.reason, publish_to=args.publish or [])
    except PkiError as e:
        raise _pki_error(e) from None
    print(f"失効させました / revoked {entry.serial} ({entry.tier}:{entry.code}, {entry.revocation_reason}); "
          f"CRL re-signed{' and published to ' + ', '.join(args.publish) if args.publish else ''}")
    return 0


def cmd_crl(args: argparse.Namespace) -> int:
    from juki.net.pki import DeploymentCA, PkiError

    try:
        ca = DeploymentCA(_ca_dir(args))
        path = ca.publish_crl()
        for d in args.publish or []:
            ca.publish(d)
    except PkiError as e:
        raise _pki_error(e) from None
    print(f"CRL を更新しました / re-signed {path}")
    return 0


def register_pki_commands(subparsers: Any) -> argparse.ArgumentParser:
    from juki.net.pki import CA_DAYS, NODE_DAYS, REASONS, Tier

    pki: argparse.ArgumentParser = subparsers.add_parser("pki", help="ノード間相互認証の認証局 / the deployment CA")
    sub = pki.add_subparsers(dest="pki_command", required=True)

    def ca_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dir", help="認証局のディレクトリ / CA directory (default $JUKI_PKI_DIR or var/pki)")

    i = sub.add_parser("init", help="認証局の作成 / create the CA")
    ca_dir(i)
    i.add_argument("--name", required=True, help="配備の名前 / deployment name (the certificates' O=)")
    i.add_argument("--days", type=int, default=CA_DAYS)
    i.set_defaults(func=cmd_init)

    s = sub.add_parser("issue", help="ノード証明書の発行 / issue a node certificate")
    ca_dir(s)
    s.add_argument("--tier", required=True, choices=[t.value for t in Tier])
    s.add_argument("--code", required=True, help="地方公共団体コード (national: 000000; operator: a user id)")
    s.add_argument("--out", required=True, help="ノードのディレクトリ / node directory")
    s.add_argument("--host", action="append", help="DNS名またはIPアドレス（繰り返し可） / host name or IP (repeatable)")
    s.add_argument("--days", type=int, default=NODE_DAYS)
    s.add_argument("--name", help="表示名 / display name")
    s.set_defaults(func=cmd_issue)

    ls = sub.add_parser("list", help="発行済み証明書の一覧 / certificates issued")
    ca_dir(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    r = sub.add_parser("revoke", help="証明書の失効 / revoke a certificate")
    ca_dir(r)
    r.add_argument("serial", help="シリアル番号（16進、コロン区切り可） / serial (hex)")
    r.add_argument("--reason", default="cessation_of_operation", choices=sorted(REASONS))
    r.add_argument("--publish", action="append", help="CRL を配るノードのディレクトリ / node directory to copy the CRL to")
    r.set_defaults(func=cmd_revoke)

    c = sub.add_parser("crl", help="CRL の再署名 / re-sign the CRL")
    ca_dir(c)
    c.add_argument("--publish", action="append")
    c.set_defaults(func=cmd_crl)
    return pki
