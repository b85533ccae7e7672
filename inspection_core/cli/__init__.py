"""The `aoi` command. Each command group lives in its own module with a `register(subparsers)`.

Errors the user can act on (AoiError) print one line, no traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from inspection_core.errors import AoiError

# modules that add sub-commands; each has register(subparsers) -> None
COMMAND_MODULES = (
    "inspection_core.cli.model_commands",
    "inspection_core.cli.recipe_commands",
    "inspection_core.cli.camera_commands",
    "inspection_core.cli.suite_commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aoi", description="aoi-station: anomaly-detection inspection tools"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    args.command_line = " ".join(["aoi", *argv])
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return int(args.func(args) or 0)
    except AoiError as exc:
        print(f"aoi: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aoi: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
