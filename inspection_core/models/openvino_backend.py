"""OpenVINO IR export of a model's predict path, and the OpenVINO backend that runs it on the CPU.

The IR (model.xml + model.bin) is converted from the parity-checked ONNX export (models.export), so it
has the same input, the same four outputs and the same aoi.* metadata, kept in the IR's `rt_info` under
`aoi` (`model.get_rt_info(["aoi", "normalization"])`); `aoi.format` says it is the OpenVINO form. The
conversion is the OpenVINO runtime's own ONNX reader (`Core.read_model`), which is what
`openvino.convert_model` runs for an ONNX file too, without its usage telemetry (convert_model sends
it to Google Analytics unless the user opted out: a station stays off the network). Weights are kept
in float32 (`save_model`'s default FP16 compression would cost the parity) and inference runs at f32
precision (the CPU plugin would pick bf16 on CPUs that have it).

Every export is checked before it is kept: OpenVINO must reproduce torch's map and score within the
same PARITY_ATOL/PARITY_RTOL as ONNX Runtime (models.export.check_parity). Beside a saved model the
IR is `model.openvino.xml` + `model.openvino.bin`, with the source digest in its rt_info, under the
same rule as model.onnx: one that was made from another model, size or batch is never run.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from inspection_core.errors import ModelFileError
from inspection_core.models.bundle import OPENVINO_EXPORT, ModelBundle
from inspection_core.models.export import (
    OUTPUTS,
    ExportedPredictor,
    ExportError,
    check_parity,
    default_batch,
    is_current,
    onnx_export,
    source_digest,
)

if TYPE_CHECKING:
    import openvino

OPENVINO_FORMAT = "aoi-station-openvino"
RT_KEY = "aoi"  # the rt_info section holding the aoi.* metadata (without the "aoi." prefix)


@dataclass(frozen=True)
class OpenVinoIR:
    """A parity-checked IR: its two files' bytes and the model read from exactly those bytes."""

    model: openvino.Model
    xml: bytes
    weights: bytes


