"""The ``juki`` command: init, seed, serve, demo (the entry point translates errors to exit codes).

    juki init                          create or migrate the database (JUKI_DATABASE_URL)
    juki seed --residents N [--seed S] load a deterministic synthetic city
    juki serve [--host H] [--port P]   serve the API
    juki serve --role R --node DIR     serve a 住基ネット node (municipality CS, prefecture, national)
    juki demo                          a seeded municipality on the embedded default, and its URL, with a
                                       small 住基ネット on loopback (--no-network: the register alone)
    juki staff|terminal|rights|roster  accounts, registered terminals, rights with approval (SEC-1, SEC-2)
    juki audit …                       verify the hash chain, export signed anchors, reviews, 開示, purge
    juki verify FILE.pdf               verify a certificate offline; juki cert public-key publishes the key
    juki cert issue|log|counts, juki card|kiosk|seal   issuance, コンビニ交付 cards and kiosks, 印鑑登録
    juki pki …                         the deployment CA for mutual TLS between nodes
    juki net …                         node set-up, status, operator alerts and resume
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from juki.cli.common import register as _register
from juki.domain.errors import JukiError

if TYPE_CHECKING:
    from juki.config import Register

EXIT_INPUT = 2
EXIT_REFUSED = 3




def cmd_init(args: argparse.Namespace) -> int:
    from juki.adapters.db.migrate import current_revision, upgrade

    reg = _register()
    before = current_revision(reg.settings.database_url)
    upgrade(reg.settings.database_url)
    after = current_revision(reg.settings.database_url)
    reg.keyring  # noqa: B018  (creates the key file outside the database on first use)
    where = reg.settings.database_url.split("@")[-1]
    print(f"データベースを準備しました / database ready: {where} (revision {before or '-'} → {after})")
    print(f"鍵ファイル / key file: {reg.settings.key_file}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from juki.adapters.db.migrate import upgrade
    from juki.services.seeding import seed_city

    reg = _register()
    upgrade(reg.settings.database_url)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - started, 1e-9)
        print(f"  {done:,} / {total:,} 人 ({rate:,.0f} 人/秒)", file=sys.stderr)

    persons, households = seed_city(reg, args.residents, args.seed, progress=progress if not args.quiet else None)
    elapsed = time.perf_counter() - started
    print(f"合成住民を登録しました / seeded {persons:,} residents in {households:,} households "
          f"({reg.jurisdiction.name}, seed {args.seed}) in {elapsed:.1f} s")
    return 0


def _koin_ok() -> bool:
    """A configured 公印 image (JUKI_KOIN_IMAGE) is checked before serving, not at the first certificate."""
    if not os.environ.get("JUKI_KOIN_IMAGE", "").strip():
        return True
    from juki.adapters.pdf.render import KoinImageError, default_renderer

    try:
        default_renderer()
    except KoinImageError as e:
        print(e, file=sys.stderr)
        return False
    return True


def cmd_serve(args: argparse.Namespace) -> int:
    if args.role:  # a 住基ネット node (juki.net): its own directory, database and certificate
        from juki.cli.net import cmd_serve_role

        return cmd_serve_role(args)
    import uvicorn

    from juki.adapters.db.migrate import upgrade
    from juki.api.app import create_app

    if not _koin_ok():
        return 2
    reg = _register()
    upgrade(reg.settings.database_url)
    print(f"juki ({reg.jurisdiction.name}) を起動します: http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(create_app(reg), host=args.host, port=args.port, log_level="warning")
    return 0


def _demo_staff(reg: Register, path: str) -> dict[str, Any]:
    """Staff, rights and terminals for the demo, provisioned once; their secrets are kept in ``path``
    (mode 0600) because they are shown only once."""
    import json
    import secrets

    from juki.services.staffing import DEMO_STAFF, provision

    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return dict(json.load(f))
    password = "demo-" + secrets.token_urlsafe(9)
    prov = provision(reg, password=password, actor="juki-demo")
    creds = {"password": password, "terminals": prov.terminal_keys,
             "staff": [{"user_id": u, "name": n, "role": r, "totp_secret": prov.totp_secrets[u]} for u, n, _s, r in DEMO_STAFF]}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(creds, f, ensure_ascii=False, indent=2)
    return creds


def cmd_demo(args: argparse.Namespace) -> int:
    import uvicorn

    from juki.adapters.db.migrate import upgrade
    from juki.api.app import create_app
    from juki.services.seeding import seed_city

    os.environ.setdefault("JUKI_DATABASE_URL", f"sqlite:///{os.path.abspath('var/demo.db')}")
    os.environ.setdefault("JUKI_KEY_FILE", os.path.abspath("var/demo-keys.json"))
    os.environ.setdefault("JUKI_AUDIT_KEY_FILE", os.path.abspath("var/demo-audit-key.pem"))
    os.environ.setdefault("JUKI_CERT_KEY_FILE", os.path.abspath("var/demo-cert-key.pem"))
    os.makedirs("var", exist_ok=True)
    reg = _register()
    upgrade(reg.settings.database_url)
    if reg.store.counts().residents == 0:
        print(f"合成の市を作成しています / seeding a synthetic {reg.jurisdiction.name} of {args.residents:,} residents…", flush=True)
        seed_city(reg, args.residents, args.seed)
    creds = _demo_staff(reg, os.path.abspath("var/demo-credentials.json"))
    c = reg.store.counts()
    url = f"http://{args.host}:{args.port}/"
    t_id, t_key = next(iter(creds["terminals"].items()))
    print(f"juki デモ: {reg.jurisdiction.name}（住民 {c.residents:,} 人・世帯 {c.households:,}）", flush=True)
    print(f"  URL: {url}    API: {url}docs", flush=True)
    print(f"  職員（パスワードは共通 {creds['password']}）/ demo staff, all with that password:", flush=True)
    for s in creds["staff"]:
        print(f"    {s['user_id']:8} {s['name']}  {s['role']:16}  TOTP秘密鍵 {s['totp_secret']}", flush=True)
    print(f"  端末 / terminal: {t_id}  鍵 / key: {t_key}", flush=True)
    print("  ワンタイムパスワード / one-time code:  uv run juki totp <TOTP秘密鍵>", flush=True)
    print(f"  ログイン / login:  curl -s -X POST {url}api/v1/auth/login -H 'content-type: application/json' "
          f"-H 'X-Juki-Terminal: {t_id}' -H 'X-Juki-Terminal-Key: {t_key}' "
          f"-d '{{\"user_id\": \"clerk\", \"password\": \"{creds['password']}\", \"totp\": \"<code>\"}}'", flush=True)
    ui = f"http://localhost:{args.port}/ui/"
    print(f"  窓口画面 / counter UI: {ui}  (localhost: a secure context for its cookies)", flush=True)
    print(f"    1. {ui}terminal で端末IDと鍵を入力 / enter the terminal id and key to register this browser", flush=True)
    print("    2. clerk で転入等を入力し、chief で決裁 / enter a 届出 as clerk, approve it as chief", flush=True)
    print("  (these are also in var/demo-credentials.json)   停止: Ctrl+C", flush=True)
    if args.no_serve:
        return 0
    if args.no_network:
        uvicorn.run(create_app(reg), host=args.host, port=args.port, log_level="warning")
        return 0
    # the register is served by 札幌市's 住基ネット node, next to its CS (juki.net)
    from juki.cli.net import run_demo_network

    database_url, key_file = reg.settings.database_url, str(reg.settings.key_file)
    reg.close()
    return run_demo_network(args, url, database_url=database_url, key_file=key_file)


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """個人番号 key rotation: a new active key, the current records re-encrypted under it.  History keeps
    the key it was written with, so old keys stay in the key file (never delete them)."""
    reg = _register()
    old = reg.keyring.active_key_id
    new = reg.keyring.rotate()
    n = reg.store.reencrypt_all()
    reg.audit.record_now(reg.engine, user_id=args.actor, terminal="CLI", action="keys.rotate",
                         detail={"from": old, "to": new, "reencrypted": n})
    print(f"鍵を更新しました / rotated the key {old} → {new}; {n:,} 件を再暗号化 / re-encrypted {n:,} records")
    return 0


def cmd_totp(args: argparse.Namespace) -> int:
    """The current one-time code for a TOTP secret: an authenticator for the demo and for tests."""
    import pyotp

    print(pyotp.TOTP(args.secret).now())
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="juki", description="juki 住民基本台帳システム")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="データベースの作成・移行 / create or migrate the database").set_defaults(func=cmd_init)
    s = sub.add_parser("seed", help="合成の市を登録 / load a synthetic city")
    s.add_argument("--residents", type=int, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_seed)
    v = sub.add_parser("serve", help="API を起動 / serve the API")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--role", choices=["municipality", "prefecture", "national"],
                   help="住基ネットのノードとして起動 / serve a network node (with --node DIR)")
    v.add_argument("--node", help="ノードのディレクトリ / node directory (default $JUKI_NODE_DIR or var/node)")
    v.set_defaults(func=cmd_serve)
    d = sub.add_parser("demo", help="合成の市でデモを起動 / run a seeded demo municipality")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8000)
    d.add_argument("--residents", type=int, default=20_000)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--no-serve", action="store_true", help="seed and print, do not serve")
    d.add_argument("--no-network", action="store_true", help="住基ネットを起動しない / serve the register only")
    d.add_argument("--net-port", type=int, default=9000,
                   help="住基ネットのポートの基準（札幌市CS は +1） / base port of the network nodes (札幌市's CS at +1)")
    d.add_argument("--network-residents", type=int, default=2_000,
                   help="函館市・千葉市の合成住民数 / residents of the other demo municipalities")
    d.set_defaults(func=cmd_demo)
    k = sub.add_parser("keys", help="個人番号の暗号鍵 / the 個人番号 encryption keys")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    kr = ksub.add_parser("rotate", help="新しい鍵に切り替えて現在の記録を再暗号化 / rotate and re-encrypt")
    kr.add_argument("--actor", required=True, help="実行者の利用者ID / user id recorded in the audit log")
    kr.set_defaults(func=cmd_keys_rotate)
    t = sub.add_parser("totp", help="ワンタイムパスワードを表示（デモ用の認証アプリ）/ print the current TOTP code")
    t.add_argument("secret")
    t.set_defaults(func=cmd_totp)
    from juki.cli.access import register_access_commands
    from juki.cli.audit import register_audit_commands
    from juki.cli.certificates import register_certificate_commands
    from juki.cli.issuance import register_issuance_commands
    from juki.cli.net import register_net_commands
    from juki.cli.pki import register_pki_commands
    from juki.cli.retention import register_reception_retention_commands, register_retention_commands

    register_access_commands(sub)
    register_audit_commands(sub)
    register_certificate_commands(sub)
    register_issuance_commands(sub)
    register_pki_commands(sub)
    register_retention_commands(sub)
    register_reception_retention_commands(sub)
    from juki.cli.netsvc import register_netsvc_commands

    register_netsvc_commands(register_net_commands(sub))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "residents", 1) is not None and getattr(args, "residents", 1) < 1:
        print("--residents は1以上 / --residents must be at least 1", file=sys.stderr)
        return EXIT_INPUT
    try:
        return int(args.func(args))
    except JukiError as e:
        for p in e.problems:
            print(f"エラー / error: {p.field or '-'}: {p.ja} / {p.en} [{p.rule}]", file=sys.stderr)
        return EXIT_INPUT if e.kind == "invalid_input" else EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
