"""`python -m app` / `aoi-station`: the operator's window, or a headless timed run with a JSON report.

python -m app                                  # first start: the embedded demo (simulated web)
python -m app --source simulated --run-for 30 --report run.json   # soak / station check
python -m app --recipe "Tile A@3" --source genicam    # a stored recipe (NAME, or NAME@VERSION)
python -m app                                  # later: reopens the last deployed recipe and source
python -m app --backend onnxruntime            # what runs the model (default: the station setting, auto)

Everything the station keeps (recipes, layout, last session, logs/aoi-station.log) lives in the station
home: $AOI_STATION_HOME, else the per-user data folder (inspection_core/runtime/home.py).

A timed run exits non-zero when it proves nothing: 3 when the model failed to load, 4 when no frame
was inspected. Any start exits 5 when the station home cannot be created or written. Without
--run-for a model that fails to load leaves the window up in its error state (NOT INSPECTING, the
reason in the messages) instead of ending the process.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_NO_MODEL = 3  # (2 is argparse's usage error)
EXIT_NOTHING_INSPECTED = 4
EXIT_BAD_HOME = 5
LOG_NAME = "aoi-station.log"
LOG_MAX_BYTES = 5 * 1024 * 1024  # five files of 5 MB: weeks of events, a bounded share of the disk
LOG_BACKUPS = 5


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aoi-station", description="aoi-station live inspection window")
    p.add_argument(
        "--source",
        default=None,
        help="source spec: simulated, simulated:WxH, genicam[:ID], replay:PATH "
        "(default: the last one used, else simulated)",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--recipe",
        default=None,
        metavar="NAME[@VERSION]",
        help="inspect with this stored recipe (its model, thresholds, ROI, preprocessing; default latest)",
    )
    which.add_argument(
        "--model",
        default=None,
        help="model folder, or 'demo' for the embedded demo model. Without --recipe/--model the station "
        "reopens the last deployed recipe (or model) and source, else the demo",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument(
        "--backend",
        default=None,
        help="what runs the model: auto (ONNX Runtime on a CPU where the model exports, torch on a GPU), "
        "torch, onnxruntime, … (the installed ones); default: the station setting (Station settings…), "
        "else auto. The first use of ONNX Runtime exports the model (seconds); a failure falls back to torch",
    )
    p.add_argument("--no-start", action="store_true", help="open the window without starting acquisition")
    p.add_argument(
        "--run-for",
        type=float,
        default=None,
        metavar="SECONDS",
        help="inspect for this long (counted from the first inspected frame), then close",
    )
    p.add_argument(
        "--report", type=Path, default=None, metavar="FILE.json", help="write the counters here on exit"
    )
    p.add_argument(
        "--max-drop-rate",
        type=float,
        default=None,
        metavar="FRACTION",
        help="raise an alarm when more than this fraction of grabbed frames goes uninspected "
        "(e.g. 0.05 on triggered parts, where every frame is a part; default: off)",
    )
    p.add_argument(
        "--max-wait",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="with --run-for: give up if nothing is inspected within this time (default 600)",
    )
    p.add_argument(
        "--samples",
        type=Path,
        default=None,
        metavar="FILE.jsonl",
        help="append one JSON line of the window's health every --sample-every seconds (benchmarks/soak.py)",
    )
    p.add_argument("--sample-every", type=float, default=5.0, metavar="SECONDS", help="default 5")
    p.add_argument(
        "--sink",
        action="append",
        default=None,
        metavar="URL",
        help="hand every verdict to URL (repeatable; replaces <station home>/sinks.json for this run): "
        "mqtt://host:port/prefix, opcua://0.0.0.0:4840, folder:PATH, http://host/path, camera-output:Line1",
    )
    p.add_argument(
        "--version",
        action=_VersionAction,
        help="print the version, git revision (a bundle's build stamp), torch/CUDA and Qt, and exit",
    )
    return p


class _VersionAction(argparse.Action):
    """Help → About's lines without a window (torch and Qt are imported only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(
            option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help
        )

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        from app.about import about_lines

        print("\n".join(about_lines()))
        parser.exit()


def setup_log_file(log_dir: Path) -> logging.Handler:
    """A rotating log file in the station home for what the notification area shows (SessionState.notify
    logs each message) and what the core logs; set once per process (a second call moves it)."""
    from logging.handlers import RotatingFileHandler

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "aoi_station", False)]:
        root.removeHandler(old)
        old.close()
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(
        log_dir / LOG_NAME, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    )
    handler.aoi_station = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


def health_sample(window: Any, t0: float) -> dict[str, Any]:
    """What a soak watches from inside the process: progress, GUI stalls and the Qt binding's refcounts."""
    import threading

    snap = window.state.snapshot()
    return {
        "t_s": round(time.perf_counter() - t0, 3),
        "unix_s": round(time.time(), 3),
        "inspected": snap.inspected,
        "dropped": snap.dropped,
        "display_dropped": window.display_dropped,
        "heartbeat_max_gap_ms": round(window.heartbeat.take_window_gap_ms(), 2),
        "refcount_true": sys.getrefcount(True),
        "refcount_none": sys.getrefcount(None),
        "python_threads": threading.active_count(),
        "running": window.state.running,
        "camera_state": window.state.camera_state,
    }


