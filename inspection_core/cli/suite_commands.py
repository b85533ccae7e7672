"""`aoi suite`: train and evaluate one configuration on every MVTec-layout folder under a root, at
several shot counts, next to a baseline preset (PatchCore's `plain`), and judge it by the suite rule.

A default is chosen on many surfaces at once and with few samples, never on one data set: this is the
command that measures it, for the project and for an engineer comparing settings on their own product
folders. Each data set's images are read and resized once and shared by every shot count and config.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inspection_core.errors import AoiError, DataError

# the suite rule (issue #23): on every data set the evaluated config keeps within this of the baseline's
# image and pixel AUROC, and its mean image AUROC beats the baseline's mean by at least MEAN_GAIN
PER_DATASET_TOLERANCE = 0.01
MEAN_GAIN = 0.02


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "suite",
        help="train + evaluate a model on every MVTec-layout folder under a root (shot counts, vs plain)",
        description="Train and evaluate a model on every MVTec-layout folder (train/good, test/*, optional "
        "ground_truth) under --data-root, at each shot count, next to a baseline preset; print one "
        "table and the suite rule's verdict. Model options as --options name=value ... or as the same "
        "--option-name VALUE flags as `aoi train`. With --table, print the table of saved JSON files.",
    )
    p.add_argument("--model", default="patchcore", help="registered model name (default: patchcore)")
    p.add_argument(
        "--preset", default=None, help="a named option set of the model (see `aoi models --options`)"
    )
    p.add_argument("--options", nargs="*", default=[], metavar="NAME=VALUE", help="model options")
    p.add_argument("--label", default=None, help="name of this configuration in tables and JSON")
    p.add_argument("--data-root", default=None, help="folder holding MVTec-layout data sets (searched below)")
    p.add_argument("--datasets", default=None, help="comma list of data set names to run (default: all)")
    p.add_argument("--shots", default="16,all", help="comma list of training-image counts, 'all' = every one")
    p.add_argument("--seed", type=int, default=0, help="seed of the shot permutation and of the fit")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument(
        "--holdout",
        type=float,
        default=None,
        help="share of good images kept from the fit to calibrate (default: the preset's, else the fit path's "
        "choice, as aoi train)",
    )
    p.add_argument(
        "--compare",
        default="plain",
        help="baseline preset run next to it (default plain; 'none' = no baseline)",
    )
    p.add_argument("--no-pixel", action="store_true", help="skip pixel metrics (faster)")
    p.add_argument("--json", default=None, help="write the rows to this JSON file")
    p.add_argument(
        "--table",
        nargs="+",
        default=None,
        metavar="JSON",
        help="print the tables of saved suite JSON files (side by side vs --compare) instead of running",
    )
    p.set_defaults(func=cmd_suite, accepts_extra=True)


# --- configuration -----------------------------------------------------------------------------


@dataclass
class SuiteConfig:
    """One configuration the suite runs: model, preset, explicit options, fit holdout."""

    label: str
    model: str
    preset: str | None
    options: dict[str, Any]  # explicit options (over the preset's)
    holdout: float | None  # None: the fit path's choice (cross-fitting for fast models)

    @property
    def resolved(self) -> dict[str, Any]:
        from inspection_core.models.registry import get_model_info

        base = dict(get_model_info(self.model).preset(self.preset).options) if self.preset else {}
        return {**base, **self.options}


def make_config(
    model: str,
    preset: str | None,
    options: dict[str, Any],
    holdout: float | None,
    label: str | None = None,
) -> SuiteConfig:
    from inspection_core.models.registry import create_model, get_model_info

    info = get_model_info(model)
    p = info.preset(preset) if preset else None
    if holdout is None and p is not None:
        holdout = p.holdout
    if holdout is not None and not 0 <= holdout < 1:
        raise AoiError("--holdout must lie in [0, 1)")
    if label is None:
        label = preset or "default"
        named = {k: v for k, v in options.items() if k != "image_size"}  # the input size is the data's
        if named:
            label += "+" + ",".join(f"{k}={_text(v)}" for k, v in named.items())
    cfg = SuiteConfig(label, model, preset, dict(options), None if holdout is None else float(holdout))
    create_model(model, **cfg.resolved)  # bad options fail here, before any data set is read
    return cfg


def baseline_config(spec: str, model: str, image_size: Any = None) -> SuiteConfig:
    """The baseline a suite runs beside the evaluated config: `PRESET` of the same model, or of
    PatchCore when the model declares no such preset (so every model is compared with PatchCore's
    `plain`), or an explicit `MODEL:PRESET`. It sees the same input size as the evaluated config."""
    from inspection_core.models.registry import get_model_info

    name, _, preset = spec.rpartition(":")
    if not name:
        name = model if preset in get_model_info(model).presets else "patchcore"
    get_model_info(name).preset(preset)  # a clear error for an unknown one
    opts = {"image_size": tuple(image_size)} if image_size else {}
    return make_config(name, preset, opts, None, preset if name in (model, "patchcore") else spec)


def _text(v: Any) -> str:
    return ",".join(str(x) for x in v) if isinstance(v, list | tuple) else str(v)


def parse_options(model: str, pairs: Sequence[str], extra: Sequence[str]) -> dict[str, Any]:
    """--options name=value … and `aoi train`-style --option-name VALUE flags, checked and typed."""
    from inspection_core.cli.model_commands import parse_model_options

    flags: list[str] = []
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise AoiError(f"--options takes NAME=VALUE, not {pair!r}")
        flags.append(f"--{name.strip().replace('_', '-')}={value}")
    opts = parse_model_options(model, [*flags, *extra])
    if len(opts.get("image_size", ())) == 1:  # --image-size 128 means 128 × 128, as in `aoi train`
        opts["image_size"] = (opts["image_size"][0],) * 2
    return opts


def parse_shots(text: str) -> list[int | str]:
    out: list[int | str] = []
    for tok in (t.strip().lower() for t in text.split(",")):
        if not tok:
            continue
        if tok == "all":
            out.append("all")
            continue
        try:
            k = int(tok)
        except ValueError:
            raise AoiError(f"--shots: {tok!r} is not a number or 'all'") from None
        if k < 1:
            raise AoiError("--shots: counts must be >= 1")
        out.append(k)
    if not out:
        raise AoiError("--shots: give at least one count")
    return list(dict.fromkeys(out))


# --- data sets ---------------------------------------------------------------------------------


def find_datasets(root: str | os.PathLike[str]) -> dict[str, Path]:
    """Every MVTec-layout folder (train/good and test/) under root, by path relative to root."""
    base = Path(root)
    if not base.is_dir():
        raise DataError(f"--data-root: folder not found: {base}")
    found: dict[str, Path] = {}
    for dirpath, dirnames, _ in os.walk(base):
        d = Path(dirpath)
        if (d / "train" / "good").is_dir() and (d / "test").is_dir():
            found[d.relative_to(base).as_posix() if d != base else d.name] = d
            dirnames[:] = []  # a data set's own folders are not data sets
        else:
            dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
    if not found:
        raise DataError(f"no MVTec-layout data set (train/good and test/) under {base}")
    return dict(sorted(found.items()))


def select_datasets(found: dict[str, Path], names: str | None) -> dict[str, Path]:
    if not names:
        return found
    out: dict[str, Path] = {}
    for name in (n.strip() for n in names.split(",") if n.strip()):
        hits = {k: v for k, v in found.items() if k == name or Path(k).name == name}
        if not hits:
            raise DataError(f"--datasets: no data set {name!r} under the root; found: {', '.join(found)}")
        out.update(hits)
    return out


def shot_indices(n: int, shots: int | str, seed: int) -> np.ndarray:
    """The first `shots` of a seeded permutation of the n training images (sorted); 'all' = every one."""
    if shots == "all" or int(shots) >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).permutation(n)[: int(shots)])


# --- running -----------------------------------------------------------------------------------


@dataclass
class _Loaded:
    train: np.ndarray  # compact inputs (N, 3, H, W)
    test: Any  # PreparedTestSet
    seconds: float


@dataclass
class SuiteRun:
    configs: list[SuiteConfig]
    datasets: dict[str, Path]
    shots: list[int | str]
    seed: int
    device: Any
    pixel: bool = True
    rows: list[dict[str, Any]] = field(default_factory=list)
    # rows already measured (dataset, shots, label), e.g. by an earlier part of a long grid: not rerun
    skip: set[tuple[str, int | str, str]] = field(default_factory=set)
    on_row: Callable[[dict[str, Any]], None] | None = None  # called after each row (save as you go)
    deadline: float | None = None  # time.monotonic() after which no new row starts
    complete: bool = True  # False when the deadline stopped it early


def _git_revision() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=10"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _peak_rss_mb() -> float | None:
    """The process's peak memory so far; None on Windows, which has no getrusage (`resource` is POSIX:
    imported here, so that `aoi` itself starts there)."""
    try:
        import resource
    except ImportError:
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return round(kb / 1024.0, 1)


def fit_bundle(cfg: SuiteConfig, images: Any, ctx: Any) -> Any:
    """The one call into the training pipeline (fit → calibrate), shared by every suite row.

    For a fast model the fit path's final model is fitted on every image (cross-fit, or hold-out then
    refit); the suite asks for exactly that model with hold-out 0 and skips the calibration fits, which
    its metrics (on raw scores and maps) never use."""
    from inspection_core.models.registry import get_model_info
    from inspection_core.training.fit import fit_calibrate

    holdout = cfg.holdout
    if holdout is None and get_model_info(cfg.model).fast:
        holdout = 0.0
    return fit_calibrate(cfg.model, images, ctx, cfg.resolved, holdout=holdout).bundle


def _load(path: Path, size: tuple[int, int], pixel: bool) -> _Loaded:
    from inspection_core.data import MVTecDataset
    from inspection_core.metrics.evaluate import compact_inputs, prepare_test_set

    t0 = time.perf_counter()
    ds = MVTecDataset(path)
    train = compact_inputs([s.load() for s in ds.require_train()], size)
    test = prepare_test_set(ds, size, pixel_metrics=pixel)
    return _Loaded(train, test, time.perf_counter() - t0)


def _nan_to_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def run_suite(run: SuiteRun, log: Any = sys.stderr) -> list[dict[str, Any]]:
    """Fit and evaluate every (data set, shot count, config); a failure is recorded in its row."""
    import torch

    from inspection_core.metrics.evaluate import evaluate_dataset, inputs_to_tensor
    from inspection_core.models.registry import get_model_info
    from inspection_core.runtime import FitContext
    from inspection_core.runtime.context import device_label

    dev = run.device
    common = {
        "device": device_label(dev),
        "date": time.strftime("%Y-%m-%d %H:%M:%S%z"),
        "git": _git_revision(),
        "seed": run.seed,
    }
    sizes = {}
    for cfg in run.configs:
        h, w = get_model_info(cfg.model).cls.Config.from_dict(cfg.resolved).image_size
        sizes[cfg.label] = (int(h), int(w))
    total = len(run.datasets) * len(run.shots) * len(run.configs)
    k = 0
    for name, path in run.datasets.items():
        loaded: dict[tuple[int, int], _Loaded | Exception] = {}
        done: dict[tuple[str, bytes], dict[str, Any]] = {}  # shot counts ≥ n train are the same run
        for shots in run.shots:
            for cfg in run.configs:
                k += 1
                if (name, shots, cfg.label) in run.skip:
                    continue
                if run.deadline is not None and time.monotonic() > run.deadline:
                    run.complete = False
                    return run.rows
                row: dict[str, Any] = {
                    "dataset": name,
                    "shots": shots,
                    "label": cfg.label,
                    "model": cfg.model,
                    "preset": cfg.preset,
                    "options": {key: _jsonable(v) for key, v in cfg.options.items()},
                    "holdout": cfg.holdout,
                    **common,
                }
                size = sizes[cfg.label]
                try:
                    if size not in loaded:
                        try:
                            loaded[size] = _load(path, size, run.pixel)
                        except Exception as exc:  # noqa: BLE001 - recorded: one data set must not stop the suite
                            loaded[size] = exc
                    data = loaded[size]
                    if isinstance(data, Exception):
                        raise data
                    idx = shot_indices(len(data.train), shots, run.seed)
                    key = (cfg.label, idx.tobytes())
                    if key in done:
                        row.update(
                            {
                                kk: v
                                for kk, v in done[key].items()
                                if kk in ("n_train", "metrics", "timings", "config")
                            }
                        )
                        row["same_as_shots"] = done[key]["shots"]
                    else:
                        ctx = FitContext(device=dev, seed=run.seed)
                        if dev.type == "cuda":
                            torch.cuda.reset_peak_memory_stats(dev)
                        x = inputs_to_tensor(data.train[idx])
                        t0 = time.perf_counter()
                        if get_model_info(cfg.model).fast:  # no training loop: no autograd anywhere
                            with torch.inference_mode():
                                bundle = fit_bundle(cfg, x, ctx)
                        else:
                            bundle = fit_bundle(cfg, x, ctx)
                        t_train = time.perf_counter() - t0
                        del x
                        t0 = time.perf_counter()
                        rep = evaluate_dataset(bundle, data.test, ctx, pixel_metrics=run.pixel)
                        t_eval = time.perf_counter() - t0
                        row["n_train"] = int(len(idx))
                        row["metrics"] = {
                            "image_auroc": _nan_to_none(rep.image_auroc),
                            "pixel_auroc": _nan_to_none(rep.pixel_auroc),
                            "aupro": _nan_to_none(rep.aupro),
                            "f1_max": _nan_to_none(rep.f1_max),
                            "n_test": rep.n_images,
                            "n_defective": rep.n_defective,
                        }
                        row["timings"] = {
                            "fit_seconds": bundle.info.get("fit_seconds"),
                            "train_seconds": round(t_train, 3),
                            "eval_seconds": round(t_eval, 3),
                            "ms_per_image": round(rep.ms_per_image, 3),
                            "load_seconds": round(data.seconds, 3),
                            "peak_rss_mb": _peak_rss_mb(),
                            **(
                                {"peak_cuda_mb": round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)}
                                if dev.type == "cuda"
                                else {}
                            ),
                        }
                        row["config"] = {kk: _jsonable(v) for kk, v in bundle.model.config.to_dict().items()}
                        done[key] = row
                        del bundle
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # noqa: BLE001 - recorded, the suite goes on
                    row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                    if dev.type == "cuda":
                        torch.cuda.empty_cache()
                run.rows.append(row)
                print(f"[{k}/{total}] {_row_line(row)}", file=log, flush=True)
                if run.on_row is not None:
                    run.on_row(row)
        loaded.clear()
    return run.rows


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _row_line(row: dict[str, Any]) -> str:
    head = f"{row['dataset']} shots={row['shots']} {row['label']}"
    if "error" in row:
        return f"{head}: FAILED {row['error']}"
    m, t = row["metrics"], row["timings"]
    return (
        f"{head}: n={row['n_train']} image {_f(m['image_auroc'])} pixel {_f(m['pixel_auroc'])} "
        f"AUPRO {_f(m['aupro'])} fit {t['fit_seconds']:.1f}s {t['ms_per_image']:.1f} ms/img"
    )


# --- tables and the rule -----------------------------------------------------------------------


def _f(x: float | None, width: int = 0) -> str:
    s = "  -  " if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"
    return s.rjust(width) if width else s


def _d(x: float | None) -> str:
    return "   -  " if x is None else f"{x:+.3f}"


def _metric(row: dict[str, Any] | None, key: str) -> float | None:
    if row is None or "error" in row:
        return None
    v = row["metrics"].get(key)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _shots_key(s: int | str) -> tuple[int, int]:
    return (1, 0) if s == "all" else (0, int(s))


def rule_verdict(
    rows: Sequence[dict[str, Any]], label: str, baseline: str, shots: int | str
) -> dict[str, Any]:
    """The suite rule at one shot count: on every data set the config's image and pixel AUROC are ≥ the
    baseline's − 0.01, and its mean image AUROC is ≥ the baseline's + 0.02. A data set that failed or
    is missing for the config fails the rule; one the baseline lacks is not judged."""
    ev = {r["dataset"]: r for r in rows if r["label"] == label and r["shots"] == shots}
    bl = {r["dataset"]: r for r in rows if r["label"] == baseline and r["shots"] == shots}
    failures: list[str] = []
    deltas: list[float] = []
    for ds, b in sorted(bl.items()):
        bi = _metric(b, "image_auroc")
        if bi is None:
            continue
        ei = _metric(ev.get(ds), "image_auroc")
        if ei is None:
            failures.append(f"{ds}: no result")
            continue
        deltas.append(ei - bi)
        if ei < bi - PER_DATASET_TOLERANCE - 1e-12:
            failures.append(f"{ds}: image {ei - bi:+.3f}")
        bp, ep = _metric(b, "pixel_auroc"), _metric(ev.get(ds), "pixel_auroc")
        if bp is not None and ep is not None and ep < bp - PER_DATASET_TOLERANCE - 1e-12:
            failures.append(f"{ds}: pixel {ep - bp:+.3f}")
    mean_delta = float(np.mean(deltas)) if deltas else None
    if mean_delta is not None and mean_delta < MEAN_GAIN - 1e-12:
        failures.append(f"mean image {mean_delta:+.3f} < +{MEAN_GAIN:.2f}")
    return {
        "shots": shots,
        "label": label,
        "baseline": baseline,
        "pass": bool(deltas) and not failures,
        "mean_image_delta": mean_delta,
        "failures": failures,
    }


def format_tables(rows: Sequence[dict[str, Any]], label: str, baseline: str | None) -> str:
    """One table per shot count: per data set the config's metrics beside the baseline's and the deltas,
    the mean, and the rule's verdict."""
    out: list[str] = []
    shots_all = sorted({r["shots"] for r in rows if r["label"] == label}, key=_shots_key)
    with_bl = baseline is not None and baseline != label and any(r["label"] == baseline for r in rows)
    for shots in shots_all:
        ev = {r["dataset"]: r for r in rows if r["label"] == label and r["shots"] == shots}
        bl = (
            {r["dataset"]: r for r in rows if r["label"] == baseline and r["shots"] == shots}
            if with_bl
            else {}
        )
        names = sorted(set(ev) | set(bl))
        title = f"shots {shots} · {label}" + (f" vs {baseline}" if with_bl else "")
        out.append(title)
        if with_bl:
            out.append(
                f"{'dataset':<18}{'n':>5} | {'image AUROC':^22} | {'pixel AUROC':^22} | {'AUPRO':^13} | "
                f"{'fit s':^13} | {'ms/img':>6}"
            )
            out.append(
                f"{'':<18}{'':>5} | {'eval':>6} {baseline[:6]:>6} {'Δ':>7} | {'eval':>6} {baseline[:6]:>6} {'Δ':>7} | "
                f"{'eval':>6} {baseline[:6]:>6} | {'eval':>6} {baseline[:6]:>6} | {'eval':>6}"
            )
        else:
            out.append(
                f"{'dataset':<18}{'n':>5} | {'image':>6} {'pixel':>6} {'AUPRO':>6} | {'fit s':>6} {'ms/img':>6}"
            )
        cols: dict[str, list[float]] = {}
        for ds in names:
            e, b = ev.get(ds), bl.get(ds)
            n = e.get("n_train", "") if e else ""
            if e is not None and "error" in e:
                out.append(f"{ds[:18]:<18}{'':>5} | FAILED {e['error'][:90]}")
                continue
            vals = {
                "ei": _metric(e, "image_auroc"),
                "ep": _metric(e, "pixel_auroc"),
                "ea": _metric(e, "aupro"),
                "bi": _metric(b, "image_auroc"),
                "bp": _metric(b, "pixel_auroc"),
                "ba": _metric(b, "aupro"),
                "ef": e["timings"]["fit_seconds"] if e else None,
                "bf": b["timings"]["fit_seconds"] if b and "error" not in b else None,
                "em": e["timings"]["ms_per_image"] if e else None,
            }
            for kk, v in vals.items():
                if v is not None:
                    cols.setdefault(kk, []).append(float(v))
            di = None if vals["ei"] is None or vals["bi"] is None else vals["ei"] - vals["bi"]
            dp = None if vals["ep"] is None or vals["bp"] is None else vals["ep"] - vals["bp"]
            if with_bl:
                bad = b is not None and "error" in b
                out.append(
                    f"{ds[:18]:<18}{n!s:>5} | {_f(vals['ei'], 6)} {_f(vals['bi'], 6)} {_d(di):>7} | "
                    f"{_f(vals['ep'], 6)} {_f(vals['bp'], 6)} {_d(dp):>7} | {_f(vals['ea'], 6)} {_f(vals['ba'], 6)} | "
                    f"{_s(vals['ef'])} {_s(vals['bf'])} | {_s(vals['em'])}"
                    + ("  (baseline failed)" if bad else "")
                )
            else:
                out.append(
                    f"{ds[:18]:<18}{n!s:>5} | {_f(vals['ei'], 6)} {_f(vals['ep'], 6)} {_f(vals['ea'], 6)} | "
                    f"{_s(vals['ef'])} {_s(vals['em'])}"
                )

        def mean(kk: str, cols: dict[str, list[float]] = cols) -> float | None:
            return float(np.mean(cols[kk])) if cols.get(kk) else None

        if with_bl:
            # means over the data sets both have, so the delta compares like with like
            pairs_i = [(_metric(ev.get(d), "image_auroc"), _metric(bl.get(d), "image_auroc")) for d in names]
            pairs_i = [(a, c) for a, c in pairs_i if a is not None and c is not None]
            pairs_p = [(_metric(ev.get(d), "pixel_auroc"), _metric(bl.get(d), "pixel_auroc")) for d in names]
            pairs_p = [(a, c) for a, c in pairs_p if a is not None and c is not None]
            mi = (
                [float(np.mean([p[0] for p in pairs_i])), float(np.mean([p[1] for p in pairs_i]))]
                if pairs_i
                else [None, None]
            )
            mp = (
                [float(np.mean([p[0] for p in pairs_p])), float(np.mean([p[1] for p in pairs_p]))]
                if pairs_p
                else [None, None]
            )
            dmi = None if mi[0] is None else mi[0] - mi[1]
            dmp = None if mp[0] is None else mp[0] - mp[1]
            out.append(
                f"{'mean':<18}{'':>5} | {_f(mi[0], 6)} {_f(mi[1], 6)} {_d(dmi):>7} | {_f(mp[0], 6)} {_f(mp[1], 6)} "
                f"{_d(dmp):>7} | {_f(mean('ea'), 6)} {_f(mean('ba'), 6)} | {_s(mean('ef'))} {_s(mean('bf'))} | "
                f"{_s(mean('em'))}"
            )
            v = rule_verdict(rows, label, baseline, shots)  # type: ignore[arg-type]
            verdict = "PASS" if v["pass"] else "FAIL"
            why = "" if v["pass"] else " — " + "; ".join(v["failures"])
            out.append(
                f"rule (every data set ≥ {baseline} − {PER_DATASET_TOLERANCE} image & pixel AUROC, mean image "
                f"≥ {baseline} + {MEAN_GAIN}): {verdict}{why}"
            )
        else:
            out.append(
                f"{'mean':<18}{'':>5} | {_f(mean('ei'), 6)} {_f(mean('ep'), 6)} {_f(mean('ea'), 6)} | "
                f"{_s(mean('ef'))} {_s(mean('em'))}"
            )
        out.append("")
    return "\n".join(out)


