"""``juki cert issue|log|counts``, ``juki card``, ``juki kiosk``, ``juki seal``: certificates, コンビニ交付 cards
and kiosks, 印鑑登録 from the server's command line (REG-CERT, REG-LINK5).

    juki cert issue REQUEST.json --out FILE.pdf --actor USER     one certificate (the API's request JSON)
    juki cert issue REQUEST.json --wide-area --node DIR --out FILE.pdf --actor USER
                                                                 広域交付 (12条の4): ask the 住所地 over the 住基ネット
    juki cert log [--since D] [--until D] [--person ID] --actor USER
    juki cert counts [--since D] [--until D] --actor USER          交付件数 by kind, channel and path
    juki card issue PERSON_ID --out CARD.pem --actor USER [--pin-stdin] [--algorithm ed25519|ecdsa-p256]
    juki card unlock CARD_ID --actor USER [--new-pin-stdin]      juki card revoke CARD_ID --reason R --actor USER
    juki card sign CARD.pem --kiosk ID --challenge HEX           what the card does at a kiosk (for demos)
    juki kiosk register ID --name N [--location L] --actor USER  juki kiosk revoke ID --actor USER
    juki seal sweep                                              daily: abolish registrations of removed persons

``--actor`` is a staff user id: the command runs with that user's approved rights (SEC-2), from the
terminal ``CLI``, and is audited as that user.  The PIN is read from stdin (``--pin-stdin``) or asked for
without echo.  A card's private key is written once, to a new file readable by its owner only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from juki.cli.certificates import cert_commands


def _reg() -> Any:
    from juki.adapters.db.migrate import upgrade
    from juki.config import Register

    reg = Register()
    upgrade(reg.settings.database_url)
    return reg


def _principal(reg: Any, actor: str) -> Any:
    """The actor's effective rights, as if logged in at the terminal ``CLI``."""
    import sqlalchemy as sa

    from juki.access.model import Principal
    from juki.access.store import effective_grant_pairs
    from juki.access.tables import staff
    from juki.domain.errors import Forbidden, Problem

    with reg.engine.connect() as conn:
        row = conn.execute(sa.select(staff.c.section, staff.c.status).where(staff.c.user_id == actor)).first()
        if row is None or row.status != "active":
            raise Forbidden(Problem("actor", "SEC-1/account", f"利用者 {actor} は有効な職員ではありません。",
                                    f"{actor} is not an active staff account."))
        grants = effective_grant_pairs(conn, actor)
    return Principal.build(user_id=actor, terminal_id="CLI", session_id=f"cli-{os.getpid()}", section=row.section,
                           grants=grants)


def _pin(from_stdin: bool, prompt: str) -> str:
    return sys.stdin.readline().strip() if from_stdin else getpass.getpass(prompt)


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def cmd_cert_issue(args: argparse.Namespace) -> int:
    from juki.api.certificates import envelope_from
    from juki.domain.certificate_requests import request_from_json

    if args.wide_area:
        return _cert_issue_wide_area(args)
    reg = _reg()
    data = json.loads(Path(args.request).read_text(encoding="utf-8"))
    envelope = envelope_from(data.pop("envelope", None), "envelope")
    issued = reg.issuance.issue(_principal(reg, args.actor), request_from_json(data), envelope=envelope)
    reg.close()
    Path(args.out).write_bytes(issued.pdf)
    print(f"交付しました / issued {issued.certificate_id} ({issued.kind.ja}, {len(issued.subject_ids)}人) → {args.out}")
    return 0


def _cert_issue_wide_area(args: argparse.Namespace) -> int:
    """広域交付 (12条の4) at the municipality node ``--node`` (the 交付地): the 住所地 is asked over the
    住基ネット with this node's certificate and peers.json; the copy is issued, signed and logged here."""
    from juki.cli.net import _open
    from juki.domain.wide_area import WideAreaRequest
    from juki.net.pki import Tier
    from juki.net.wide_area import residence_of

    node = _open(args)
    if node.role is not Tier.MUNICIPALITY:
        print("広域交付は市町村のノードで交付します / issue 広域交付 at a municipality node", file=sys.stderr)
        return 2
    node.migrate()
    reg = node.register
    try:
        request = WideAreaRequest.from_json(json.loads(Path(args.request).read_text(encoding="utf-8")))
        issued = reg.issuance.issue_wide_area(_principal(reg, args.actor), request, residence_of(node))
    finally:
        node.close()
    Path(args.out).write_bytes(issued.pdf)
    print(f"広域交付しました / issued {issued.certificate_id} ({issued.kind.ja}, {len(issued.subject_ids)}人, "
          f"住所地 {request.residence_lg_code}) → {args.out}")
    return 0


