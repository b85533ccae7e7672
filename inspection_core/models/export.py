"""ONNX export of a trained model's whole predict path, and the ONNX Runtime backend that runs it.

The exported graph takes what `AnomalyModel.predict` takes (float32 RGB, (N, 3, H, W), values in
[0, 1]) and returns the raw anomaly map (N, H, W) and image score (N,) exactly as `predict` does
(PatchCore's smoothing included), plus both normalised the way the station shows them (map clipped to
[0, 1], score floored at 0; a threshold of 0.5 is the model's calibrated one). The normalisation
statistics, the model's config and provenance travel in the file's `metadata_props`, so a plain
ONNX Runtime user needs nothing of ours to get the same map, score and verdict.

Beside a saved model the file is `model.onnx`; its `aoi.source_sha256` is the digest of the model's own
two files, so a retrained or recalibrated model is never run through a stale export.

Every export is checked before it is kept: ONNX Runtime must reproduce torch's map and score on a
test batch within PARITY_ATOL/PARITY_RTOL (a trace can silently bake a data-dependent branch in).

The OpenVINO IR and its backend (models.openvino_backend) are made from this ONNX export and share its
parity check, metadata and caching rules; this module picks the backend (`with_backend`).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

import inspection_core
from inspection_core.errors import AoiError, ModelFileError
from inspection_core.models.bundle import EXPORT, META, WEIGHTS, ModelBundle

EXPORT_FILE = EXPORT
EXPORT_FORMAT = "aoi-station-onnx"
# 2: the anomaly map's resize and smoothing as two matrix products (models.layers.resize_blur)
EXPORT_FORMAT_VERSION = 2
OPSET = 18
FORMATS = ("onnx", "openvino")
# ONNX Runtime (or OpenVINO) vs torch on the same input: maps and scores agree to this (float32, different
# kernels)
PARITY_ATOL = 1e-4
PARITY_RTOL = 1e-4
# input pixels (batch × H × W) per ONNX Runtime call: PatchCore's distance matrix grows with the batch
# (no chunking inside the graph), 4 × 256² keeps it near 64 MB
MAX_RUN_PIXELS = 4 * 256 * 256

# models whose predict path does not survive a trace to ONNX, and why (`aoi export` says this); each was
# tried with torch 2.13's TorchScript exporter at opset 18 and ONNX Runtime 1.32
NOT_EXPORTABLE: dict[str, str] = {
    "sidn": "its predict path reshapes by the traced batch and sizes (ONNX Runtime rejects the graph at "
    "any other batch, and at batch 1 the trace loses its input)",
    "ndpnet": "its patch folding (torch.nn.functional.fold, aten::col2im) has no working ONNX export",
    "bfdf": "it picks the nearest good reference per image (argmax over cached reference features), which "
    "the trace does not follow: the exported map differs from torch's by ~0.1",
    "fusion": "it runs SIDN, which cannot be exported (see sidn)",
}
# models whose export needs a fixed batch (the trace bakes the batch into a split): the backend exports
# these at batch 1 and feeds images one at a time
FIXED_BATCH: dict[str, int] = {"sclvi": 1}


class ExportError(AoiError):
    """A model cannot be exported (architecture, options) or its export failed the parity check."""


def export_blocker(name: str) -> str | None:
    """Why the model `name` cannot be exported to ONNX, or None when it can."""
    return NOT_EXPORTABLE.get(name)


def default_batch(name: str) -> int | None:
    """The batch a model is exported with by default: None (dynamic) unless it needs a fixed one."""
    return FIXED_BATCH.get(name)


def source_digest(model_dir: str | os.PathLike[str]) -> str:
    """sha256 over a model folder's model.json and model.safetensors: what an export was made from."""
    h = hashlib.sha256()
    for name in (META, WEIGHTS):
        try:
            with open(Path(model_dir) / name, "rb") as fh:
                for block in iter(lambda f=fh: f.read(1 << 20), b""):
                    h.update(block)
        except OSError as exc:
            raise ModelFileError(f"cannot read {Path(model_dir) / name}: {exc.strerror or exc}") from None
    return h.hexdigest()


