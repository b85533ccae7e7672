"""`aoi records list | export | stats | verify`: what the station inspected, answerable a month later."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from inspection_core.errors import AoiError


def _records_dir(args: argparse.Namespace) -> Path:
    if args.records:
        return Path(args.records).expanduser()
    from inspection_core.runtime.home import station_home

    return station_home() / "records"


def _add_common(p: argparse.ArgumentParser, filters: bool = True) -> None:
    p.add_argument(
        "--records",
        default=None,
        metavar="DIR",
        help="records folder (default: <station home>/records; the station home is $AOI_STATION_HOME "
        "or the per-user data folder)",
    )
    if not filters:
        return
    p.add_argument(
        "--station",
        action="append",
        default=None,
        metavar="NAME",
        help="only these stations' inspections (one plant database holds several): repeat the option "
        "or give a comma list (--station line-1,line-2); default: every station in the store",
    )
    p.add_argument(
        "--since",
        default=None,
        metavar="TIME",
        help="only inspections at or after TIME (ISO 8601; local time unless it ends in Z or an offset)",
    )
    p.add_argument("--until", default=None, metavar="TIME", help="only inspections before TIME (ISO 8601)")
    p.add_argument(
        "--verdict", choices=("OK", "NG", "ok", "ng"), default=None, help="only OK or only NG parts"
    )
    p.add_argument("--recipe", default=None, metavar="NAME", help="only inspections made with this recipe")


def _filters(args: argparse.Namespace, limit: int | None = None) -> Any:
    from inspection_core.records.query import Filters, parse_time

    return Filters(
        since_ns=parse_time(args.since) if args.since else None,
        until_ns=parse_time(args.until) if args.until else None,
        verdict=args.verdict.upper() if args.verdict else None,
        recipe=args.recipe,
        limit=limit,
        station=_stations(args),
    )


def _stations(args: argparse.Namespace) -> tuple[str, ...]:
    """--station values, repeated and/or comma-separated, in order without duplicates."""
    names = [n.strip() for v in getattr(args, "station", None) or () for n in v.split(",")]
    if any(not n for n in names):
        raise AoiError("--station needs a station name (empty name in the list)")
    return tuple(dict.fromkeys(names))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "records",
        help="list, export, count and check the station's inspection records",
        description="Every inspection the station made (time, recipe, verdict, score, defects, image) "
        "is in <station home>/records/inspections.sqlite, or in the database $AOI_RECORDS_URL names "
        "(postgresql://user@host/db: one plant database for several stations). These commands read it "
        "without changing it, also while a station is writing.",
    )
    rs = p.add_subparsers(dest="records_command", required=True, metavar="ACTION")

    q = rs.add_parser("list", help="print inspections, newest first")
    _add_common(q)
    q.add_argument("--limit", type=int, default=50, metavar="N", help="at most N rows (default 50; 0 = all)")
    q.add_argument(
        "--json", action="store_true", help="print a JSON array of full records instead of a table"
    )
    q.set_defaults(func=cmd_list)

    q = rs.add_parser("export", help="write inspections (oldest first) to a CSV or JSON-lines file")
    _add_common(q)
    q.add_argument(
        "--format", choices=("csv", "jsonl"), required=True, help="csv (one column per field) or jsonl"
    )
    q.add_argument("--out", required=True, metavar="FILE", help="file to write ('-' = standard output)")
    q.set_defaults(func=cmd_export)

    q = rs.add_parser("stats", help="count, yield, NG by defect size and per hour")
    _add_common(q)
    q.add_argument("--json", action="store_true", help="print the statistics as JSON")
    q.add_argument(
        "--per-station",
        action="store_true",
        help='the same statistics for each station as well (JSON: under "stations")',
    )
    q.set_defaults(func=cmd_stats)

    q = rs.add_parser(
        "verify",
        help="check the store (exit 1 on a problem): SQLite's integrity check, or on PostgreSQL the "
        "server, schema and row count (the server keeps its own files' integrity); and every image a "
        "record points to",
    )
    _add_common(q, filters=False)
    q.add_argument(
        "--station",
        action="append",
        default=None,
        metavar="NAME",
        help="check the images of these stations' records only (repeat or comma list; default: every "
        "record on SQLite, this station's on a shared PostgreSQL database)",
    )
    q.set_defaults(func=cmd_verify)


def _reader(args: argparse.Namespace) -> Any:
    from inspection_core.records.query import RecordsReader

    return RecordsReader(_records_dir(args))


def _fmt(v: float | None, spec: str) -> str:
    return "" if v is None else format(v, spec)


def cmd_list(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise AoiError("--limit must be 0 (all) or more")
    reader = _reader(args)
    try:
        recs = list(reader.records(_filters(args, args.limit or None), newest_first=True))
    finally:
        reader.close()
    if args.json:
        print(json.dumps([r.to_dict() for r in recs], indent=1))
        return 0
    if not recs:
        print("no inspections match")
        return 0
    head = ("time (local)", "station", "source", "frame", "recipe", "backend", "verdict", "score", "margin",
            "defects", "max px", "image")  # fmt: skip
    rows = [
        (
            (r.time_local or "")[:23],
            r.station or "",
            r.source,
            str(r.frame_id),
            r.recipe + (f"@{r.recipe_version}" if r.recipe_version else ""),
            r.backend or "",  # which runtime judged it (schema 5; empty on older rows)
            r.verdict + (" !" if r.alarm else ""),
            _fmt(r.score, ".3f"),
            _fmt(r.margin, "+.3f"),
            str(r.n_defects),
            "" if r.max_area_px is None else str(r.max_area_px),
            r.image_path or "",
        )
        for r in recs
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    for row in (head, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from inspection_core.records.query import write_export

    reader = _reader(args)
    out = sys.stdout if args.out == "-" else None
    try:
        fh = out or open(args.out, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        reader.close()
        raise AoiError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
    try:
        n = write_export(reader.records(_filters(args)), fh, args.format)
    finally:
        reader.close()
        if out is None:
            fh.close()
    if out is None:
        print(f"{n} inspections written to {args.out}", file=sys.stderr)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    reader = _reader(args)
    try:
        s = reader.stats(_filters(args), per_station=args.per_station)
    finally:
        reader.close()
    if args.json:
        print(json.dumps(s, indent=1))
        return 0
    if not s["count"]:
        print("no inspections match")
        return 0
    _print_stats(s)
    for name, st in s.get("stations", {}).items():
        print(f"\nstation {name or '(none: rows from before schema 2)'}:")
        _print_stats(st, "  ")
    return 0


def _print_stats(s: dict[str, Any], indent: str = "") -> None:
    print(f"{indent}inspected {s['count']}  OK {s['ok']}  NG {s['ng']}  yield {100 * s['yield']:.2f} %")
    if s["ng_by_area"]:
        print(f"{indent}NG by largest defect:")
        for k, v in s["ng_by_area"].items():
            print(f"{indent}  {k:<14} {v}")
    print(f"{indent}per hour (local):")
    for h in s["per_hour"]:
        y = 100 * h["ok"] / h["count"]
        print(f"{indent}  {h['hour'].replace('T', ' ')}h  {h['count']:>7}  NG {h['ng']:>6}  yield {y:6.2f} %")


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 when every check passed, 1 on a problem; the output names what was checked on this
    backend and what was not (a PostgreSQL server's own files are the server's to check)."""
    try:
        reader = _reader(args)
    except AoiError as exc:
        print(f"FAIL {exc}")
        return 1
    try:
        rep = reader.check(_stations(args) or None)
    finally:
        reader.close()
    for p in rep.problems:
        print(f"FAIL {p}")
    if rep.problems:
        print(f"{len(rep.problems)} problem(s) in {reader.path}")
        return 1
    whose = f" of station {', '.join(rep.image_stations)}" if rep.image_stations else ""
    images = f"{rep.images} image(s){whose} present" if rep.images else f"no images{whose} to check"
    print(f"OK {reader.path}: {rep.count} inspections; {'; '.join([*rep.checked, images])}")
    for note in rep.notes:
        print(f"note: {note}")
    return 0