def cmd_cert_log(args: argparse.Namespace) -> int:
    reg = _reg()
    rows = reg.issuance.log(_principal(reg, args.actor), since=_date(args.since), until=_date(args.until),
                            person_id=args.person, limit=args.limit)
    reg.close()
    for r in rows:
        print(f"{r['issued_at']}  {r['certificate_id']}  {r['kind_ja']}  {r['channel']}/{r['path']}  "
              f"請求者 {r['requester_name']}（{r['requester_relation']}）  対象 {','.join(r['subject_ids'])}  "
              f"交付 {r['issued_by']}@{r['terminal']}")
    return 0


def cmd_cert_counts(args: argparse.Namespace) -> int:
    from juki.clock import jst_date

    reg = _reg()
    today = jst_date(reg.now())
    out = reg.issuance.counts(_principal(reg, args.actor), since=_date(args.since) or today.replace(day=1),
                              until=_date(args.until) or today)
    reg.close()
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(f"交付件数 / certificates issued {out['since']} – {out['until']}: {out['total']}")
    for r in out["rows"]:
        print(f"  {r['kind_ja']:12}  {r['channel_ja']:6}  {r['path_ja']}: {r['certificates']} 通 ({r['persons']} 人)")
    return 0


def cmd_card_issue(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists():
        print(f"エラー / error: {out} は既にあります / already exists", file=sys.stderr)
        return 2
    pin = _pin(args.pin_stdin, "暗証番号（数字4桁）/ PIN (4 digits): ")
    reg = _reg()
    card = reg.cards.issue(_principal(reg, args.actor), args.person_id, pin, algorithm=args.algorithm)
    reg.close()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(card.private_key_pem)
    print(f"カードを交付しました / issued card {card.card_id} to {card.person_id} ({card.algorithm}, "
          f"有効期限 {card.valid_until}); the card's key is in {out}")
    return 0


def cmd_card_unlock(args: argparse.Namespace) -> int:
    pin = _pin(True, "") if args.new_pin_stdin else None
    reg = _reg()
    info = reg.cards.unlock(_principal(reg, args.actor), args.card_id, new_pin=pin)
    reg.close()
    print(f"ロックを解除しました / unlocked {info.card_id} ({info.status})")
    return 0


def cmd_card_revoke(args: argparse.Namespace) -> int:
    reg = _reg()
    info = reg.cards.revoke(_principal(reg, args.actor), args.card_id, reason=args.reason)
    reg.close()
    print(f"カードを廃止しました / revoked {info.card_id}")
    return 0


def cmd_card_sign(args: argparse.Namespace) -> int:
    from juki.issuance.cards import sign_challenge

    print(sign_challenge(Path(args.card).read_bytes(), args.kiosk, args.challenge))
    return 0


def cmd_kiosk_register(args: argparse.Namespace) -> int:
    reg = _reg()
    key = reg.kiosks.register(_principal(reg, args.actor), args.kiosk_id, args.name, location=args.location)
    reg.close()
    print(f"キオスク端末を登録しました / registered kiosk {args.kiosk_id}")
    print(f"キオスク鍵（一度だけ表示）/ kiosk key (shown once): {key}")
    return 0


def cmd_kiosk_revoke(args: argparse.Namespace) -> int:
    reg = _reg()
    reg.kiosks.revoke(_principal(reg, args.actor), args.kiosk_id)
    reg.close()
    print(f"キオスク端末を廃止しました / revoked kiosk {args.kiosk_id}")
    return 0


def cmd_seal_sweep(args: argparse.Namespace) -> int:
    reg = _reg()
    done = reg.seals.sweep(actor=args.actor)
    reg.close()
    for reason, numbers in done.items():
        label = "要確認（氏名変更）/ to check (name changed)" if reason == "name_changed" else f"廃止 / abolished ({reason})"
        print(f"{label}: {len(numbers)} {numbers if numbers else ''}")
    return 0


def register_issuance_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cert = cert_commands(sub)
    p = cert.add_parser("issue", help="証明書の交付 / issue one certificate")
    p.add_argument("request", help="請求内容（APIと同じJSON）/ the request as JSON (as for the API)")
    p.add_argument("--out", required=True, help="PDFの書き出し先 / where to write the PDF")
    p.add_argument("--actor", required=True, help="交付する職員の利用者ID / the issuing staff user id")
    p.add_argument("--wide-area", action="store_true",
                   help="広域交付（住基法12条の4）: 住所地に住基ネットで照会して交付 / ask the 住所地 over the network "
                        "(REQUEST.json as for POST /api/v1/certificates/wide-area)")
    p.add_argument("--node", help="--wide-area: 交付地の市町村ノードのディレクトリ / the issuing municipality's node "
                                  "directory (default $JUKI_NODE_DIR or ./var/node)")
    p.set_defaults(func=cmd_cert_issue)
    p = cert.add_parser("log", help="交付記録 / the issuance log")
    for name in ("--since", "--until"):
        p.add_argument(name, help="YYYY-MM-DD")
    p.add_argument("--person", help="対象者の宛名番号 / subject's person id")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--actor", required=True)
    p.set_defaults(func=cmd_cert_log)
    p = cert.add_parser("counts", help="交付件数 / certificates issued by kind")
    for name in ("--since", "--until"):
        p.add_argument(name, help="YYYY-MM-DD (既定: 今月 / default: this month)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--actor", required=True)
    p.set_defaults(func=cmd_cert_counts)

    card = sub.add_parser("card", help="コンビニ交付のカード / residents' cards").add_subparsers(dest="card_command", required=True)
    p = card.add_parser("issue", help="カードの交付（鍵ペアと暗証番号）/ issue a card")
    p.add_argument("person_id")
    p.add_argument("--out", required=True, help="カードの秘密鍵を書き出す新しいファイル / new file for the card's key")
    p.add_argument("--pin-stdin", action="store_true", help="暗証番号を標準入力から / read the PIN from stdin")
    p.add_argument("--algorithm", choices=("ed25519", "ecdsa-p256"), default="ed25519")
    p.add_argument("--actor", required=True)
    p.set_defaults(func=cmd_card_issue)
    p = card.add_parser("unlock", help="ロック解除（窓口）/ unlock after three wrong PINs")
    p.add_argument("card_id")
    p.add_argument("--new-pin-stdin", action="store_true", help="新しい暗証番号を標準入力から / new PIN from stdin")
    p.add_argument("--actor", required=True)
    p.set_defaults(func=cmd_card_unlock)
    p = card.add_parser("revoke", help="カードの廃止 / revoke a card")
    p.add_argument("card_id")
    p.add_argument("--reason", required=True)
    p.add_argument("--actor", required=True)
    p.set_defaults(func=cmd_card_revoke)
    p = card.add_parser("sign", help="チャレンジに署名（カードの動作）/ sign a kiosk challenge as the card does")
    p.add_argument("card", help="カードの秘密鍵ファイル / the card's key file")
    p.add_argument("--kiosk", required=True)
    p.add_argument("--challenge", required=True)
    p.set_defaults(func=cmd_card_sign)

    kiosk = sub.add_parser("kiosk", help="コンビニ交付の端末 / kiosks").add_subparsers(dest="kiosk_command", required=True)
    p = kiosk.add_parser("register", help="キオスク端末の登録 / register a kiosk")
    p.add_argument("kiosk_id")
    p.add_argument("--name", required=True)
    p.add_argument("--location", default="")
    p.add_argument("--actor", required=True)
    p.set_defaults(func=cmd_kiosk_register)
    p = kiosk.add_parser("revoke", help="キオスク端末の廃止 / revoke a kiosk")
    p.add_argument("kiosk_id")
    p.add_argument("--actor", required=True)
    p.set_defaults(func=cmd_kiosk_revoke)

    seal = sub.add_parser("seal", help="印鑑登録 / seal registration").add_subparsers(dest="seal_command", required=True)
    p = seal.add_parser("sweep", help="住民でなくなった方の印鑑登録を廃止（日次）/ abolish for removed registrants (daily)")
    p.add_argument("--actor", default="juki-seal-sweep")
    p.set_defaults(func=cmd_seal_sweep)