class _PredictPath(nn.Module):
    """model.predict as a module, with the station's normalisation as two extra outputs."""

    def __init__(self, bundle: ModelBundle) -> None:
        super().__init__()
        self.model = bundle.model
        self.norm = bundle.normalization

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        amap, score = self.model.predict(x)
        amap, score = amap.float(), score.float()
        return (
            amap,
            score,
            self.norm.map_unclipped(amap).clamp(0, 1),
            self.norm.score_unfloored(score).clamp_min(0),
        )


OUTPUTS = ("anomaly_map", "score", "anomaly_map_normalized", "score_normalized")


def _metadata(bundle: ModelBundle, size: tuple[int, int], batch: int | None, digest: str) -> dict[str, str]:
    model = bundle.model
    return {
        "aoi.format": EXPORT_FORMAT,
        "aoi.format_version": str(EXPORT_FORMAT_VERSION),
        "aoi.aoi_version": inspection_core.__version__,
        "aoi.model": model.name,
        "aoi.model_version": str(model.version),
        "aoi.source_sha256": digest,
        "aoi.image_size": f"{size[0]}x{size[1]}",
        "aoi.batch": "dynamic" if batch is None else str(batch),
        "aoi.input": "image: float32 RGB (N, 3, H, W), values in [0, 1], resized to aoi.image_size",
        "aoi.outputs": (
            "anomaly_map (N, H, W) raw; score (N,) raw; anomaly_map_normalized = clip(0.5 + 0.5 * (raw - "
            "pixel_threshold) / (pixel_threshold - pixel_reference), 0, 1); score_normalized = max(0, 0.5 + "
            "0.5 * (raw - image_threshold) / (image_threshold - image_reference)); NG when score_normalized "
            ">= the recipe's image threshold (0.5 = the model's calibrated one)"
        ),
        "aoi.normalization": json.dumps(bundle.normalization.to_dict()),
        "aoi.config": json.dumps(model.config.to_dict()),
        "aoi.info": json.dumps(bundle.info, default=str),
        "aoi.parity": f"atol {PARITY_ATOL} rtol {PARITY_RTOL} vs torch {torch.__version__}",
    }


def _test_batch(size: tuple[int, int], n: int) -> torch.Tensor:
    """A textured grey batch (no defect): what a good part looks like to a model, deterministic."""
    g = torch.Generator().manual_seed(0)
    h, w = size
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    out = [
        (0.5 + 0.2 * torch.sin(0.3 * xx + 0.2 * yy + i) + 0.05 * torch.randn(h, w, generator=g)).clamp(0, 1)
        for i in range(n)
    ]
    return torch.stack(out)[:, None].expand(-1, 3, -1, -1).contiguous()


def export_onnx(
    bundle: ModelBundle,
    out: str | os.PathLike[str] | None = None,
    *,
    image_size: tuple[int, int] | None = None,
    batch: int | None = None,
    digest: str = "",
) -> bytes:
    """The ONNX file of `bundle`'s predict path (written atomically to `out` when given).

    image_size: the input size (default the model's; another only for models that take any size).
    batch: a fixed batch size, or None for a dynamic one. digest: `source_digest` of the folder it was
    loaded from. ExportError when the model cannot be exported or the export fails the parity check.
    """
    exp = onnx_export(bundle, image_size=image_size, batch=batch, digest=digest)
    if out is not None:
        from inspection_core.runtime.atomic import atomic_write_bytes

        atomic_write_bytes(out, exp.data, error=ModelFileError)
    return exp.data


@dataclass(frozen=True)
class OnnxExport:
    """A parity-checked ONNX export and what it was checked with (the OpenVINO IR is made from it)."""

    data: bytes
    metadata: dict[str, str]
    bundle: ModelBundle  # the bundle as traced (its model on the CPU)
    test_batch: torch.Tensor  # what ONNX Runtime reproduced torch's map and score on


