"""`aoi models | train | eval | predict | bench | export`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from inspection_core.errors import AoiError, DataError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the registered models")
    p.add_argument("--options", action="store_true", help="also list each model's options and defaults")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser(
        "train",
        help="fit a model on good images",
        description="Fit a model on good images. Model options are given as --option-name VALUE "
        "(see `aoi models --options`).",
    )
    p.add_argument("--model", default=None, help="registered model name (default: patchcore)")
    p.add_argument(
        "--preset",
        default=None,
        help="a named option set of the model, e.g. plain (see `aoi models --options`)",
    )
    p.add_argument(
        "--data", required=True, help="MVTec-layout folder (train/good) or a folder of good images"
    )
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    p.add_argument("--image-size", default=None, help="N or HxW model input size")
    p.add_argument(
        "--holdout",
        type=float,
        default=None,
        help="fraction of good images kept to calibrate thresholds (default: the preset's, else the fit "
        "path's: cross-fitting for fast models)",
    )
    p.add_argument(
        "--tile",
        action="store_true",
        help="fit and calibrate on native-resolution tiles, as `aoi predict --tile` and a tiled recipe "
        "inspect (large frames, small defects)",
    )
    p.add_argument("--tile-size", default=None, help="with --tile: N or WxH tile size (the model input size)")
    p.add_argument(
        "--overlap", type=float, default=None, help="with --tile: tile overlap fraction (default 0.25)"
    )
    p.add_argument(
        "--whole-frame",
        action="store_true",
        help="with --tile: inspect (and calibrate) large frames in one fully convolutional pass (patchcore)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed for sampling and training (default 0)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    p.add_argument("--recipe", default=None, help="create or update this product recipe to use the new model")
    p.add_argument(
        "--recipes-dir",
        default=None,
        help="recipe store folder (default: $AOI_RECIPES_DIR, else <station home>/recipes)",
    )
    p.add_argument(
        "--init-from",
        default=None,
        help="continue training this saved model (same model and architecture; optimiser and learning-rate "
        "schedule start afresh), a warm restart",
    )
    p.add_argument(
        "--stop-after",
        type=float,
        default=0.0,
        help="end this run after SECONDS of training and save; the schedule's position is kept, so "
        "`--resume` continues it (models that can pause: ndpnet)",
    )
    p.add_argument(
        "--resume",
        default=None,
        help="continue the schedule of this saved model that ended early on --stop-after (same data, "
        "its own options, its phase, steps, time box and learning rate)",
    )
    p.set_defaults(func=cmd_train, accepts_extra=True)

    p = sub.add_parser("eval", help="evaluate a model on a labelled MVTec-layout folder")
    p.add_argument("--model-dir", default=None, help="model folder written by `aoi train`")
    p.add_argument(
        "--recipe",
        default=None,
        help="evaluate this recipe's model and count the verdicts at its image threshold (what `aoi "
        "calibrate --write` wrote)",
    )
    p.add_argument(
        "--recipes-dir",
        default=None,
        help="recipe store folder (default: $AOI_RECIPES_DIR, else <station home>/recipes)",
    )
    p.add_argument(
        "--data", required=True, help="MVTec-layout folder with test/good, test/<defect> and ground_truth/"
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    p.add_argument("--json", default=None, help="write the metrics to this JSON file")
    p.add_argument("--no-pixel", action="store_true", help="skip pixel metrics")
    p.add_argument(
        "--backend",
        default="auto",
        help="what runs the model: torch, onnxruntime (CPU; exports model.onnx beside the model when "
        "missing or stale), openvino (CPU, where installed; model.openvino.xml/.bin likewise) or auto "
        "(onnxruntime on a CPU where the model exports, else torch)",
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("predict", help="inspect images: overlay PNG, mask PNG and defects JSON for each")
    p.add_argument(
        "--model-dir",
        default=None,
        help="model folder: thresholds 0.5 (its calibration), frames cut as it was calibrated",
    )
    p.add_argument(
        "--recipe",
        default=None,
        help="inspect with this recipe's model, thresholds, ROI and preprocessing (what `aoi calibrate "
        "--write` wrote)",
    )
    p.add_argument(
        "--recipes-dir",
        default=None,
        help="recipe store folder (default: $AOI_RECIPES_DIR, else <station home>/recipes)",
    )
    p.add_argument("images", nargs="+", help="image files to inspect")
    p.add_argument(
        "--out", required=True, help="folder for <stem>_overlay.png, <stem>_mask.png and the defects JSON"
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    p.add_argument("--tile", action="store_true", help="inspect large images as native-resolution tiles")
    p.add_argument(
        "--whole-frame",
        action="store_true",
        help="with --tile: one fully convolutional pass over the whole image instead of tiles (PatchCore)",
    )
    p.add_argument(
        "--backend",
        default="auto",
        help="what runs the model: torch, onnxruntime (CPU; exports model.onnx beside the model when "
        "missing or stale), openvino (CPU, where installed; model.openvino.xml/.bin likewise) or auto "
        "(onnxruntime on a CPU where the model exports, else torch)",
    )
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("bench", help="latency and throughput of a model (and tiled full frames)")
    p.add_argument("--model-dir", required=True, help="model folder written by `aoi train`")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    p.add_argument("--sizes", default="256,2448x2048", help="comma list of N or WxH frame sizes")
    p.add_argument("--batch", default="1,32", help="comma list of batch sizes for the model-input size")
    p.add_argument(
        "--iters",
        type=int,
        default=50,
        help="timed runs per case (tiled frames: a fifth, at least 5; default 50)",
    )
    p.add_argument(
        "--frames-from",
        default=None,
        help="also time frames tiled from these good images (an MVTec folder's train/good, or any image "
        "folder): a frame the model sees as good, whose post-processing is typical",
    )
    p.add_argument(
        "--overlap", type=float, default=0.25, help="tile overlap for frames larger than the model input"
    )
    p.add_argument(
        "--whole-frame",
        action="store_true",
        help="frames larger than the model input in one fully convolutional pass instead of tiles (PatchCore)",
    )
    p.add_argument("--json", default=None, help="also write the timings to this JSON file")
    p.add_argument(
        "--backend",
        default="auto",
        help="comma list of backends timed side by side in one run: torch, onnxruntime, openvino, auto "
        "(default)",
    )
    p.add_argument(
        "--same-process",
        action="store_true",
        help="time several backends in this process instead of one child process each (their thread "
        "pools then share the cores: on the 2-core CPU ONNX Runtime timed after torch ran 40 %% slower)",
    )
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "export",
        help="export a model's predict path (map + score, normalisation in its metadata) to ONNX or "
        "OpenVINO IR",
    )
    p.add_argument("--model-dir", required=True, help="model folder written by `aoi train`")
    p.add_argument(
        "--format",
        default="onnx",
        help="onnx, or openvino (IR .xml + .bin converted from the ONNX export; needs the openvino package)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="file to write (default: model.onnx, or model.openvino.xml and .bin, in the model folder: what "
        "the onnxruntime / openvino backend uses)",
    )
    p.add_argument(
        "--image-size",
        default=None,
        help="N or WxH input size (default the model's; other sizes: PatchCore only)",
    )
    p.add_argument(
        "--batch",
        default="auto",
        help="a fixed batch size, dynamic, or auto (default: dynamic; 1 for SCL-VI, whose trace bakes it in)",
    )
    p.set_defaults(func=cmd_export)


def parse_size(text: str) -> tuple[int, int]:
    """'256' → (256, 256); 'WxH' → (H, W)."""
    t = text.lower().strip()
    try:
        if "x" in t:
            w, h = t.split("x")
            return int(h), int(w)
        return int(t), int(t)
    except ValueError:
        raise AoiError(f"bad size {text!r}: use N or WIDTHxHEIGHT") from None


def parse_model_options(model: str, extra: list[str]) -> dict[str, Any]:
    """Turn ['--coreset-size', '4000', '--epochs=3'] into {'coreset_size': 4000, 'epochs': 3}."""
    from inspection_core.models import get_model_info
    from inspection_core.models.base import coerce_option

    info = get_model_info(model)
    defaults = {f.name: f.default for f in dataclasses.fields(info.cls.Config)}
    cfg = info.cls.Config()
    opts: dict[str, Any] = {}
    i = 0
    while i < len(extra):
        tok = extra[i]
        if not tok.startswith("--"):
            raise AoiError(f"unexpected argument {tok!r}")
        key, eq, val = tok[2:].partition("=")
        name = key.replace("-", "_")
        if name not in defaults:
            known = ", ".join("--" + k.replace("_", "-") for k in defaults)
            raise AoiError(f"model {model!r} has no option --{key}; options: {known}")
        if not eq:  # "--opt VALUE" (with "--opt=" an empty value is allowed, e.g. an empty list)
            i += 1
            if i >= len(extra):
                raise AoiError(f"--{key} needs a value")
            val = extra[i]
        try:
            opts[name] = coerce_option(val, getattr(cfg, name))
        except ValueError:
            raise AoiError(f"bad value for --{key}: {val!r}") from None
        i += 1
    return opts


def cmd_models(args: argparse.Namespace) -> int:
    from inspection_core.models import list_models

    for m in list_models():
        tag = " (fast)" if m.fast else ""
        print(f"{m.name:<12}{m.summary}{tag}")
        if args.options:
            for name, default, help_ in m.options:
                print(f"    --{name.replace('_', '-'):<22} {default!s:<14} {help_}")
            for pname, preset in m.presets.items():
                opts = " ".join(
                    f"--{k.replace('_', '-')}=" + (",".join(map(str, v)) if isinstance(v, tuple) else str(v))
                    for k, v in preset.options.items()
                )
                print(f"    preset {pname}: {preset.summary}\n        {opts}")
    return 0


def train_preprocessing(args: argparse.Namespace, opts: dict[str, Any]) -> Any:
    """The Preprocessing `aoi train` fits and calibrates in (--tile-size becomes the model input size)."""
    from inspection_core.inspector import Preprocessing

    if not args.tile:
        if args.tile_size or args.whole_frame or args.overlap is not None:
            raise AoiError("--tile-size, --overlap and --whole-frame need --tile")
        return Preprocessing()
    if args.tile_size:
        if args.image_size:
            raise AoiError("give --tile-size or --image-size, not both (the tile is the model input)")
        opts["image_size"] = parse_size(args.tile_size)
    try:
        return Preprocessing(
            tile=True, overlap=0.25 if args.overlap is None else args.overlap, whole_frame=args.whole_frame
        )
    except ValueError as exc:
        raise AoiError(f"bad tiling: {exc}") from None


def calibration_line(facts: Any) -> str:
    """One line on how thresholds were calibrated and whether the good images were enough."""
    mode = facts.preprocessing.mode(True) if facts.preprocessing.tile else "resized"
    return f"calibrated by {facts.method} on {facts.n_scored} good images ({mode} frames): {facts.advice()}"


def cmd_train(args: argparse.Namespace) -> int:
    from inspection_core.cli.progress import ProgressBar
    from inspection_core.data import MVTecDataset
    from inspection_core.models import get_model_info, load_bundle
    from inspection_core.models.bundle import check_output_folder
    from inspection_core.runtime import FitContext, resolve_device
    from inspection_core.runtime.context import device_label
    from inspection_core.training.fit import fit_calibrate

    check_output_folder(args.out)  # refused now, not after the training: --out never destroys a folder
    if args.resume and args.init_from:
        raise AoiError("--resume continues a schedule, --init-from starts a new one: give one of them")
    previous = load_bundle(args.resume or args.init_from, "cpu") if args.resume or args.init_from else None
    if args.resume:
        assert previous is not None
        if args.model not in (None, previous.model.name):
            raise AoiError(f"--resume: {args.resume} holds a {previous.model.name} model, not {args.model}")
        if args.extra or args.image_size or args.preset:
            raise AoiError("--resume keeps the saved model's options; give no model options")
        args.model = previous.model.name
    args.model = args.model or "patchcore"
    preset = get_model_info(args.model).preset(args.preset) if args.preset else None
    opts = {**(preset.options if preset else {}), **parse_model_options(args.model, args.extra)}
    if args.holdout is None and preset is not None:  # else None: the fit path's own choice
        args.holdout = preset.holdout
    if args.image_size:
        opts["image_size"] = parse_size(args.image_size)
    pre = train_preprocessing(args, opts)
    if args.stop_after < 0:
        raise AoiError("--stop-after must be >= 0 seconds")
    if args.stop_after and not get_model_info(args.model).cls.resumable:
        raise AoiError(f"--stop-after: {args.model} cannot pause and resume its training")
    ds = MVTecDataset(args.data)
    train = ds.require_train()
    if args.limit:
        train = train[: args.limit]
    device = resolve_device(args.device)
    bar = ProgressBar()
    ctx = FitContext(device=device, progress=bar, seed=args.seed)
    if args.stop_after:
        ctx.stop_at = time.monotonic() + args.stop_after
    print(f"training {args.model} on {len(train)} images ({device_label(device)})", file=sys.stderr)
    t0 = time.perf_counter()
    res = fit_calibrate(
        args.model,
        [s.path for s in train],
        ctx,
        opts,
        pre,
        holdout=args.holdout,
        info={
            "dataset": str(Path(args.data).resolve()),
            **({"preset": args.preset} if args.preset else {}),
            **({"init_from": str(Path(args.init_from).resolve())} if args.init_from else {}),
            **({"resumed_from": str(Path(args.resume).resolve())} if args.resume else {}),
        },
        init_from=previous,
        resume=bool(args.resume),
    )
    bar.close()
    bundle = res.bundle
    out = bundle.save(args.out)
    print(calibration_line(res.calibration))
    print(f"saved {out} in {time.perf_counter() - t0:.1f}s (fit {bundle.info['fit_seconds']:.1f}s)")
    if bundle.info.get("schedule_finished") is False:
        print(
            f"stopped before the end of its schedule (--stop-after); continue with: aoi train --resume {out} "
            f"--data {args.data} --out NEW_DIR"
        )
    if args.recipe:
        from inspection_core.cli.recipe_commands import recipe_after_train

        recipe_after_train(args.recipe, out, args.recipes_dir, res.preprocessing)
    return 0


def _fmt(x: float) -> str:
    return "  n/a" if x != x else f"{x:.4f}"


def cmd_eval(args: argparse.Namespace) -> int:
    from inspection_core.cli.progress import ProgressBar
    from inspection_core.data import MVTecDataset
    from inspection_core.metrics import evaluate_dataset
    from inspection_core.models import load_bundle
    from inspection_core.models.backends import with_backend
    from inspection_core.recipes import RecipeStore
    from inspection_core.runtime import FitContext, resolve_device

    if bool(args.model_dir) == bool(args.recipe):
        raise AoiError("give --model-dir or --recipe (one of them)")
    device = resolve_device(args.device)
    recipe = RecipeStore(args.recipes_dir).load(args.recipe) if args.recipe else None
    bundle = load_bundle(recipe.model_path if recipe else args.model_dir, device)
    bundle = with_backend(bundle, args.backend)
    samples, skipped = _readable_samples(MVTecDataset(args.data).require_test(), not args.no_pixel)
    if not samples:
        raise DataError(f"no readable test images in {args.data} ({len(skipped)} skipped)")
    bar = ProgressBar()
    rep = evaluate_dataset(
        bundle, samples, FitContext(device=device, progress=bar), pixel_metrics=not args.no_pixel
    )
    bar.close()
    print(f"model        {rep.model}")
    print(f"images       {rep.n_images} ({rep.n_defective} defective)")
    if skipped:
        print(f"skipped      {len(skipped)} unreadable (see the messages above)")
    print(f"image AUROC  {_fmt(rep.image_auroc)}")
    print(f"pixel AUROC  {_fmt(rep.pixel_auroc)}")
    print(f"AUPRO@0.3    {_fmt(rep.aupro)}")
    print(f"F1-max       {_fmt(rep.f1_max)}")
    print(f"ms/image     {rep.ms_per_image:.2f}  ({rep.device}, {bundle.backend})")
    for t, d in rep.per_type.items():
        print(f"  {t:<12} n={d['n']:<4} image AUROC {_fmt(d['image_auroc'])}")
    verdicts = _verdicts_at(recipe, bundle, rep) if recipe is not None else None
    if verdicts is not None:
        print(
            f"at {recipe.name} v{recipe.version}'s image threshold {verdicts['image_threshold']:.3f}: "
            f"{verdicts['false_rejects']} of {verdicts['good']} good rejected, "
            f"{verdicts['false_accepts']} of {verdicts['defective']} defective passed"
        )
    if args.json:
        d = rep.to_dict()
        if verdicts is not None:
            d["recipe"] = {"name": recipe.name, "version": recipe.version, **verdicts}
        d["command"] = args.command_line
        d["date"] = time.strftime("%Y-%m-%d %H:%M:%S%z")
        d["data"] = str(Path(args.data).resolve())
        d["skipped"] = skipped
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(d, indent=2, default=float))
    return 2 if skipped else 0


def _verdicts_at(recipe: Any, bundle: Any, rep: Any) -> dict[str, Any]:
    """Image verdicts at the recipe's threshold (normalised units, as live inspection compares them).
    The image score alone: a recipe's min-area and ROI rules need the full inspection (`aoi predict`)."""
    t = float(recipe.postprocess.image_threshold)
    import numpy as np

    ng = np.asarray(bundle.normalization.score(np.asarray(rep.scores, np.float64))) >= t  # as live
    bad = np.asarray(rep.labels, bool)
    return {
        "image_threshold": t,
        "good": int((~bad).sum()),
        "defective": int(bad.sum()),
        "false_rejects": int((ng & ~bad).sum()),
        "false_accepts": int((~ng & bad).sum()),
    }