def _s(x: float | None) -> str:
    return "     -" if x is None else f"{x:6.1f}"


def load_rows(paths: Sequence[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for p in paths:
        try:
            doc = json.loads(Path(p).read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read suite JSON {p}: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
            raise DataError(f"{p} is not an `aoi suite` JSON file (no rows)")
        rows.extend(doc["rows"])
    return rows


def print_saved(rows: list[dict[str, Any]], baseline: str | None) -> str:
    """Tables of saved rows, each configuration beside the baseline: the rows labelled so, else those of
    that preset with no option but the input size (a separate `--preset plain` run)."""
    labels = list(dict.fromkeys(r["label"] for r in rows))
    note = ""
    if baseline is not None and baseline not in labels:
        alike = [
            r["label"]
            for r in rows
            if r.get("preset") == baseline and set(r.get("options", {})) <= {"image_size"}
        ]
        if alike:
            baseline = alike[0]
        else:
            note = f"(no {baseline} rows in these files: run `aoi suite` with --compare {baseline})\n"
            baseline = None
    evaluated = [lb for lb in labels if lb != baseline] or labels
    return note + "\n".join(format_tables(rows, lb, baseline) for lb in evaluated)


def cmd_suite(args: argparse.Namespace) -> int:
    from inspection_core.runtime import resolve_device

    baseline = None if args.compare.lower() in ("none", "") else args.compare
    if args.table:
        if args.data_root:
            raise AoiError("--table prints saved results; give no --data-root with it")
        print(print_saved(load_rows(args.table), baseline))
        return 0
    if not args.data_root:
        raise AoiError("--data-root is required (or --table to print saved results)")
    opts = parse_options(args.model, args.options, args.extra)
    cfg = make_config(args.model, args.preset, opts, args.holdout, args.label)
    configs = [cfg]
    if baseline is not None:
        bl = baseline_config(baseline, args.model, cfg.resolved.get("image_size"))
        if (bl.model, bl.preset, bl.options) != (cfg.model, cfg.preset, cfg.options):
            if cfg.label == bl.label:
                raise AoiError(f"--label {bl.label} is the baseline's name; choose another")
            configs.append(bl)
        baseline = bl.label
    datasets = select_datasets(find_datasets(args.data_root), args.datasets)
    shots = parse_shots(args.shots)
    device = resolve_device(args.device)
    run = SuiteRun(configs, datasets, shots, args.seed, device, pixel=not args.no_pixel)
    print(
        f"suite: {len(datasets)} data set(s) × shots {','.join(map(str, shots))} × "
        f"{', '.join(c.label for c in configs)} on {device}",
        file=sys.stderr,
    )
    t0 = time.perf_counter()
    rows = run_suite(run)
    wall = time.perf_counter() - t0
    print(format_tables(rows, cfg.label, baseline if len(configs) > 1 else None))
    peak = _peak_rss_mb()
    print(
        f"suite wall time {wall:.0f} s, peak memory " + (f"{peak:.0f} MB" if peak is not None else "unknown")
    )
    if args.json:
        doc = {
            "command": args.command_line,
            "data_root": str(Path(args.data_root).resolve()),
            "shots": shots,
            "wall_seconds": round(wall, 1),
            "verdicts": [rule_verdict(rows, cfg.label, baseline, s) for s in shots]
            if len(configs) > 1 and baseline
            else [],
            "rows": rows,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=2, default=_json_default))
    return 0 if not any("error" in r for r in rows) else 1


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    return str(o)
