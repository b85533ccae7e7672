"""A trained model on disk: `model.safetensors` (tensors) + `model.json` (name, versions, config,
normalisation, training info). No pickle: a model file is input from outside and must not run code.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import inspection_core
from inspection_core.errors import ModelFileError, UnknownModelError
from inspection_core.models.base import AnomalyModel
from inspection_core.models.graphs import GraphedPredict, graph_eligible
from inspection_core.postprocess.normalization import Normalization

FORMAT = "aoi-station-model"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
META = "model.json"


@dataclass
class ModelBundle:
    """A model together with what makes its output meaningful: normalisation and provenance."""

    model: AnomalyModel
    normalization: Normalization
    info: dict[str, Any] = field(default_factory=dict)
    _graphed: GraphedPredict | None = field(default=None, init=False, repr=False, compare=False)
    _graphed_frame: GraphedPredict | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.model.name

    def predict(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """model.predict, replayed from CUDA graphs on a GPU when the model allows it (batch-1 latency
        is then the GPU's time, not the launch overhead of its ~100 kernels)."""
        if not graph_eligible(self.model, tuple(batch.shape), batch.device.type):
            return self.model.predict(batch)
        if self._graphed is None:
            self._graphed = GraphedPredict(self.model)
        return self._graphed(batch)

    def predict_frame(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """model.predict_frame (a whole native frame, score = the map's peak), graph-replayed like predict."""
        if not graph_eligible(self.model, tuple(batch.shape), batch.device.type):
            return self.model.predict_frame(batch)
        if self._graphed_frame is None:
            self._graphed_frame = GraphedPredict(self.model, method="predict_frame")
        return self._graphed_frame(batch)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        return save_bundle(self, directory)


def save_bundle(bundle: ModelBundle, directory: str | os.PathLike[str]) -> Path:
    """Write atomically: files go to a temp folder beside the target, which then replaces it."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    model = bundle.model
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.name,
        "model_version": model.version,
        "aoi_version": inspection_core.__version__,
        "config": model.config.to_dict(),
        "normalization": bundle.normalization.to_dict(),
        "extra": model.extra_state(),
        "info": {"saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **bundle.info},
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save_file(
            model.tensors_to_save(), str(tmp / WEIGHTS), metadata={"format": FORMAT, "model": model.name}
        )
        (tmp / META).write_text(json.dumps(meta, indent=2))
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelFileError(f"cannot save model to {target}: {exc.strerror or exc}") from exc
    return target


def read_meta(directory: str | os.PathLike[str]) -> dict[str, Any]:
    d = Path(directory)
    if not d.is_dir():
        raise ModelFileError(f"model folder not found: {d}")
    try:
        meta = json.loads((d / META).read_text())
    except FileNotFoundError:
        raise ModelFileError(f"not a model folder (no {META}): {d}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"model description is corrupt: {d / META} ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"not an aoi-station model: {d / META}")
    fv = meta.get("format_version")
    if not isinstance(fv, int) or fv > FORMAT_VERSION:
        raise ModelFileError(
            f"model file format {fv} is newer than this aoi-station understands ({FORMAT_VERSION}); update aoi-station"
        )
    return meta


def load_bundle(directory: str | os.PathLike[str], device: str | torch.device = "cpu") -> ModelBundle:
    """Load a saved model; any mismatch (unknown model, other version, corrupt tensors) is a ModelFileError."""
    from inspection_core.models.registry import get_model_info

    d = Path(directory)
    meta = read_meta(d)
    name = meta.get("model")
    try:
        info = get_model_info(str(name))
    except UnknownModelError as exc:
        raise ModelFileError(f"{d}: {exc}") from None
    saved_v, have_v = meta.get("model_version"), info.cls.version
    if saved_v != have_v:
        raise ModelFileError(
            f"{d}: saved by {name} version {saved_v}, this aoi-station has version {have_v}; retrain the model"
        )
    try:
        config = info.cls.Config.from_saved(meta.get("config", {}))
        norm = Normalization.from_dict(meta["normalization"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{d}: model description is invalid ({exc})") from None
    try:
        tensors = load_file(str(d / WEIGHTS))
    except FileNotFoundError:
        raise ModelFileError(f"{d}: weights file {WEIGHTS} is missing") from None
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise ModelFileError(f"{d}: weights file is corrupt ({exc})") from None
    model = info.cls(config)
    try:
        model.load_saved_tensors(tensors)
        model.load_extra_state(meta.get("extra", {}))
    except (KeyError, RuntimeError, ValueError) as exc:
        raise ModelFileError(f"{d}: weights do not match the {name} model ({exc})") from None
    model.to(torch.device(device) if not isinstance(device, torch.device) else device).eval()
    return ModelBundle(model, norm, meta.get("info", {}))
