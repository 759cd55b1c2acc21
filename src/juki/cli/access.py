"""``juki staff|terminal|rights|roster``: accounts, terminals, rights and the daily roster (SEC-1, SEC-2).

    juki staff create USER --name N --section S [--kind staff|contractor] [--password-stdin]
    juki staff disable USER [--reason R]        juki staff unlock USER
    juki staff reset-password USER [--password-stdin]   juki staff reset-totp USER
    juki staff list                             juki staff export [--out FILE] [--include-revoked]
    juki staff sweep                            (daily: lock accounts whose password was not changed,
                                                 delete used or expired WebAuthn ceremonies)
    juki terminal register ID --name N --section S      juki terminal revoke ID
    juki rights request USER ROLE SECTION [--reason R]  juki rights approve GRANT
    juki rights revoke GRANT --reason R         juki rights list [USER]
    juki rights bootstrap USER                  (the first business owner; once)
    juki roster apply FILE --today YYYY-MM-DD [--force] [--dry-run]

Secrets (the terminal key, the TOTP URI, a generated password) are printed once and never stored in
clear.  ``--actor`` (default ``cli:<os user>``) is recorded as who did it; run these on the server as
its operator.  ``rights approve`` checks that the actor is a business owner (and not the requester).
Hooked into ``juki`` by :func:`register_access_commands`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import secrets
import sys
from typing import Any


def _ctx() -> Any:
    from juki.adapters.db.migrate import upgrade
    from juki.config import Register

    reg = Register()
    upgrade(reg.settings.database_url)
    return reg


def _auth(reg: Any) -> Any:
    from juki.access.auth import AuthService

    return AuthService(reg.engine, reg.keyring)


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated?)"""
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\n"), False
    return secrets.token_urlsafe(12), True


def cmd_staff_create(args: argparse.Namespace) -> int:
    reg = _ctx()
    pw, generated = _password(args)
    new = _auth(reg).create_staff(
        args.user_id, args.name, args.section, password=pw, actor=args.actor, kind=args.kind
    )
    print(f"利用者を作成しました / created {new.user_id} ({args.section}, {args.kind})")
    if generated:
        print(f"初期パスワード (一度だけ表示・初回ログイン時に変更) / initial password (shown once): {pw}")
    print(f"TOTP (一度だけ表示) / TOTP URI (shown once): {new.totp_uri}")
    print("権限はまだありません。rights request で申請してください / no rights yet: use `juki rights request`.")
    return 0


def cmd_staff_disable(args: argparse.Namespace) -> int:
    ended = _auth(_ctx()).disable_staff(args.user_id, actor=args.actor, reason=args.reason)
    print(f"無効化しました / disabled {args.user_id} (sessions ended: {len(ended)})")
    return 0


def cmd_staff_unlock(args: argparse.Namespace) -> int:
    _auth(_ctx()).unlock(args.user_id, actor=args.actor)
    print(f"ロックを解除しました / unlocked {args.user_id}")
    return 0


def cmd_staff_reset_password(args: argparse.Namespace) -> int:
    pw, generated = _password(args)
    _auth(_ctx()).reset_password(args.user_id, pw, actor=args.actor)
    print(f"パスワードを再設定しました (次回ログイン時に変更) / password reset for {args.user_id} (change at next login)")
    if generated:
        print(f"仮パスワード (一度だけ表示) / temporary password (shown once): {pw}")
    return 0


def cmd_staff_reset_totp(args: argparse.Namespace) -> int:
    new = _auth(_ctx()).reset_totp(args.user_id, actor=args.actor)
    print(f"TOTP (一度だけ表示) / TOTP URI (shown once): {new.totp_uri}")
    return 0


def cmd_staff_list(args: argparse.Namespace) -> int:
    for s in _auth(_ctx()).list_staff():
        last = s.last_login_at.isoformat() if s.last_login_at else "-"
        print(f"{s.user_id}\t{s.name}\t{s.section}\t{s.kind}\t{s.status}\t{last}")
    return 0


