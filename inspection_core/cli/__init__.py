"""The `aoi` command. Each command group lives in its own module with a `register(subparsers)`.

Errors the user can act on (AoiError) print one line, no traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from inspection_core.errors import AoiError
from inspection_core.runtime.version import git_revision, version_lines

__all__ = ["build_parser", "git_revision", "main", "version_text"]

# modules that add sub-commands; each has register(subparsers) -> None
COMMAND_MODULES = (
    "inspection_core.cli.model_commands",
    "inspection_core.cli.recipe_commands",
    "inspection_core.cli.camera_commands",
    "inspection_core.cli.suite_commands",
    "inspection_core.cli.records_commands",
    "inspection_core.cli.audit_commands",
    "inspection_core.cli.sinks_commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aoi", description="aoi-station: anomaly-detection inspection tools"
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the aoi-station version, its git revision in a checkout, torch and CUDA, and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(sub)
    return parser


def version_text() -> str:
    """What `aoi --version` prints: enough to reproduce a bug report (package, revision, torch, GPU)."""
    return "\n".join(version_lines())


class _VersionAction(argparse.Action):
    """Like argparse's "version" action, but the text is built only when asked (it imports torch)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(
            option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help
        )

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        print(version_text())
        parser.exit()


def _to_devnull(stream_name: str) -> None:
    """Point a closed pipe's file descriptor at /dev/null, so the flush at exit cannot fail again."""
    stream = getattr(sys, stream_name)
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a reader that closes our stdout early (`aoi models | head`) ends it quietly.

    Exit status 141 (128 + SIGPIPE) is what a shell reports for a C tool stopped the same way.
    """
    try:
        try:
            return _main(argv)
        finally:  # a closed pipe shows up at this flush at the latest, while it can still be handled
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        _to_devnull("stdout")
        try:
            if sys.stderr is not None:
                sys.stderr.flush()
        except BrokenPipeError:  # `2>&1 | head`: the same pipe
            _to_devnull("stderr")
        return 141


def _main(argv: Sequence[str] | None) -> int:
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