def onnx_export(
    bundle: ModelBundle,
    *,
    image_size: tuple[int, int] | None = None,
    batch: int | None = None,
    digest: str = "",
    fmt: str = "ONNX",
) -> OnnxExport:
    """export_onnx's work, kept whole for a format converted from it (`fmt` names that in refusals)."""
    import onnx

    model = bundle.model
    reason = export_blocker(model.name)
    if reason:
        raise ExportError(f"model {model.name!r} cannot be exported to {fmt}: {reason}")
    size = tuple(int(s) for s in (image_size or model.image_size))
    if size != model.image_size and not model.any_size:
        raise ExportError(
            f"model {model.name!r} takes only its own input size {model.image_size[0]}x{model.image_size[1]}"
        )
    if batch is not None and batch < 1:
        raise ExportError(f"batch must be a positive number or 'dynamic', got {batch}")
    if model.device.type != "cpu":  # export traces on the CPU; the caller's model stays where it is
        model = copy.deepcopy(model).cpu()
        bundle = replace(bundle, model=model)
    model.eval()
    x = _test_batch(size, batch or 2)
    dyn = {k: {0: "batch"} for k in ("image", *OUTPUTS)} if batch is None else None
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about constant shapes: the parity check decides
        try:
            torch.onnx.export(
                _PredictPath(bundle),
                (x,),
                buf,
                dynamo=False,
                opset_version=OPSET,
                input_names=["image"],
                output_names=list(OUTPUTS),
                dynamic_axes=dyn,
            )
        except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds; one line for the user
            raise ExportError(
                f"model {model.name!r} could not be exported to ONNX: {type(exc).__name__}: {exc}"
            ) from None
    proto = onnx.load_from_string(buf.getvalue())
    proto.producer_name = "aoi-station"
    proto.doc_string = f"aoi-station {model.name}: anomaly map and score (see metadata_props aoi.*)"
    meta = _metadata(bundle, size, batch, digest)
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    data = proto.SerializeToString()
    x = x if batch else torch.cat([x[:1], _test_batch(size, 3)])  # another batch size than the trace's
    check_parity(bundle, lambda: OnnxPredictor(data), x)
    return OnnxExport(data, meta, bundle, x)


def check_parity(bundle: ModelBundle, make: Callable[[], ExportedPredictor], x: torch.Tensor) -> None:
    """The predictor `make()` gives reproduces torch's map and score on `x` within PARITY_ATOL /
    PARITY_RTOL, else ExportError (and the export is not kept)."""
    with torch.no_grad():
        t_map, t_score = (t.float().numpy() for t in bundle.model.predict(x))
    runtime = "the runtime"
    try:
        predictor = make()
        runtime = predictor.runtime
        o_map, o_score = (t.numpy() for t in predictor.predict(x))
    except Exception as exc:  # noqa: BLE001 - the runtimes' own error types: the export is unusable
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise ExportError(
            f"model {bundle.model.name!r}: {runtime} cannot run the export ({type(exc).__name__}: {first})"
        ) from None
    for what, a, b in (("map", o_map, t_map), ("score", o_score, t_score)):
        if a.shape != b.shape or not np.allclose(a, b, atol=PARITY_ATOL, rtol=PARITY_RTOL):
            diff = float(np.abs(a - b).max()) if a.shape == b.shape else f"shape {a.shape} vs {b.shape}"
            raise ExportError(
                f"model {bundle.model.name!r}: {predictor.runtime}'s {what} differs from torch's ({diff}); "
                "not kept (the export does not follow this model's predict path)"
            )


