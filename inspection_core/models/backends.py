"""Which backend runs a model's predict path: torch, ONNX Runtime (models.export) or OpenVINO
(models.openvino_backend). Its own module, above both, so neither imports the other."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

from inspection_core.errors import AoiError
from inspection_core.models.bundle import ModelBundle
from inspection_core.models.export import (
    ExportError,
    current_onnx,
    default_batch,
    export_blocker,
    onnx_runner,
)
from inspection_core.models.openvino_backend import current_openvino, openvino_runner

BACKENDS = ("torch", "onnxruntime", "openvino")
# what each backend needs installed (the import name and the pip package)
_BACKEND_PACKAGE = {"onnxruntime": "onnxruntime", "openvino": "openvino"}


def _importable(module: str) -> bool:
    """Installed, found without importing it: the station asks on the GUI thread when a model goes
    live, and importing ONNX Runtime and OpenVINO there took 0.4 s (the runner imports them later, on
    the worker thread that prepares the backend)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available_backends() -> list[str]:
    """Backends this installation can run: torch, and each runtime whose package imports (openvino is
    an optional extra, `pip install aoi-station[openvino]`)."""
    return ["torch", *(b for b, pkg in _BACKEND_PACKAGE.items() if _importable(pkg))]


def resolve_backend(name: str | None, bundle: ModelBundle) -> str:
    """'auto' (or None) → onnxruntime on a CPU when the model can be exported and ONNX Runtime is
    installed, else torch. An explicit name that cannot run here is a clear error."""
    name = (name or "auto").lower()
    model = bundle.model
    if name == "auto":
        ok = model.device.type == "cpu" and export_blocker(model.name) is None
        return "onnxruntime" if ok and "onnxruntime" in available_backends() else "torch"
    if name not in BACKENDS:
        raise AoiError(f"unknown backend {name!r}; backends: auto, {', '.join(BACKENDS)}")
    if name != "torch":
        if name not in available_backends():
            extra = " or pip install 'aoi-station[openvino]'" if name == "openvino" else ""
            raise AoiError(f"backend {name} is not installed (pip install {_BACKEND_PACKAGE[name]}{extra})")
        if model.device.type != "cpu":
            raise AoiError(f"backend {name} runs on the CPU: use --device cpu (or --backend torch)")
        reason = export_blocker(model.name)
        if reason:
            raise ExportError(f"backend {name}: model {model.name!r} cannot be exported to ONNX: {reason}")
    return name


def export_needed(bundle: ModelBundle, backend: str) -> bool:
    """Whether putting `bundle` on `backend` (a resolved name) traces its torch model: no current export
    lies beside it. The station copies the live model only then (the trace must not run on the model the
    inference thread is using), so a cached export does not double the model's memory."""
    if backend in ("torch", bundle.backend):
        return False
    src = bundle.source
    if src is None:
        return True
    size, batch = bundle.model.image_size, default_batch(bundle.model.name)
    current = current_openvino if backend == "openvino" else current_onnx
    return current(src, size, batch) is None


def with_backend(bundle: ModelBundle, backend: str | None) -> ModelBundle:
    """The bundle whose `predict` runs on `backend` ('auto', 'torch', 'onnxruntime', 'openvino'): a copy
    sharing the model, so torch stays available for what the export does not cover (whole-frame passes)."""
    name = resolve_backend(backend, bundle)
    if name == bundle.backend:
        return bundle
    if name == "torch":
        return replace(bundle, runner=None)
    if name == "openvino":
        return replace(bundle, runner=openvino_runner(bundle))
    return replace(bundle, runner=onnx_runner(bundle))
