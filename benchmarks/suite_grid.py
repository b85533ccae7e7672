"""PatchCore's ablation on the development suite: `plain`, the default, and one change at a time.

Runs the `aoi suite` pipeline (inspection_core.cli.suite_commands.run_suite) for every named option set
below at each shot count, on every data set under --data-root, in one process so that each data set is
read once for all variants; writes every row to one JSON as it goes. A failing data set or variant is
recorded in its row and the grid goes on. Re-running with the same --out continues where it stopped
(rows already there are kept), so a grid longer than one GPU call is split with --stop-after:

    python benchmarks/suite_grid.py --data-root ../shared/datasets --device cuda --out grid.json --stop-after 540
    python benchmarks/suite_grid.py --report grid.json [--markdown]

The report judges each variant by the suite rule (issue #23) against `plain`: on every data set image
and pixel AUROC ≥ plain − 0.01, and the mean image AUROC ≥ plain + 0.02, at every shot count of the grid
(16 shots and full data by default). `--list` prints the variants.

Another registered model runs with `--model NAME --variants default [--options …]` (its rows are labelled
NAME) and is judged beside PatchCore's `plain` by giving both files to `--report`:

    python benchmarks/suite_grid.py --data-root DIR --model sidn --variants default --options max_seconds=15 --out sidn.json
    python benchmarks/suite_grid.py --report grid.json sidn.json
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

# name → (preset, options). "default-X" changes one thing of today's default; "plain+X" adds one thing
# of today's default to the textbook floor. Values are today's defaults' (see `aoi models --options`).
VARIANTS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "plain": ("plain", {}),
    "default": (None, {}),
    "default-intensity_norm": (None, {"intensity_norm": False}),
    "default-aggregation3": (None, {"aggregation": 3}),
    "default-feature_dim0": (None, {"feature_dim": 0}),
    "default-topk1": (None, {"score_topk": 1}),
    "default-score_map": (None, {"score_from": "map"}),
    "default-no_map_bank": (None, {"map_blocks": ()}),
    "default-wide0": (None, {"wide_sigma": 0.0}),
    "default-sigma4": (None, {"smoothing_sigma": 4.0}),
    "default-coreset4000": (None, {"coreset_size": 4000}),
    # cheaper banks: how far the arithmetic of a frame can shrink before a data set drops (#27 CPU speed)
    "default-coreset2000": (None, {"coreset_size": 2000}),
    "default-coreset1000": (None, {"coreset_size": 1000}),
    "default-coreset500": (None, {"coreset_size": 500}),
    "default-score_stride2": (None, {"score_stride": 2}),
    "default-score_stride3": (None, {"score_stride": 3}),
    "default-score_stride4": (None, {"score_stride": 4}),
    "default-map_coreset2000": (None, {"map_coreset_size": 2000}),
    "default-map_dim48": (None, {"map_feature_dim": 48}),
    "default-map_dim64": (None, {"map_feature_dim": 64}),
    "default-map_dim96": (None, {"map_feature_dim": 96}),
    "default-blocks4_10": (None, {"blocks": (4, 10)}),
    "default-all_patches": (None, {"max_patches": -1}),
    "plain+intensity_norm": ("plain", {"intensity_norm": True}),
    "plain+aggregation7": ("plain", {"aggregation": 7}),
    "plain+feature_dim128": ("plain", {"feature_dim": 128}),
    "plain+topk10": ("plain", {"score_from": "patches", "score_topk": 10}),
    "plain+patch_max": ("plain", {"score_from": "patches", "score_topk": 1}),
    "plain+map_bank": ("plain", {"blocks": (4, 10, 14), "map_blocks": (4, 10)}),
    "plain+wide32": ("plain", {"wide_sigma": 32.0}),
    "plain+sigma8": ("plain", {"smoothing_sigma": 8.0}),
    "plain+coreset8000": ("plain", {"coreset_size": 8000}),
    "plain+blocks4_10_14": ("plain", {"blocks": (4, 10, 14)}),
    "plain+subsample": ("plain", {"max_patches": 0}),
    # combinations of the one-change results that held on the suite
    "plain+map_bank+wide32": ("plain", {"blocks": (4, 10, 14), "map_blocks": (4, 10), "wide_sigma": 32.0}),
    "plain+map_bank+topk10": (
        "plain",
        {"blocks": (4, 10, 14), "map_blocks": (4, 10), "score_from": "patches", "score_topk": 10},
    ),
    "plain+map_bank+topk10+wide32": (
        "plain",
        {
            "blocks": (4, 10, 14),
            "map_blocks": (4, 10),
            "score_from": "patches",
            "score_topk": 10,
            "wide_sigma": 32.0,
        },
    ),
}
BASELINE = "plain"


def _configs(names: list[str], model: str, common: dict[str, Any]) -> list[Any]:
    from inspection_core.cli.suite_commands import make_config

    # another model's rows are labelled by its name, so one report can set them beside PatchCore's `plain`
    def label(n: str) -> str:
        return n if model == "patchcore" else (model if n == "default" else f"{model}:{n}")

    return [make_config(model, VARIANTS[n][0], {**common, **VARIANTS[n][1]}, None, label(n)) for n in names]


def run_grid(args: argparse.Namespace) -> int:
    from inspection_core.cli.suite_commands import (
        SuiteRun,
        find_datasets,
        parse_options,
        parse_shots,
        run_suite,
        select_datasets,
    )
    from inspection_core.runtime import resolve_device

    names = (
        list(VARIANTS) if not args.variants else [v.strip() for v in args.variants.split(",") if v.strip()]
    )
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f"suite_grid: unknown variant(s) {', '.join(unknown)} (see --list)")
    if BASELINE not in names and not args.variants:
        names.insert(0, BASELINE)  # the rule needs it (a split grid lists it in one of its parts)
    out = Path(args.out)
    doc: dict[str, Any] = {"rows": [], "parts": []}
    if out.exists():
        doc = json.loads(out.read_text())
    # a failed row is tried again; a measured one is kept
    kept = [r for r in doc["rows"] if "error" not in r]
    skip = {(r["dataset"], r["shots"], r["label"]) for r in kept}
    device = resolve_device(args.device)
    datasets = select_datasets(find_datasets(args.data_root), args.datasets)
    shots = parse_shots(args.shots)
    common = parse_options(args.model, args.options, [])
    configs = _configs(names, args.model, common)
    rows = list(kept)
    part = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S%z"),
        "variants": names,
        "shots": shots,
        "datasets": list(datasets),
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in common.items()},
    }

    def save(row: dict[str, Any] | None = None) -> None:
        if row is not None:
            rows.append(row)
        doc.update(
            {
                "model": args.model,
                "baseline": BASELINE,
                "rows": rows,
                "parts": [*doc.get("parts", [])[:n_parts], part],
            }
        )
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1, default=str))
        tmp.replace(out)

    n_parts = len(doc.get("parts", []))
    out.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.stop_after if args.stop_after else None
    run = SuiteRun(configs, datasets, shots, args.seed, device, skip=skip, on_row=save, deadline=deadline)
    t0 = time.perf_counter()
    run_suite(run)
    part["seconds"] = round(time.perf_counter() - t0, 1)
    part["complete"] = run.complete
    save()
    todo = len(datasets) * len(shots) * len(configs) - len(
        {(r["dataset"], r["shots"], r["label"]) for r in rows}
    )
    print(
        f"suite_grid: {len(rows)} rows in {out}; {'complete' if run.complete else f'{todo} to go: run again'}"
    )
    if not run.complete:
        return 3
    return 0


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _fmt(x: float | None, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:+.3f}" if sign else f"{x:.3f}"


def report(paths: list[str], markdown: bool) -> int:
    from inspection_core.cli.suite_commands import (
        MEAN_GAIN,
        PER_DATASET_TOLERANCE,
        _metric,
        _shots_key,
        rule_verdict,
    )

    docs = [json.loads(Path(p).read_text()) for p in paths]
    rows = [r for d in docs for r in d["rows"]]
    baseline = docs[0].get("baseline", BASELINE)
    path = ", ".join(paths)
    labels = list(dict.fromkeys(r["label"] for r in rows))
    shots_all = sorted({r["shots"] for r in rows}, key=_shots_key)
    datasets = sorted({r["dataset"] for r in rows})
    sep = " | " if markdown else "  "

    def line(cells: list[str]) -> str:
        if markdown:
            return "| " + " | ".join(cells) + " |"
        return sep.join([cells[0].ljust(24), *(c.rjust(9) for c in cells[1:])])

    print(
        f"Ablation vs {baseline} — rule: every data set ≥ {baseline} − {PER_DATASET_TOLERANCE} image and pixel "
        f"AUROC, suite mean image AUROC ≥ {baseline} + {MEAN_GAIN}, at shots {', '.join(map(str, shots_all))}"
    )
    devices = sorted({r.get("device", "?") for r in rows})
    print(f"device(s): {'; '.join(devices)}; rows: {len(rows)}; source: {path}\n")
    head = ["variant"]
    for s in shots_all:
        head += [f"{s}: img", "Δimg", "min Δimg", "min Δpix", "rule"]
    head.append("verdict")
    print(line(head))
    if markdown:
        print(line(["---"] * len(head)))
    for lb in labels:
        cells = [lb]
        ok_all = True
        for s in shots_all:
            ev = {r["dataset"]: r for r in rows if r["label"] == lb and r["shots"] == s}
            bl = {r["dataset"]: r for r in rows if r["label"] == baseline and r["shots"] == s}
            imgs = [_metric(r, "image_auroc") for r in ev.values()]
            di = [
                _metric(ev.get(d), "image_auroc") - _metric(b, "image_auroc")  # type: ignore[operator]
                for d, b in bl.items()
                if _metric(ev.get(d), "image_auroc") is not None and _metric(b, "image_auroc") is not None
            ]
            dp = [
                _metric(ev.get(d), "pixel_auroc") - _metric(b, "pixel_auroc")  # type: ignore[operator]
                for d, b in bl.items()
                if _metric(ev.get(d), "pixel_auroc") is not None and _metric(b, "pixel_auroc") is not None
            ]
            if lb == baseline:
                verdict = "base"
            else:
                v = rule_verdict(rows, lb, baseline, s)
                verdict = "pass" if v["pass"] else "FAIL"
                ok_all = ok_all and v["pass"]
            n_err = sum("error" in r for r in ev.values())
            cells += [
                _fmt(_mean([x for x in imgs if x is not None])) + (f" ({n_err} failed)" if n_err else ""),
                _fmt(_mean(di), sign=True),
                _fmt(min(di) if di else None, sign=True),
                _fmt(min(dp) if dp else None, sign=True),
                verdict,
            ]
        cells.append("baseline" if lb == baseline else ("KEEP" if ok_all else "drop"))
        print(line(cells))
    for s in shots_all:
        for metric in ("image_auroc", "pixel_auroc"):
            print(f"\n{metric.replace('_', ' ')} per data set, shots {s}")
            short = [d.split("/")[-1] for d in datasets]
            print(line(["variant", *short, "mean"]))
            if markdown:
                print(line(["---"] * (len(short) + 2)))
            for lb in labels:
                by = {r["dataset"]: r for r in rows if r["label"] == lb and r["shots"] == s}
                vals = [_metric(by.get(d), metric) for d in datasets]
                cells = [
                    lb,
                    *[
                        ("err" if d in by and "error" in by[d] else _fmt(v))
                        for d, v in zip(datasets, vals, strict=True)
                    ],
                ]
                cells.append(_fmt(_mean([v for v in vals if v is not None])))
                print(line(cells))
    errors = [r for r in rows if "error" in r]
    if errors:
        print(f"\n{len(errors)} failed row(s):")
        for r in errors:
            print(f"  {r['label']} {r['dataset']} shots={r['shots']}: {r['error']}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", help="folder of MVTec-layout data sets (the development suite)")
    ap.add_argument("--out", help="grid JSON (continued if it exists)")
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--model", default="patchcore", help="registered model (other than patchcore: --variants default)"
    )
    ap.add_argument("--shots", default="16,all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--datasets", default=None, help="comma list (default: every data set under the root)")
    ap.add_argument(
        "--variants", default=None, help="comma list of variant names (default: all; plain always)"
    )
    ap.add_argument(
        "--options",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="options for every variant (e.g. image_size=64 for a smoke run); a variant's own win",
    )
    ap.add_argument(
        "--stop-after", type=float, default=0.0, help="start no new row after SECONDS (exit 3: rerun)"
    )
    ap.add_argument(
        "--report",
        nargs="+",
        default=None,
        metavar="JSON",
        help="print the ablation table of grid JSON files (e.g. PatchCore's grid beside other models' runs)",
    )
    ap.add_argument("--markdown", action="store_true", help="--report as markdown tables")
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads of this process (0 = torch's default); set it when several grids share a machine",
    )
    ap.add_argument("--list", action="store_true", help="list the variants")
    args = ap.parse_args()
    if hasattr(signal, "SIGPIPE"):  # `--report … | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if args.list:
        for name, (preset, opts) in VARIANTS.items():
            print(f"{name:<24} preset={preset or '-':<6} {opts}")
        return 0
    if args.report:
        return report(args.report, args.markdown)
    if not args.data_root or not args.out:
        ap.error("--data-root and --out are needed to run the grid (or --report JSON / --list)")
    from inspection_core.errors import AoiError

    if args.threads > 0:
        import cv2
        import torch

        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    try:
        return run_grid(args)
    except AoiError as exc:
        print(f"suite_grid: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
