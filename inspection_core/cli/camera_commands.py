"""`aoi cameras` and `aoi grab`: list frame sources; record frames headless (training data)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from inspection_core.errors import AoiError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cameras", help="list GenTL devices and the other frame sources")
    p.add_argument("--cti", action="append", default=[], help="extra GenTL producer .cti file or folder")
    p.add_argument("--no-viky", action="store_true", help="do not load the viky.cti simulator")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_cameras)

    p = sub.add_parser(
        "grab",
        help="save N frames of a source as lossless images with a JSON sidecar each",
        description="SOURCE is simulated[:WxH], replay:PATH or genicam[:ID_OR_SERIAL].",
    )
    p.add_argument("--source", default="simulated", help="source spec (default: simulated)")
    p.add_argument("--camera", default=None, help="GenICam camera id or serial (same as --source genicam:ID)")
    # --device names a compute device (cpu/cuda) everywhere else; here it was the camera once
    p.add_argument("--device", dest="deprecated_device", default=None, help=argparse.SUPPRESS)
    p.add_argument("-n", "--count", type=int, default=10, help="frames to save (default 10)")
    p.add_argument("--out", required=True, help="folder to write frame_NNNNNN.png/.json into")
    p.add_argument("--exposure", type=float, default=None, help="exposure time in µs")
    p.add_argument("--gain", type=float, default=None, help="gain in dB")
    p.add_argument("--pixel-format", default=None, help="e.g. Mono8, RGB8, BayerRG8")
    p.add_argument("--width", type=int, default=None, help="frame width in pixels")
    p.add_argument("--height", type=int, default=None, help="frame height in pixels")
    p.add_argument("--fps", type=float, default=None, help="acquisition frame rate")
    p.add_argument("--defect-rate", type=float, default=None, help="simulated web: defects per frame")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for each frame (default 2)")
    p.add_argument("--format", choices=("png", "tiff"), default="png", help="lossless image format")
    p.add_argument("--cti", action="append", default=[], help="extra GenTL producer .cti file or folder")
    p.set_defaults(func=cmd_grab)


def cmd_cameras(args: argparse.Namespace) -> int:
    from inspection_core.camera import list_sources
    from inspection_core.camera.genicam import list_devices, producer_paths, producer_problems

    ctis = producer_paths(args.cti, include_viky=not args.no_viky)
    devices = list_devices(args.cti, include_viky=not args.no_viky)
    warnings = producer_problems()
    for w in warnings:  # a skipped producer must be visible, or its cameras just seem unplugged
        print(f"warning: {w}", file=sys.stderr)
    others = [s for s in list_sources(include_genicam=False)]
    if args.json:
        doc = {
            "producers": [str(c) for c in ctis],
            "warnings": warnings,
            "devices": [d.__dict__ for d in devices],
            "other_sources": [s.__dict__ for s in others] + [{"kind": "replay", "spec": "replay:PATH"}],
        }
        print(json.dumps(doc, indent=2))
        return 0
    print(f"GenTL producers ({len(ctis)}): " + (", ".join(str(c) for c in ctis) or "none"))
    if devices:
        rows = [("SPEC", "VENDOR", "MODEL", "SERIAL", "PRODUCER")]
        rows += [(f"genicam:{d.id}", d.vendor, d.model, d.serial, Path(d.producer).name) for d in devices]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    else:
        print("no GenTL devices found")
    print("other sources:")
    for s in others:
        print(f"  {s.spec:<24} {s.label}")
    print(f"  {'replay:PATH':<24} a folder of images or a video file")
    return 0


def _settings_from(args: argparse.Namespace) -> dict[str, Any]:
    pairs = {
        "exposure_us": args.exposure,
        "gain_db": args.gain,
        "pixel_format": args.pixel_format,
        "width": args.width,
        "height": args.height,
        "frame_rate": args.fps,
        "defect_rate": args.defect_rate,
    }
    return {k: v for k, v in pairs.items() if v is not None}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if not isinstance(v, np.ndarray)}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _camera_arg(args: argparse.Namespace) -> str | None:
    """--camera, or the deprecated --device of older scripts (with a note on stderr)."""
    old = getattr(args, "deprecated_device", None)
    if old is None:
        return args.camera
    if args.camera is not None:
        raise AoiError("give the camera once: --camera (--device is its deprecated old name)")
    print("aoi: note: `grab --device ID` is deprecated, use --camera ID", file=sys.stderr)
    return old


def cmd_grab(args: argparse.Namespace) -> int:
    from inspection_core.camera import create_source
    from inspection_core.data.imageio import imwrite

    if args.count < 1:
        raise AoiError("-n must be at least 1")
    camera = _camera_arg(args)
    spec = args.source
    kw: dict[str, Any] = {}
    if spec.split(":", 1)[0] == "genicam":
        if camera:
            spec = f"genicam:{camera}"
        kw["cti_paths"] = args.cti
    elif camera:
        raise AoiError("--camera is for genicam sources only")
    src = create_source(spec, **kw)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    src.open()
    try:
        applied = src.configure(**_settings_from(args))
        settings = src.settings()
        src.start()
        t0 = time.perf_counter()
        for i in range(args.count):
            frame = src.read(args.timeout)
            stem = f"frame_{i:06d}"
            imwrite(out / f"{stem}.{args.format}", frame.image)
            sidecar: dict[str, Any] = {
                "frame_id": frame.frame_id,
                "timestamp_ns": frame.timestamp_ns,
                "source": frame.source,
                "shape": list(frame.image.shape),
                "dtype": str(frame.image.dtype),
                "settings": _jsonable(settings),
                "meta": _jsonable(frame.meta),
            }
            mask = frame.meta.get("defect_mask")
            if isinstance(mask, np.ndarray):
                if mask.any():
                    imwrite(out / f"{stem}_mask.png", mask)
                    sidecar["mask"] = f"{stem}_mask.png"
                sidecar["defective"] = bool(mask.any())
            (out / f"{stem}.json").write_text(json.dumps(sidecar, indent=1))
        elapsed = time.perf_counter() - t0
        stats = src.stats().to_dict()
        src.stop()
    finally:
        src.close()
    print(
        f"saved {args.count} frames from {src.info.spec} to {out} in {elapsed:.2f} s "
        f"(applied {applied or 'defaults'}; lost {stats['lost']}, timeouts {stats['timeouts']})",
        file=sys.stderr,
    )
    for path, why in getattr(src, "skipped", {}).items():  # a replay's unreadable files
        print(f"warning: skipped {Path(path).name}: {why}", file=sys.stderr)
    return 0
