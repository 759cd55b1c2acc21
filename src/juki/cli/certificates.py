"""``juki verify`` and ``juki cert public-key``: check a certificate PDF offline; publish the key.

    juki verify FILE.pdf [--public-key PEM] [--json]   exit 0 valid / 1 invalid (the reasons printed)
    juki cert public-key [--out FILE] [--node DIR]     the certificate-signing public key (PEM), of a node's
                                                       own key with --node
    juki cert purge-copies [--days N]                  delete the stored copies of certificates older than
                                                       N days (default 7; issuing does it once a day anyway)

``juki verify`` needs no database: only the public key (by default the public half of this
municipality's key file, ``JUKI_CERT_KEY_FILE``; a relying office passes the published PEM).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_INPUT = 2


def cert_commands(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """The ``juki cert …`` group, created once: every module adds its subcommands to the same group."""
    parser = sub.choices.get("cert")
    if parser is None:
        parser = sub.add_parser("cert", help="証明書 / certificates")
        parser.add_subparsers(dest="cert_command", required=True)
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _fail(ja: str, en: str) -> int:
    print(f"エラー / error: {ja} / {en}", file=sys.stderr)
    return EXIT_INPUT


def cmd_verify(args: argparse.Namespace) -> int:
    from juki.adapters import signing_keys
    from juki.adapters.pdf.verify import verify_pdf
    from juki.config import Settings

    try:
        pdf = Path(args.file).read_bytes()
    except OSError as exc:
        return _fail(f"ファイルを読めません: {args.file}", f"cannot read {args.file}: {exc.strerror}")
    try:
        if args.public_key:
            key = signing_keys.load_public_key(Path(args.public_key).read_bytes())
        else:
            key = signing_keys.load_or_create(Settings().cert_key_file, create=False,
                                              what=("証明書署名鍵", "certificate signing key")).public_key()
    except (OSError, signing_keys.SigningKeyError) as exc:
        return _fail("公開鍵を読めません（--public-key で指定してください）",
                     f"cannot load the public key (give --public-key): {exc}")
    result = verify_pdf(pdf, key)
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    elif result.ok and result.payload is not None:
        p = result.payload
        from juki.domain.certificates import CertificateKind

        print(f"有効な証明書です / valid certificate: {CertificateKind(p['kind']).ja} {p['id']}")
        print(f"  交付日 / issued on {p['issued_on']}  署名 / signed {p['at']} by {p['by']}  "
              f"{p['n']}人 / subjects, {p['pages']}枚 / pages  鍵 / key {p['kid']}")
        print(f"  内容のSHA-256 / content SHA-256 {p['content']}")
    else:
        print("無効な証明書です / INVALID certificate")
        for r in result.reasons:
            print(f"  - {r.ja} / {r.en} [{r.rule}]")
    return EXIT_VALID if result.ok else EXIT_INVALID


def cmd_public_key(args: argparse.Namespace) -> int:
    from juki.cli.common import register

    if args.node:  # a municipality node signs with its own key (node.json cert_key_file, default <dir>/cert-key.pem)
        from juki.adapters.pdf.signing import CertificateSigner
        from juki.net.node import NodeConfig

        pem = CertificateSigner.load_or_create(NodeConfig.load(args.node).cert_key).public_key_pem()
    else:
        pem = register().certificate_signer.public_key_pem()
    if args.out:
        Path(args.out).write_text(pem, encoding="ascii")
        print(f"公開鍵を書き出しました / public key written: {args.out}")
    else:
        print(pem, end="")
    return 0


def cmd_purge_copies(args: argparse.Namespace) -> int:
    from juki.cli.common import register

    n = register().issuance.purge_copies(actor=args.actor, days=args.days)
    print(f"証明書の控えを {n} 件削除しました（{args.days} 日より前に保存したもの）/ "
          f"{n} stored certificate copies older than {args.days} days deleted")
    return 0


def register_certificate_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    v = sub.add_parser("verify", help="証明書PDFの真正性を確認 / verify a certificate PDF offline")
    v.add_argument("file", help="証明書のPDF / the certificate PDF")
    v.add_argument("--public-key", help="発行した市区町村の公開鍵（PEM）/ the issuing municipality's public key (PEM)")
    v.add_argument("--json", action="store_true", help="結果をJSONで / print the result as JSON")
    v.set_defaults(func=cmd_verify)
    k = cert_commands(sub).add_parser("public-key", help="証明書の検証用公開鍵 / the certificate verification key (PEM)")
    k.add_argument("--out", help="書き出すファイル / write to this file")
    k.add_argument("--node", help="市町村ノードのディレクトリ（その署名鍵）/ a municipality node directory (its signing key)")
    k.set_defaults(func=cmd_public_key)
    from juki.issuance.tables import COPY_KEEP_DAYS

    p = cert_commands(sub).add_parser("purge-copies", help="保存期間を過ぎた証明書の控えを削除 / delete expired certificate copies")
    p.add_argument("--days", type=int, default=COPY_KEEP_DAYS, help=f"保存日数 / keep this many days (default {COPY_KEEP_DAYS})")
    p.add_argument("--actor", default="operator", help="実行者 / who runs it (audit log)")
    p.set_defaults(func=cmd_purge_copies)
