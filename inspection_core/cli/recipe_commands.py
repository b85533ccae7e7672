"""`aoi calibrate` and `aoi recipe list | show | export | import | restore`."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from inspection_core.errors import AoiError


def _add_store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--recipes-dir",
        default=None,
        help="recipe store folder (default: $AOI_RECIPES_DIR, else <station home>/recipes; "
        "the station home is $AOI_STATION_HOME or the per-user data folder)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="suggest image and pixel thresholds from a labelled folder",
        description="Run the model over a labelled folder, suggest thresholds (normalised units, 0.5 = the "
        "training calibration) and print the confusion matrix they give. --write stores them in the recipe "
        "given by --recipe (created for --model-dir if it does not exist), keeping the old values in its "
        "history: a recipe is the one home of inspection settings, which `aoi predict --recipe` and the "
        "station read.",
    )
    p.add_argument("--model-dir", default=None, help="model folder (or take the model from --recipe)")
    p.add_argument("--recipe", default=None, help="recipe to read settings from and to --write into")
    p.add_argument(
        "--data", required=True, help="MVTec-layout folder, folder with good/ + <defect>/, or good folder"
    )
    p.add_argument(
        "--defective", default=None, help="folder of defective images (then --data holds good ones)"
    )
    p.add_argument(
        "--masks", default=None, help="mask folder for --defective (<stem>_mask.png or <stem>.png)"
    )
    p.add_argument(
        "--strategy",
        default="f1",
        help="f1 | max-false-reject=0.01 | min-recall=0.99 | good-only[=RATE] (default f1)",
    )
    p.add_argument(
        "--margin", type=float, default=0.1, help="good-only margin, as a fraction of the good spread"
    )
    p.add_argument(
        "--write", action="store_true", help="store the suggested thresholds (old ones kept in history)"
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    p.add_argument("--batch", type=int, default=16, help="images per inference batch")
    p.add_argument(
        "--backend",
        default="auto",
        help="what runs the model: torch, onnxruntime, openvino (where installed) or auto (onnxruntime on "
        "a CPU where the model exports); --write records it in the recipe",
    )
    p.add_argument("--json", default=None, help="also write the suggestion and metrics to this JSON file")
    _add_store_arg(p)
    p.set_defaults(func=cmd_calibrate)

    rp = sub.add_parser("recipe", help="product recipes: list, show, export, import, restore thresholds")
    rsub = rp.add_subparsers(dest="recipe_command", required=True, metavar="ACTION")
    q = rsub.add_parser("list", help="list recipes with their latest version")
    _add_store_arg(q)
    q.set_defaults(func=cmd_recipe_list)
    q = rsub.add_parser("show", help="print a recipe (latest or --version N) as JSON")
    q.add_argument("name", help="recipe (product) name")
    q.add_argument("--version", type=int, default=None, help="version number (default: the latest)")
    _add_store_arg(q)
    q.set_defaults(func=cmd_recipe_show)
    q = rsub.add_parser("export", help="write a recipe and its model as one archive file")
    q.add_argument("name", help="recipe (product) name")
    q.add_argument("file", help="archive file to write")
    q.add_argument("--version", type=int, default=None, help="version number (default: the latest)")
    _add_store_arg(q)
    q.set_defaults(func=cmd_recipe_export)
    q = rsub.add_parser("import", help="add a recipe archive to the store (as a new version)")
    q.add_argument("file", help="archive file written by `aoi recipe export`")
    q.add_argument("--name", default=None, help="store it under another product name")
    _add_store_arg(q)
    q.set_defaults(func=cmd_recipe_import)
    q = rsub.add_parser("restore", help="restore thresholds from the history (saved as a new version)")
    q.add_argument("name", help="recipe (product) name")
    q.add_argument("--entry", type=int, default=-1, help="history entry (default -1: before the last change)")
    _add_store_arg(q)
    q.set_defaults(func=cmd_recipe_restore)


def _store(args: argparse.Namespace):  # noqa: ANN202 - RecipeStore
    import os

    from inspection_core.recipes import RecipeStore
    from inspection_core.recipes.store import ENV_DIR
    from inspection_core.runtime.home import ensure_station_home

    if args.recipes_dir is None and not os.environ.get(ENV_DIR):
        ensure_station_home()  # a read-only or uncreatable home: one clear line now, not mid-save
    return RecipeStore(args.recipes_dir)


def _weights_digest(model_dir: Path) -> str:
    from inspection_core.models.bundle import WEIGHTS

    try:
        return hashlib.sha256((model_dir / WEIGHTS).read_bytes()).hexdigest()
    except OSError:
        return ""


def _fmt(x: float) -> str:
    return "n/a" if x != x else f"{x:.4f}"


def cmd_calibrate(args: argparse.Namespace) -> int:
    from inspection_core.calibration import Strategy, ValidationRun, labelled_samples
    from inspection_core.cli.progress import ProgressBar
    from inspection_core.inspector import Inspector
    from inspection_core.models import load_bundle
    from inspection_core.recipes import Recipe, creation_info
    from inspection_core.runtime import FitContext, resolve_device

    strategy = Strategy.parse(args.strategy)  # fail before any slow work
    if not args.model_dir and not args.recipe:
        raise AoiError("give --model-dir, --recipe, or both")
    if args.write and not args.recipe:
        raise AoiError(
            "--write stores thresholds in a recipe: add --recipe NAME (created for this model if missing)"
        )
    store = _store(args) if args.recipe else None
    recipe = store.load(args.recipe) if store is not None and store.exists(args.recipe) else None
    device = resolve_device(args.device)
    if args.model_dir:
        model_dir = Path(args.model_dir)
        if recipe is not None and _weights_digest(model_dir) != _weights_digest(recipe.model_path):
            raise AoiError(
                f"recipe {args.recipe!r} uses another model than {model_dir}; calibrate it without "
                f"--model-dir, or make it use this model with `aoi train ... --recipe {args.recipe}`"
            )
        from inspection_core.training.fit import calibrated_preprocessing

        bundle = load_bundle(model_dir, device)
        if recipe is not None:
            inspector = Inspector(bundle, recipe.postprocess, recipe.preprocessing, backend=args.backend)
        else:  # thresholds 0.5 = its calibration, frames cut as it was calibrated
            inspector = Inspector(
                bundle, preprocessing=calibrated_preprocessing(bundle), backend=args.backend
            )
    else:
        if recipe is None:
            raise AoiError(f"no recipe named {args.recipe!r}; give --model-dir to create it")
        model_dir = recipe.model_path
        inspector = recipe.build_inspector(device, args.backend)
    samples = labelled_samples(args.data, args.defective, args.masks)
    bar = ProgressBar()
    run = ValidationRun.run(
        inspector, samples, FitContext(device=device, progress=bar), batch_size=args.batch
    )
    bar.close()
    img = run.suggest(strategy, margin=args.margin)
    pix = run.suggest_pixel(margin=args.margin)
    current = inspector.settings
    pm = run.pixel_metrics()
    roc_auc = run.roc().auroc if run.n_good and run.n_defective else float("nan")
    norm = run.normalization
    print(f"model            {run.model_name} ({model_dir})")
    masks = "yes" if run.has_masks else "no"
    print(
        f"data             {len(run.items)} images: {run.n_good} good, "
        f"{run.n_defective} defective, masks {masks}"
    )
    print(
        f"image AUROC      {_fmt(roc_auc)}   pixel AUROC {_fmt(pm['pixel_auroc'])}   "
        f"AUPRO@0.3 {_fmt(pm['aupro'])}"
    )
    print(f"strategy         {img.strategy}: {img.note}")
    print(
        f"image threshold  {img.threshold:.4f}  (raw {norm.raw_score(img.threshold):.5g}; "
        f"current {current.image_threshold:.4f})"
    )
    print(f"pixel threshold  {pix.threshold:.4f}  ({pix.note}; current {current.pixel_threshold:.4f})")
    c = img.confusion
    print(f"confusion matrix at image threshold {img.threshold:.4f}:")
    print(c.table())
    print(f"false-reject rate {_fmt(c.false_reject_rate)}   recall {_fmt(c.recall)}   F1 {_fmt(c.f1)}")
    cur = run.confusion(current.image_threshold)
    print(
        f"(at the current image threshold {current.image_threshold:.4f}: "
        f"{cur.fp} false rejects, {cur.fn} false accepts)"
    )
    tm = run.timings
    print(
        f"time             {tm['total_s']:.2f}s for {len(run.items)} images: read {tm['read_s']:.2f}s, "
        f"inference {tm['inference_s']:.2f}s, caching {tm['cache_s']:.2f}s ({inspector.device})"
    )
    for w in img.warnings + pix.warnings:
        print(f"warning: {w}", file=sys.stderr)
    note = f"aoi calibrate --strategy {img.strategy} on {Path(args.data).name}"
    written: dict[str, Any] = {}
    if args.write and store is not None:  # --write always has a store (checked above)
        base = recipe or Recipe(
            name=args.recipe,
            model_dir=str(model_dir.resolve()),
            created=creation_info("aoi calibrate"),
            preprocessing=inspector.preprocessing,
        )
        validated = base.apply_thresholds(img.threshold, pix.threshold, note=note)
        saved = store.save(validated.with_(backend=inspector.backend))  # what these thresholds were seen on
        written = {"recipe": saved.name, "version": saved.version}
        print(f"written to recipe {saved.name!r} version {saved.version} (old values kept in its history)")
    if args.json:
        out = {
            "command": " ".join(["aoi", *sys.argv[1:]]),
            "date": time.strftime("%Y-%m-%d %H:%M:%S%z"),
            "image": img.to_dict(),
            "pixel": pix.to_dict(),
            "summary": run.summary(img.threshold),
            "written": written,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2, default=float))
    return 0


def cmd_recipe_list(args: argparse.Namespace) -> int:
    store = _store(args)
    rows = store.list()
    if not rows:
        print(f"no recipes in {store.root}")
        return 0
    print(f"{'name':<24}{'version':>8}{'versions':>10}  {'model':<12}saved")
    for r in rows:
        print(f"{r.name:<24}{r.latest_version:>8}{r.n_versions:>10}  {r.model:<12}{r.saved_at}")
    return 0


def cmd_recipe_show(args: argparse.Namespace) -> int:
    r = _store(args).load(args.name, args.version)
    d = r.to_dict()
    d["model_path"] = str(r.model_path)
    d["versions"] = _store(args).versions(args.name)
    print(json.dumps(d, indent=2))
    return 0


def cmd_recipe_export(args: argparse.Namespace) -> int:
    out = _store(args).export(args.name, args.file, args.version)
    print(f"exported {args.name!r} to {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_recipe_import(args: argparse.Namespace) -> int:
    r = _store(args).import_(args.file, args.name)
    print(f"imported {r.name!r} as version {r.version}")
    return 0


def cmd_recipe_restore(args: argparse.Namespace) -> int:
    store = _store(args)
    r = store.save(store.load(args.name).restore_thresholds(args.entry))
    pp = r.postprocess
    print(
        f"recipe {r.name!r} version {r.version}: image threshold {pp.image_threshold:.4f}, "
        f"pixel threshold {pp.pixel_threshold:.4f}, min area {pp.min_defect_area}"
    )
    return 0


def recipe_after_train(
    recipe: str, model_dir: str | Path, recipes_dir: str | None = None, preprocessing: Any = None
) -> None:
    """Hook for `aoi train --recipe NAME`: create or update the recipe to use the new model (inspected
    with `preprocessing`, the mode it was calibrated in)."""
    from inspection_core.recipes import RecipeStore, recipe_after_training

    r = recipe_after_training(
        RecipeStore(recipes_dir), recipe, model_dir, source="aoi train", preprocessing=preprocessing
    )
    print(f"recipe {r.name!r} version {r.version} uses this model")