def cmd_staff_export(args: argparse.Namespace) -> int:
    from juki.access.rights import export_users

    text = export_users(_ctx().engine, include_revoked=args.include_revoked)
    if args.out:
        with open(args.out, "w", encoding="utf-8-sig", newline="") as f:
            f.write(text)
        print(f"出力しました / written {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_staff_sweep(args: argparse.Namespace) -> int:
    auth = _auth(_ctx())
    locked = auth.lock_stale_passwords()
    print(f"パスワード未変更でロック / locked for unchanged passwords: {', '.join(locked) or '-'}")
    purged = auth.purge_ceremonies()
    print(f"使用済み・期限切れの認証器の手続を削除 / deleted used or expired authenticator ceremonies: {purged}")
    return 0


def cmd_terminal_register(args: argparse.Namespace) -> int:
    key = _auth(_ctx()).register_terminal(args.terminal_id, args.name, args.section, actor=args.actor)
    print(f"端末を登録しました / registered terminal {args.terminal_id} ({args.section})")
    print(f"端末鍵 (一度だけ表示) / terminal key (shown once): {key}")
    return 0


def cmd_terminal_revoke(args: argparse.Namespace) -> int:
    ended = _auth(_ctx()).revoke_terminal(args.terminal_id, actor=args.actor)
    print(f"端末を失効させました / revoked {args.terminal_id} (sessions ended: {len(ended)})")
    return 0


def cmd_rights_request(args: argparse.Namespace) -> int:
    from juki.access.rights import request_right

    gid = request_right(
        _ctx().engine, user_id=args.user_id, role=args.role, section=args.section, requested_by=args.actor,
        reason=args.reason,
    )
    print(f"権限を申請しました (承認待ち) / requested grant {gid}: {args.role} in {args.section} for {args.user_id} (pending)")
    return 0


def cmd_rights_approve(args: argparse.Namespace) -> int:
    from juki.access.rights import approve_right

    g = approve_right(_ctx().engine, args.grant_id, approved_by=args.actor)
    print(f"承認しました / approved grant {g.grant_id}: {g.role} in {g.section} for {g.user_id}")
    return 0


def cmd_rights_revoke(args: argparse.Namespace) -> int:
    from juki.access.rights import revoke_right

    g = revoke_right(_ctx().engine, args.grant_id, revoked_by=args.actor, reason=args.reason)
    print(f"取り消しました / revoked grant {g.grant_id}: {g.role} in {g.section} for {g.user_id}")
    return 0


def cmd_rights_list(args: argparse.Namespace) -> int:
    from juki.access.rights import grants

    for g in grants(_ctx().engine, args.user_id):
        print(f"{g.grant_id}\t{g.user_id}\t{g.role}\t{g.section}\t{g.status}\t{g.requested_by}\t{g.approved_by or '-'}")
    return 0


def cmd_rights_bootstrap(args: argparse.Namespace) -> int:
    from juki.access.rights import bootstrap_owner

    gid = bootstrap_owner(_ctx().engine, args.user_id, actor=args.actor)
    print(f"最初の業務主管課承認者 / first business owner: {args.user_id} (grant {gid}, all sections)")
    return 0


def cmd_roster_apply(args: argparse.Namespace) -> int:
    from juki.access.rights import apply_roster

    report = apply_roster(
        _ctx().engine, args.file, today=args.today, actor=args.actor, force=args.force, dry_run=args.dry_run
    )
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    return 0


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日付は YYYY-MM-DD / date must be YYYY-MM-DD: {text!r}") from None


def register_access_commands(subparsers: Any) -> None:
    """Add ``staff``, ``terminal``, ``rights`` and ``roster`` to the ``juki`` command's subparsers."""
    default_actor = f"cli:{getpass.getuser()}"

    def leaf(group: Any, name: str, func: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(name, help=help)
        p.add_argument("--actor", default=default_actor, help="記録する実行者の利用者ID / user id recorded as actor")
        p.set_defaults(func=func)
        return p

    staff = subparsers.add_parser("staff", help="職員アカウント / staff accounts").add_subparsers(
        dest="staff_command", required=True
    )
    p = leaf(staff, "create", cmd_staff_create, "作成 / create an account")
    p.add_argument("user_id")
    p.add_argument("--name", required=True)
    p.add_argument("--section", required=True)
    p.add_argument("--kind", choices=("staff", "contractor"), default="staff")
    p.add_argument("--password-stdin", action="store_true", help="read the initial password from stdin")
    p = leaf(staff, "disable", cmd_staff_disable, "無効化 / disable (the id is never reused)")
    p.add_argument("user_id")
    p.add_argument("--reason", default="disabled")
    leaf(staff, "unlock", cmd_staff_unlock, "ロック解除 / unlock").add_argument("user_id")
    p = leaf(staff, "reset-password", cmd_staff_reset_password, "パスワード再設定 / reset the password")
    p.add_argument("user_id")
    p.add_argument("--password-stdin", action="store_true")
    leaf(staff, "reset-totp", cmd_staff_reset_totp, "TOTP 再発行 / new TOTP secret").add_argument("user_id")
    leaf(staff, "list", cmd_staff_list, "一覧 / list accounts")
    p = leaf(staff, "export", cmd_staff_export, "権限棚卸し用CSV / user list with rights (CSV)")
    p.add_argument("--out")
    p.add_argument("--include-revoked", action="store_true")
    leaf(staff, "sweep", cmd_staff_sweep, "期限切れパスワードのロック・認証器の手続の削除 / lock unchanged expired passwords, purge ceremonies")

    term = subparsers.add_parser("terminal", help="端末 / terminals").add_subparsers(
        dest="terminal_command", required=True
    )
    p = leaf(term, "register", cmd_terminal_register, "登録 / register (prints the key once)")
    p.add_argument("terminal_id")
    p.add_argument("--name", required=True)
    p.add_argument("--section", required=True)
    leaf(term, "revoke", cmd_terminal_revoke, "失効 / revoke").add_argument("terminal_id")

    rights = subparsers.add_parser("rights", help="権限 / rights").add_subparsers(dest="rights_command", required=True)
    p = leaf(rights, "request", cmd_rights_request, "申請 / request a right")
    p.add_argument("user_id")
    p.add_argument("role")
    p.add_argument("section")
    p.add_argument("--reason", default="")
    leaf(rights, "approve", cmd_rights_approve, "承認 (業務主管課) / approve (business owner)").add_argument(
        "grant_id", type=int
    )
    p = leaf(rights, "revoke", cmd_rights_revoke, "取消 / revoke")
    p.add_argument("grant_id", type=int)
    p.add_argument("--reason", required=True)
    leaf(rights, "list", cmd_rights_list, "一覧 / list").add_argument("user_id", nargs="?")
    leaf(rights, "bootstrap", cmd_rights_bootstrap, "最初の承認者 / first business owner").add_argument("user_id")

    roster = subparsers.add_parser("roster", help="職員名簿 / staff roster").add_subparsers(
        dest="roster_command", required=True
    )
    p = leaf(roster, "apply", cmd_roster_apply, "日次反映 / apply the daily roster")
    p.add_argument("file")
    p.add_argument("--today", type=_date, default=dt.date.today())
    p.add_argument("--force", action="store_true")
    p.add_argument("--dry-run", action="store_true")