def _readable_samples(samples: list, with_masks: bool) -> tuple[list, list[str]]:
    """The test samples whose image (and mask) can be read, and the paths of those that cannot, each
    reported on stderr: one corrupt file must not end an evaluation. Reads every image once more than
    the evaluation itself; an offline evaluation can afford that."""
    ok, skipped = [], []
    for smp in samples:
        try:
            img = smp.load()
            if with_masks and smp.label and smp.mask_path is not None:
                smp.load_mask(img.shape[:2])
        except DataError as exc:
            print(f"aoi: skipped {smp.path}: {exc}", file=sys.stderr)
            skipped.append(str(smp.path))
            continue
        ok.append(smp)
    return ok, skipped


def predict_inspector(args: argparse.Namespace) -> Any:
    """`aoi predict`'s Inspector: a recipe's (its thresholds, ROI, preprocessing), or a model folder's in
    the mode it was calibrated in; --tile / --whole-frame override the preprocessing."""
    from inspection_core.inspector import Inspector, Preprocessing
    from inspection_core.models import load_bundle
    from inspection_core.recipes import RecipeStore
    from inspection_core.runtime import resolve_device
    from inspection_core.training.fit import calibrated_preprocessing

    if bool(args.model_dir) == bool(args.recipe):
        raise AoiError("give --model-dir or --recipe (one of them)")
    device = resolve_device(args.device)
    if args.recipe:
        insp = RecipeStore(args.recipes_dir).load(args.recipe).build_inspector(device, args.backend)
    else:
        bundle = load_bundle(args.model_dir, device)
        insp = Inspector(bundle, preprocessing=calibrated_preprocessing(bundle), backend=args.backend)
    if args.tile or args.whole_frame:
        pre = insp.preprocessing
        pre = Preprocessing(tile=True, overlap=pre.overlap, scale=pre.scale, whole_frame=args.whole_frame)
        insp = Inspector(insp.bundle, insp.settings, pre)
    return insp


