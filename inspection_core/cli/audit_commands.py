"""`aoi audit list` (who changed what on the station) and `aoi roles set-pin` (the first PIN is set here)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from inspection_core.errors import AoiError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit",
        help="the audit trail: thresholds, ROI, recipes, camera settings and PINs changed, by whom",
        description="Every change made on the station (who, when, what, old → new, recipe version) is in "
        "the records store's audit table (<station home>/records/inspections.sqlite, or $AOI_RECORDS_URL). "
        "This reads it without changing it.",
    )
    a = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    q = a.add_parser("list", help="print changes, newest first")
    q.add_argument(
        "--records",
        default=None,
        metavar="DIR",
        help="records folder (default: <station home>/records; $AOI_RECORDS_URL, when set, wins)",
    )
    q.add_argument("--limit", type=int, default=50, metavar="N", help="at most N rows (default 50; 0 = all)")
    q.add_argument("--action", default=None, help="only this action (e.g. 'apply thresholds')")
    q.add_argument("--user", default=None, help="only changes by this user")
    q.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    q.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "roles",
        help="set the engineer's or the administrator's PIN (stored as a salted hash)",
        description="The station's roles: operator (start/stop, no PIN), engineer (thresholds, ROI, recipes, "
        "camera settings) and administrator (sets PINs). PINs are kept as salted scrypt hashes in "
        "<station home>/roles.json. The first PIN to set is the administrator's.",
    )
    r = p.add_subparsers(dest="roles_command", required=True, metavar="ACTION")
    q = r.add_parser("set-pin", help="set a role's PIN (needs the administrator's PIN once one is set)")
    q.add_argument("role", choices=("engineer", "administrator"), help="whose PIN to set")
    q.add_argument(
        "--stdin",
        action="store_true",
        help="read the PINs from standard input, one a line (current administrator PIN first if one is "
        "set, then the new PIN twice), instead of asking at the terminal",
    )
    q.set_defaults(func=cmd_set_pin)


def cmd_list(args: argparse.Namespace) -> int:
    from inspection_core.records.audit import AuditLog

    if args.limit < 0:
        raise AoiError("--limit must be 0 (all) or more")
    log = AuditLog(Path(args.records).expanduser() if args.records else None)
    rows = log.entries(args.limit or None, action=args.action, user=args.user)
    if args.json:
        print(json.dumps([e.to_dict() for e in rows], indent=1, default=str))
        return 0
    if not rows:
        print(f"no changes recorded in {log.where}")
        return 0
    head = ("time (UTC)", "user", "role", "action", "what", "old → new", "recipe")
    table = [
        (
            e.time_utc[:19].replace("T", " "),
            e.user,
            e.role,
            e.action,
            e.target,
            e.change_text(),
            (e.recipe or "") + (f" v{e.recipe_version}" if e.recipe_version else ""),
        )
        for e in rows
    ]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(head)]
    for row in (head, *table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_set_pin(args: argparse.Namespace) -> int:
    from inspection_core.records.audit import AuditLog
    from inspection_core.runtime.roles import Role, RoleError, RoleStore

    lines = iter(sys.stdin.read().splitlines()) if args.stdin else None

    def ask(prompt: str) -> str:
        if lines is not None:
            try:
                return next(lines)
            except StopIteration:
                raise RoleError(f"standard input ended before: {prompt.strip()}") from None
        return getpass.getpass(prompt)

    store = RoleStore()
    role = Role.parse(args.role)
    if store.has_pin(Role.ADMINISTRATOR):
        if not store.verify(Role.ADMINISTRATOR, ask("current administrator PIN: ")):
            raise RoleError("the administrator PIN is wrong: nothing changed")
    elif role is Role.ENGINEER:
        raise RoleError("set the administrator's PIN first: aoi roles set-pin administrator")
    pin = ask(f"new {role.label} PIN: ")
    if pin != ask(f"the {role.label} PIN again: "):
        raise RoleError("the two PINs differ: nothing changed")
    store.set_pin(role, pin)
    log = AuditLog()
    try:
        log.record("set PIN", role.label, user=getpass.getuser(), role="administrator", note="aoi roles")
    finally:
        log.close()
    print(f"{role.label} PIN set in {store.path}")
    return 0