def start_sampler(window: Any, path: Path, every_s: float, t0: float) -> Any:
    """A GUI-thread timer appending health samples: when the GUI stalls, the samples stop too."""
    from PySide6.QtCore import QTimer

    path.parent.mkdir(parents=True, exist_ok=True)

    def sample() -> None:
        with path.open("a") as fh:  # opened per sample: the soak counts this process's open files
            fh.write(json.dumps(health_sample(window, t0)) + "\n")

    timer = QTimer(window)
    timer.timeout.connect(sample)
    timer.start(int(every_s * 1000))
    sample()
    return timer


def report_dict(window: Any, args: argparse.Namespace, started: float) -> dict[str, Any]:
    snap = window.state.snapshot().to_dict()
    return {
        "command": "python -m app " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, {platform.python_version()}",
        "qt_platform": os.environ.get("QT_QPA_PLATFORM", ""),
        "source": args.source,
        "model": window.state.model_name,
        "recipe": f"{window.recipe.name}@{window.recipe.version}" if window.recipe else None,
        "device": window.state.device,
        "backend": window.state.backend,
        "backend_choice": window.backends.choice,
        "run_for_s": args.run_for,
        "wall_s": round(time.perf_counter() - started, 3),
        **snap,
        "display_dropped": window.display_dropped,
        "gui_heartbeat_max_gap_ms": round(window.heartbeat.max_gap_ms, 2),
        "gui_blocked_max_ms": round(window.heartbeat.max_block_ms, 2),
        "model_error": window.model_error,
        "sinks": [s.to_dict() for s in window.sinks.hub.stats()],
        "notifications": [f"{lvl}: {msg}" for lvl, msg in window.state.notifications],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from app import paths
    from inspection_core.errors import AoiError

    if args.backend is not None:
        from app.station_settings import backend_choices

        args.backend = args.backend.lower()
        if args.backend not in (choices := backend_choices()):
            parser.error(
                f"argument --backend: unknown or not installed {args.backend!r} (choices: {', '.join(choices)})"
            )

    try:
        paths.ensure_station_home()  # a read-only or uncreatable home: one clear line, no window
    except AoiError as exc:
        print(f"aoi-station: error: {exc}", file=sys.stderr)
        return EXIT_BAD_HOME
    try:
        setup_log_file(paths.log_dir())
    except OSError as exc:
        print(f"aoi-station: error: cannot open the log file in {paths.log_dir()}: {exc}", file=sys.stderr)
        return EXIT_BAD_HOME
    logging.getLogger("app").info(
        "aoi-station starting: %s", " ".join(sys.argv[1:] if argv is None else argv)
    )
    import pyqtgraph as pg
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app import resources
    from app.main_window import MainWindow

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("aoi-station")
    app.setApplicationName("aoi-station")
    resources.apply(app)  # stylesheet, window icon, desktop entry name
    from app.station_settings import load_settings

    backend = args.backend or load_settings().backend  # --backend replaces the setting for this run
    window = MainWindow(device=args.device, sink_urls=args.sink, backend=backend)
    window.state.max_drop_rate = args.max_drop_rate
    window.show()
    last = window.last_session()  # what the station ran before this start
    args.source = args.source or last.get("source") or "simulated"
    if args.recipe or args.model:
        last = {k: v for k, v in last.items() if k not in ("recipe", "model")}
    elif last.get("recipe") or last.get("model"):
        window.state.notify("info", f"resuming {last.get('recipe') or last.get('model')} on {args.source}")
    recipe = args.recipe or last.get("recipe")
    if recipe:
        loaded = window.load_recipe(recipe)
    else:
        loaded = window.load_model(args.model or last.get("model") or "demo")
    if not args.no_start and (loaded or window.fit is not None):  # no model: nothing to start for
        window.start(args.source)
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if args.samples is not None:
        start_sampler(window, args.samples, args.sample_every, started)

    if args.run_for is not None:
        # a timed run without a model can only wait for max-wait: end it now
        window.modelFailed.connect(lambda _msg: QTimer.singleShot(0, window.close))
        if not loaded and window.fit is None:
            QTimer.singleShot(0, window.close)

        def first_result(_item: object) -> None:
            if window.backends.pending:  # time only the chosen backend: torch inspects while it prepares
                return
            window.state.currentChanged.disconnect(first_result)
            window.state.reset_counters()  # count only the timed window
            window.heartbeat.reset()
            QTimer.singleShot(int(args.run_for * 1000), window.close)

        window.state.currentChanged.connect(first_result)
        QTimer.singleShot(int((args.run_for + args.max_wait) * 1000), window.close)

    # read the counters once the workers are stopped, before the window is deleted
    window.closed.connect(lambda: result.update(report_dict(window, args, started)))
    rc = app.exec()
    model_error = result.get("model_error")
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(result, indent=2))
        print(f"report written to {args.report}")
    if rc == 0 and args.run_for is not None:
        if model_error:
            print(f"aoi-station: error: {model_error}", file=sys.stderr)
            return EXIT_NO_MODEL
        if not result.get("inspected"):
            print(f"aoi-station: error: nothing was inspected ({args.source})", file=sys.stderr)
            return EXIT_NOTHING_INSPECTED
    return int(rc)


if __name__ == "__main__":
    sys.exit(main())