def cmd_predict(args: argparse.Namespace) -> int:
    from inspection_core.data import imread, imwrite
    from inspection_core.render import render_overlay
    from inspection_core.training.fit import calibrated_preprocessing

    insp = predict_inspector(args)
    bundle, pre = insp.bundle, insp.preprocessing
    any_size = bundle.model.any_size
    calibrated = calibrated_preprocessing(bundle).mode(any_size)
    if calibrated != pre.mode(any_size):
        print(
            f"aoi: warning: this model's thresholds were calibrated on {calibrated} frames and this run "
            f"inspects {pre.mode(any_size)} frames: scores and verdicts may be off (use the matching "
            "--tile / --whole-frame, or train the product in the mode it will be inspected in)",
            file=sys.stderr,
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n = len(args.images)
    skipped = alarms = 0
    for i, path in enumerate(args.images):
        try:  # one bad image (unreadable, too small, too large) is skipped; the batch goes on
            img = imread(path)
            res = insp.inspect(img)
        except DataError as exc:
            print(f"aoi: skipped {path}: {exc}", file=sys.stderr)
            skipped += 1
            continue
        stem = Path(path).stem
        imwrite(out / f"{stem}_overlay.png", render_overlay(img, res))
        imwrite(out / f"{stem}_mask.png", res.mask)
        used = {
            "image_threshold": insp.settings.image_threshold,
            "pixel_threshold": insp.settings.pixel_threshold,
        }
        (out / f"{stem}.json").write_text(json.dumps({"image": str(path), **res.summary(), **used}, indent=2))
        alarm = f" ALARM: {res.alarm}" if res.alarm else ""
        alarms += bool(res.alarm)
        print(f"{i + 1}/{n} {path}: {res.verdict} score {res.score:.3f} defects {len(res.defects)}{alarm}")
    print(
        f"{n - skipped} of {n} images inspected"
        + (f", {skipped} skipped (see the messages above)" if skipped else "")
        + (f", {alarms} with an alarm" if alarms else "")
    )
    return 2 if skipped or alarms else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from inspection_core.bench import bench_model
    from inspection_core.models import load_bundle
    from inspection_core.runtime import resolve_device

    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    batches = [int(b) for b in args.batch.split(",") if b]
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    if len(backends) > 1 and not args.same_process:
        report = _bench_each_in_child(args, backends)
    else:
        bundle = load_bundle(args.model_dir, resolve_device(args.device))
        good = None
        if args.frames_from:
            from inspection_core.data import imread
            from inspection_core.data.dataset import MVTecDataset

            samples = MVTecDataset(args.frames_from).require_train()
            good = [imread(s.path) for s in samples[:200]]
        report = bench_model(
            bundle,
            sizes,
            batches,
            args.iters,
            good_images=good,
            overlap=args.overlap,
            whole_frame=args.whole_frame,
            backends=backends,
        )
    if args.frames_from:
        report["frames_from"] = str(args.frames_from)
    report["command"] = args.command_line
    for row in report["results"]:
        print(
            f"{row['label']:<64} median {row['median_ms']:8.2f} ms  p95 {row['p95_ms']:8.2f} ms  "
            f"{row['images_per_s']:9.1f} img/s"
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def aoi_command() -> list[str]:
    """How to start `aoi` again in a child process: a bundle's `aoi` executable is sys.executable itself
    and takes no `-m` (it would read `-m inspection_core` as its own arguments)."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "inspection_core"]


def _bench_each_in_child(args: argparse.Namespace, backends: list[str]) -> dict:
    """One `aoi bench` child process per backend, rows merged in order: side by side in one run, but
    no backend timed while another's thread pool still holds the cores (the first report's header)."""
    import subprocess
    import tempfile

    merged: dict | None = None
    with tempfile.TemporaryDirectory(prefix="aoi-bench-") as tmp:
        for i, name in enumerate(backends):
            out = Path(tmp) / f"{i}.json"
            cmd = [*aoi_command(), "bench", "--model-dir", str(args.model_dir)]
            cmd += ["--device", args.device, "--sizes", args.sizes, "--batch", args.batch]
            cmd += ["--iters", str(args.iters), "--overlap", str(args.overlap), "--backend", name]
            cmd += ["--json", str(out)] + (["--whole-frame"] if args.whole_frame else [])
            cmd += ["--frames-from", str(args.frames_from)] if args.frames_from else []
            done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if done.returncode != 0 or not out.is_file():
                last = (done.stderr.strip().splitlines() or ["no message"])[-1]
                raise AoiError(f"bench of backend {name} failed: {last}")
            part = json.loads(out.read_text())
            if merged is None:
                merged = part
            else:
                merged["results"] += part["results"]
    assert merged is not None
    merged["backends"] = list(dict.fromkeys(r["backend"] for r in merged["results"]))
    merged["processes"] = "one per backend"
    return merged


def cmd_export(args: argparse.Namespace) -> int:
    from inspection_core.models import load_bundle
    from inspection_core.models.export import FORMATS, default_batch, export_onnx, onnx_path, source_digest

    fmt = args.format.lower()
    if fmt not in FORMATS:
        raise AoiError(f"unknown export format {args.format!r}; formats: {', '.join(FORMATS)}")
    if fmt == "openvino":
        try:
            import openvino  # noqa: F401
        except ImportError:
            raise AoiError(
                "--format openvino needs the openvino package (pip install openvino, or pip install "
                "'aoi-station[openvino]')"
            ) from None
    size = parse_size(args.image_size) if args.image_size else None
    bundle = load_bundle(args.model_dir, "cpu")
    choice = args.batch.lower()
    if choice == "auto":
        batch = default_batch(bundle.name)
    else:
        batch = None if choice == "dynamic" else _positive_int(args.batch, "--batch")
    example = "model.onnx" if fmt == "onnx" else "model.xml"
    if args.out:
        out = Path(args.out)
    elif fmt == "onnx":
        out = onnx_path(args.model_dir)
    else:
        from inspection_core.models.openvino_backend import openvino_paths

        out = openvino_paths(args.model_dir)[0]
    if out.is_dir():
        raise AoiError(f"--out {out} is a folder: give a file name such as {out / example}")
    if fmt == "openvino" and out.suffix.lower() != ".xml":
        raise AoiError(f"--out {out}: an OpenVINO IR is an .xml file (its weights go beside it as .bin)")
    digest = source_digest(args.model_dir)
    if fmt == "onnx":
        export_onnx(bundle, out, image_size=size, batch=batch, digest=digest)
        size_mb, runtime, shown = out.stat().st_size >> 20, "ONNX Runtime", str(out)
    else:
        from inspection_core.models.openvino_backend import export_openvino

        export_openvino(bundle, out, image_size=size, batch=batch, digest=digest)
        size_mb, runtime = (out.stat().st_size + out.with_suffix(".bin").stat().st_size) >> 20, "OpenVINO"
        shown = f"{out} + {out.with_suffix('.bin').name}"
    h, w = size or bundle.model.image_size
    print(
        f"exported {bundle.name} to {shown} ({size_mb} MB, input {w}x{h}, batch {batch or 'dynamic'}; "
        f"{runtime} matches torch within its stated tolerance)"
    )
    return 0


def _positive_int(text: str, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise AoiError(f"{what} must be a positive whole number or dynamic, got {text!r}")
    return n