class ExportedPredictor:
    """What every exported-model backend shares: (N, 3, H, W) tensor → raw (maps, scores) on the CPU,
    fed in chunks of `step` images (a fixed-batch export padded to its batch, the padding dropped)."""

    name = ""  # the backend's name (ModelBundle.backend)
    runtime = ""  # for messages: "ONNX Runtime", "OpenVINO"
    batch: int | None  # the export's fixed batch, None = dynamic
    image_size: tuple[int, int]

    def _set_shape(self, batch: int | None, image_size: tuple[int, int]) -> None:
        self.batch, self.image_size = batch, image_size
        self.step = batch or max(1, MAX_RUN_PIXELS // (image_size[0] * image_size[1]))

    def _run(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One call of the runtime: raw (maps, scores) of a float32 (n, 3, H, W) array."""
        raise NotImplementedError

    def predict(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if tuple(batch.shape[-2:]) != self.image_size:
            raise ModelFileError(
                f"the {self.runtime} model takes {self.image_size[0]}x{self.image_size[1]} input, got "
                f"{batch.shape[-2]}x{batch.shape[-1]}"
            )
        x = batch.detach().to("cpu", torch.float32).contiguous().numpy()
        n = len(x)
        maps, scores = [], []
        for i in range(0, n, self.step):
            chunk = x[i : i + self.step]
            k = len(chunk)
            if self.batch and k < self.batch:  # a fixed batch: pad with the last image, drop its output
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], self.batch - k, 0)])
            m, s = self._run(chunk)
            maps.append(m[:k])
            scores.append(s[:k])
        return torch.from_numpy(np.concatenate(maps)), torch.from_numpy(np.concatenate(scores))


class OnnxPredictor(ExportedPredictor):
    """`model.predict` through ONNX Runtime on the CPU: (N, 3, H, W) tensor → raw (maps, scores).

    threads: ONNX Runtime's intra-op threads; 0 = as many as torch's pool (`torch.get_num_threads()`,
    which OMP_NUM_THREADS sets), so both backends use the same cores and compare fairly."""

    name = "onnxruntime"
    runtime = "ONNX Runtime"

    def __init__(self, source: str | os.PathLike[str] | bytes, threads: int = 0) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        src = source if isinstance(source, bytes) else str(source)
        try:
            self.session = ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime's own error types
            raise ModelFileError(f"cannot load the ONNX model: {exc}") from None
        self.meta: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        shape = self.session.get_inputs()[0].shape
        self._set_shape(shape[0] if isinstance(shape[0], int) else None, (int(shape[2]), int(shape[3])))

    def _run(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m, s = self.session.run(OUTPUTS[:2], {"image": chunk})
        return m, s


def onnx_path(model_dir: str | os.PathLike[str]) -> Path:
    return Path(model_dir) / EXPORT_FILE


def is_current(
    meta: dict[str, str],
    model_dir: str | os.PathLike[str],
    image_size: tuple[int, int],
    batch: int | None,
    fmt: str = EXPORT_FORMAT,
) -> bool:
    """Whether an export's aoi.* metadata says it was made from the folder's model as it is now, by this
    aoi-station version, at `image_size` and `batch` (None = dynamic), in format `fmt`: the one rule every
    cached export obeys. An upgraded station exports again, so its predict path is the one it runs."""
    want = {
        "aoi.format": fmt,
        "aoi.format_version": str(EXPORT_FORMAT_VERSION),
        "aoi.aoi_version": inspection_core.__version__,
        "aoi.source_sha256": source_digest(model_dir),
        "aoi.image_size": f"{image_size[0]}x{image_size[1]}",
        "aoi.batch": "dynamic" if batch is None else str(batch),
    }
    return all(meta.get(k) == v for k, v in want.items())


def current_onnx(
    model_dir: str | os.PathLike[str], image_size: tuple[int, int], batch: int | None = None
) -> Path | None:
    """The folder's model.onnx when it was exported from the folder's model as it is now, at
    `image_size` and `batch` (None = dynamic; what the backend runs); None otherwise."""
    import onnx

    path = onnx_path(model_dir)
    if not path.is_file():
        return None
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - a corrupt or foreign file is simply not current
        return None
    meta = {p.key: p.value for p in proto.metadata_props}
    return path if is_current(meta, model_dir, image_size, batch) else None


def onnx_runner(bundle: ModelBundle) -> OnnxPredictor:
    """The ONNX Runtime predictor of a bundle: its folder's model.onnx when current, else a fresh export,
    kept beside the model when the folder is writable (else used from memory)."""
    model = bundle.model
    src = bundle.source
    batch = default_batch(model.name)
    if src is None:  # trained in this process, not saved: export to memory
        return OnnxPredictor(export_onnx(bundle, batch=batch))
    current = current_onnx(src, model.image_size, batch)
    if current is not None:
        return OnnxPredictor(current)
    data = export_onnx(bundle, batch=batch, digest=source_digest(src))
    try:
        from inspection_core.runtime.atomic import atomic_write_bytes

        atomic_write_bytes(onnx_path(src), data)
    except OSError:  # a read-only model folder: run from memory, export again next time
        pass
    return OnnxPredictor(data)