def openvino_paths(model_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The IR files the backend keeps beside a saved model: (model.openvino.xml, model.openvino.bin)."""
    return Path(model_dir) / OPENVINO_EXPORT[0], Path(model_dir) / OPENVINO_EXPORT[1]


def rt_metadata(model: openvino.Model) -> dict[str, str]:
    """An IR's aoi.* metadata as the ONNX file's metadata_props keys ({} when it has none)."""
    if not model.has_rt_info([RT_KEY]):
        return {}
    section = model.get_rt_info()[RT_KEY]
    if not isinstance(section, dict):
        return {}
    return {f"aoi.{k}": v.astype(str) for k, v in section.items()}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}" if text else type(exc).__name__


def openvino_export(
    bundle: ModelBundle,
    *,
    image_size: tuple[int, int] | None = None,
    batch: int | None = None,
    digest: str = "",
) -> OpenVinoIR:
    """The OpenVINO IR of `bundle`'s predict path, converted from its ONNX export and parity-checked
    against torch (arguments as export_onnx). ExportError when it cannot be made or fails the check."""
    import openvino as ov

    exp = onnx_export(bundle, image_size=image_size, batch=batch, digest=digest, fmt="OpenVINO")
    name = exp.bundle.model.name
    core = ov.Core()
    try:
        model = core.read_model(io.BytesIO(exp.data))
    except Exception as exc:  # noqa: BLE001 - OpenVINO's own error types: the ONNX graph is not readable
        raise ExportError(
            f"model {name!r}: OpenVINO cannot read the ONNX export ({_first_line(exc)})"
        ) from None
    meta = {
        **exp.metadata,
        "aoi.format": OPENVINO_FORMAT,
        "aoi.openvino_version": ov.get_version(),
        "aoi.parity": f"{exp.metadata['aoi.parity']}; OpenVINO at f32 inference precision",
    }
    for k, v in meta.items():
        model.set_rt_info(v, [RT_KEY, k.removeprefix("aoi.")])
    with tempfile.TemporaryDirectory(prefix="aoi-openvino-") as tmp:
        xml_path = Path(tmp) / "model.xml"
        try:
            ov.save_model(model, xml_path, compress_to_fp16=False)  # FP16 weights would cost the parity
            xml, weights = xml_path.read_bytes(), xml_path.with_suffix(".bin").read_bytes()
        except Exception as exc:  # noqa: BLE001 - OpenVINO's own error types, or the temp folder's
            raise ExportError(f"model {name!r}: OpenVINO cannot save the IR ({_first_line(exc)})") from None
    # what is checked is what is kept: the model read back from the very bytes that are written
    saved = core.read_model(xml, weights)
    check_parity(exp.bundle, lambda: OpenVinoPredictor(saved), exp.test_batch)
    return OpenVinoIR(saved, xml, weights)


def write_ir(
    xml_path: str | os.PathLike[str], ir: OpenVinoIR, error: type[Exception] = ModelFileError
) -> None:
    """Write the IR as `xml_path` and the .bin beside it. The old .xml goes first, then each file is
    written atomically, weights before the graph: a crash leaves no .xml (nothing to run, so the
    backend exports again) or a complete new pair, never a graph beside another export's weights."""
    from inspection_core.runtime.atomic import atomic_write_bytes

    xml = Path(xml_path)
    try:
        xml.unlink(missing_ok=True)
    except OSError as exc:
        raise error(f"cannot replace {xml}: {exc.strerror or exc}") from None
    atomic_write_bytes(xml.with_suffix(".bin"), ir.weights, error=error)
    atomic_write_bytes(xml, ir.xml, error=error)


def export_openvino(
    bundle: ModelBundle,
    out: str | os.PathLike[str] | None = None,
    *,
    image_size: tuple[int, int] | None = None,
    batch: int | None = None,
    digest: str = "",
) -> openvino.Model:
    """The OpenVINO IR of `bundle`'s predict path (written to `out`, an .xml, and the .bin beside it,
    when given); arguments and errors as export_onnx."""
    ir = openvino_export(bundle, image_size=image_size, batch=batch, digest=digest)
    if out is not None:
        write_ir(out, ir)
    return ir.model


class OpenVinoPredictor(ExportedPredictor):
    """`model.predict` through OpenVINO on the CPU: (N, 3, H, W) tensor → raw (maps, scores).

    source: an IR .xml path (the .bin beside it) or an `openvino.Model`. threads: OpenVINO's
    INFERENCE_NUM_THREADS; 0 = as many as torch's pool (`torch.get_num_threads()`), like ONNX Runtime."""

    name = "openvino"
    runtime = "OpenVINO"

    def __init__(self, source: str | os.PathLike[str] | openvino.Model, threads: int = 0) -> None:
        import openvino as ov

        core = ov.Core()
        if isinstance(source, str | os.PathLike):
            try:
                source = core.read_model(str(source))
            except Exception as exc:  # noqa: BLE001 - OpenVINO's own error types
                raise ModelFileError(f"cannot load the OpenVINO model {source}: {_first_line(exc)}") from None
        self.meta = rt_metadata(source)
        shape = source.input(0).get_partial_shape()
        batch = shape[0].get_length() if shape[0].is_static else None
        self._set_shape(batch, (shape[2].get_length(), shape[3].get_length()))
        config: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": threads or torch.get_num_threads(),
            "INFERENCE_PRECISION_HINT": "f32",  # not bf16 where the CPU has it: parity with torch
            "PERFORMANCE_HINT": "LATENCY",  # one stream: a station inspects one frame at a time
            # threads free to move off a core the GUI or the camera is busy on (ONNX Runtime and torch
            # do not pin either); on the shared 2-core CPU pinned threads had the slower median
            "ENABLE_CPU_PINNING": False,
        }
        try:
            self.compiled = core.compile_model(source, "CPU", config)
        except Exception as exc:  # noqa: BLE001 - OpenVINO's own error types
            raise ModelFileError(f"OpenVINO cannot compile the model: {_first_line(exc)}") from None
        self._outputs = tuple(self.compiled.output(n) for n in OUTPUTS[:2])
        self._request = self.compiled.create_infer_request()
        self._lock = threading.Lock()  # one infer request: calls from two threads take turns

    def _run(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            res = self._request.infer({"image": chunk}, share_inputs=True)  # outputs are copies
        return res[self._outputs[0]], res[self._outputs[1]]


def current_openvino(
    model_dir: str | os.PathLike[str], image_size: tuple[int, int], batch: int | None = None
) -> openvino.Model | None:
    """The folder's IR (read) when it was made from the folder's model as it is now, at `image_size`
    and `batch` (None = dynamic); None otherwise (missing, unreadable, stale or foreign)."""
    import openvino as ov

    xml, weights = openvino_paths(model_dir)
    if not (xml.is_file() and weights.is_file()):
        return None
    try:
        model = ov.Core().read_model(str(xml), str(weights))
    except Exception:  # noqa: BLE001 - a corrupt or foreign file is simply not current
        return None
    meta = rt_metadata(model)
    return model if is_current(meta, model_dir, image_size, batch, OPENVINO_FORMAT) else None


def openvino_runner(bundle: ModelBundle) -> OpenVinoPredictor:
    """The OpenVINO predictor of a bundle: its folder's IR when current, else a fresh export, kept
    beside the model when the folder is writable (else used from memory)."""
    model = bundle.model
    src = bundle.source
    batch = default_batch(model.name)
    if src is None:  # trained in this process, not saved: export to memory
        return OpenVinoPredictor(openvino_export(bundle, batch=batch).model)
    current = current_openvino(src, model.image_size, batch)
    if current is not None:
        return OpenVinoPredictor(current)
    ir = openvino_export(bundle, batch=batch, digest=source_digest(src))
    with contextlib.suppress(OSError):  # a read-only model folder: run from memory, export again next time
        write_ir(openvino_paths(src)[0], ir, error=OSError)
    return OpenVinoPredictor(ir.model)
