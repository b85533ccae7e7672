"""A trained model on disk: `model.safetensors` (tensors) + `model.json` (name, versions, config,
normalisation, training info). No pickle: a model file is input from outside and must not run code.

Everything read from a model folder is checked before it is used: a `model.json` over
`MAX_META_BYTES` is refused unread, its fields are type-checked, and a NaN or infinity in the
normalisation, the config or the tensors is refused (NaN compares false against every threshold, so such
a model would pass every part).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
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
from inspection_core.runtime.atomic import fsync_path

try:  # advisory locks keep a save from cleaning up after another one still at work (POSIX only)
    import fcntl
except ImportError:  # pragma: no cover - Windows: saves into one folder are not serialised
    fcntl = None  # type: ignore[assignment]

FORMAT = "aoi-station-model"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
META = "model.json"
EXPORT = "model.onnx"  # an ONNX export of the model beside it (models.export), made from these two files
# its OpenVINO IR beside it (models.openvino_backend), converted from that ONNX export
OPENVINO_EXPORT = ("model.openvino.xml", "model.openvino.bin")
MAX_META_BYTES = 16 << 20  # a model.json is a few kB; anything this large could only exhaust memory
# names of our own leftovers beside a model folder: a save's temp folder and the previous copy
_TMP_RE = re.compile(r"^\.(?P<name>.+)\.tmp-[A-Za-z0-9_]{8}$")
_OLD_RE = re.compile(r"^\.(?P<name>.+)\.old$")


@dataclass
class ModelBundle:
    """A model together with what makes its output meaningful: normalisation and provenance."""

    model: AnomalyModel
    normalization: Normalization
    info: dict[str, Any] = field(default_factory=dict)
    # the folder it was loaded from (None: trained in this process), where an ONNX export is cached
    source: Path | None = field(default=None, compare=False)
    # what runs predict instead of the torch model (models.backends.with_backend), e.g. ONNX Runtime
    runner: Any = field(default=None, repr=False, compare=False)
    _graphed: GraphedPredict | None = field(default=None, init=False, repr=False, compare=False)
    _graphed_frame: GraphedPredict | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def backend(self) -> str:
        """What runs predict: 'torch', or the runner's name (e.g. 'onnxruntime')."""
        return "torch" if self.runner is None else str(self.runner.name)

    def predict(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """model.predict through the backend's runner when there is one; else replayed from CUDA graphs
        on a GPU when the model allows it (batch-1 latency is then the GPU's time, not the launch
        overhead of its ~100 kernels)."""
        if self.runner is not None:
            return self.runner.predict(batch)
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


# --- the output folder ---------------------------------------------------------------------------
def is_model_folder(directory: str | os.PathLike[str]) -> bool:
    """A folder an earlier save of ours made: its model.json is ours (readable, our format)."""
    try:
        read_meta(directory)
    except ModelFileError:
        return False
    return True


def check_output_folder(directory: str | os.PathLike[str]) -> Path:
    """The folder a model may be saved to, resolved; ModelFileError when saving would destroy anything.

    Allowed: a new folder, an empty one, or an earlier model folder of ours (replaced as a whole; a folder
    holding nothing but model.json / model.safetensors counts, even when they are corrupt). Anything
    else — a folder with other files (the training images!), a file, the current folder — is refused, so
    the CLI can say so before training instead of after it.
    """
    target = Path(directory).expanduser().resolve()
    if target.parent == target:
        raise ModelFileError(f"cannot save a model as {target}: give a folder for the model")
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise ModelFileError(
            f"cannot save a model to {target}: it holds the current folder; give a new folder"
        )
    if target.exists() and not target.is_dir():
        raise ModelFileError(f"cannot save a model to {target}: it exists and is not a folder")
    if target.is_dir():
        try:
            next(target.iterdir(), None)  # readable? (an unreadable folder must not count as ours)
        except OSError as exc:
            raise ModelFileError(f"cannot save a model to {target}: {exc.strerror or exc}") from None
        # our files only (a model whose model.json broke: nothing else to lose), or a model of ours
        if not _holds_only_ours(target) and not is_model_folder(target):
            raise ModelFileError(
                f"{target} exists and is not a model folder: give a new or empty folder "
                "(an earlier model folder is replaced; other folders are never overwritten)"
            )
    return target


@contextlib.contextmanager
def _locked(directory: Path, blocking: bool = True) -> Iterator[bool]:
    """An advisory lock on a folder (flock on its descriptor): yields whether it was taken. Where locks
    are not supported the caller goes on unlocked (True)."""
    if fcntl is None:
        yield True
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        yield not blocking  # gone or unreadable: a cleaner leaves it alone, a saver goes on
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            taken = True
        except BlockingIOError:
            taken = False
        except OSError:  # a file system without locks
            taken = blocking
        yield taken
    finally:
        os.close(fd)  # closing releases the lock


def _holds_only_ours(d: Path) -> bool:
    """Nothing in `d` but our files (model.json, model.safetensors, an export; plain files, no links):
    removing it loses nothing else."""
    try:
        return all(
            p.name in (META, WEIGHTS, EXPORT, *OPENVINO_EXPORT) and p.is_file() and not p.is_symlink()
            for p in d.iterdir()
        )
    except OSError:
        return False


def clean_leftovers(parent: Path) -> list[str]:
    """Remove what a killed save left in `parent` (call it holding the parent's lock); returns the names.

    Only our own dot-prefixed names are touched: `.NAME.tmp-XXXXXXXX` temp folders that no save is
    writing now (their lock is free), and `.NAME.old` previous copies whose NAME is in place again. A
    `.NAME.old` without NAME (a kill between the two renames of a replace) is put back as NAME.
    """
    done = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return done
    for p in entries:
        tmp, old = _TMP_RE.match(p.name), _OLD_RE.match(p.name)
        if not (tmp or old) or p.is_symlink() or not p.is_dir():
            continue
        if tmp:
            with _locked(p, blocking=False) as free:
                if free and _holds_only_ours(p):
                    shutil.rmtree(p, ignore_errors=True)
                    done.append(p.name)
        elif old and is_model_folder(p):
            live = parent / old.group("name")
            try:
                if live.exists() or live.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.rename(live)
                done.append(p.name)
            except OSError:
                pass
    return done


def _non_finite_tensor(tensors: dict[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding a NaN or an infinity, if any."""
    for k, t in tensors.items():
        if (t.is_floating_point() or t.is_complex()) and t.numel() and not bool(torch.isfinite(t).all()):
            return k
    return None


def save_bundle(bundle: ModelBundle, directory: str | os.PathLike[str]) -> Path:
    """Write atomically: files go to a temp folder beside the target, which then replaces it.

    The target must be new, empty or an earlier model folder (check_output_folder); a model whose
    normalisation or tensors hold a NaN or an infinity is refused. Files and folders are fsynced, and
    the previous copy is removed only after the new one is in place.
    """
    target = check_output_folder(directory)
    model = bundle.model
    if not bundle.normalization.is_finite():
        raise ModelFileError(
            f"not saved to {target}: the model's calibration is not a number (NaN or infinity); "
            "its output on the held-out good images was not finite — retrain it"
        )
    tensors = model.tensors_to_save()
    bad = _non_finite_tensor(tensors)
    if bad is not None:
        raise ModelFileError(f"not saved to {target}: tensor {bad} holds NaN or infinity — retrain the model")
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
    bad = _non_finite({k: meta[k] for k in ("config", "normalization", "extra")}, "model")
    if bad is not None:  # would be refused at load
        raise ModelFileError(f"not saved to {target}: {bad} is not a finite number (NaN or infinity)")
    text = json.dumps(meta, indent=2)
    parent = target.parent
    tmp: Path | None = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
        # the temp folder stays locked until it is in place, so a concurrent save's cleanup leaves it
        # alone; the parent's lock makes one replace at a time in a folder (lock order: temp, parent)
        with _locked(tmp):
            save_file(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT, "model": model.name})
            with open(tmp / META, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            fsync_path(tmp / WEIGHTS)
            fsync_path(tmp)
            with _locked(parent):
                clean_leftovers(parent)
                check_output_folder(target)  # still ours, or still empty, now that we hold the lock
                if target.is_dir() and next(target.iterdir(), None) is not None:
                    old = parent / f".{target.name}.old"
                    shutil.rmtree(old, ignore_errors=True)
                    target.rename(old)
                    tmp.rename(target)
                    fsync_path(parent)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(tmp, target)  # a new name, or an empty folder (rename replaces it)
                fsync_path(parent)
    except OSError as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise ModelFileError(f"cannot save model to {target}: {exc.strerror or exc}") from exc
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


# --- reading -------------------------------------------------------------------------------------
def _read_json_limited(path: Path) -> Any:
    """model.json, refused unread when over MAX_META_BYTES (a 2 GB file must not be parsed)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > MAX_META_BYTES:
            raise ModelFileError(
                f"model description is too large ({size >> 20} MB > {MAX_META_BYTES >> 20} MB): {path}"
            )
        raw = fh.read(MAX_META_BYTES + 1)  # the file may grow after the check
    if len(raw) > MAX_META_BYTES:
        raise ModelFileError(f"model description is too large (> {MAX_META_BYTES >> 20} MB): {path}")
    return json.loads(raw.decode("utf-8"))


def read_meta(directory: str | os.PathLike[str]) -> dict[str, Any]:
    d = Path(directory)
    if not d.is_dir():
        raise ModelFileError(f"model folder not found: {d}")
    try:
        meta = _read_json_limited(d / META)
    except FileNotFoundError:
        raise ModelFileError(f"not a model folder (no {META}): {d}") from None
    except IsADirectoryError:
        raise ModelFileError(f"not a model folder ({META} is a folder): {d}") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read {d / META}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelFileError(f"model description is corrupt: {d / META} ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"not an aoi-station model: {d / META}")
    fv = meta.get("format_version")
    if not isinstance(fv, int) or isinstance(fv, bool) or fv > FORMAT_VERSION:
        raise ModelFileError(
            f"model file format {fv} is newer than this aoi-station understands ({FORMAT_VERSION}); update aoi-station"
        )
    return meta


def _non_finite(value: Any, where: str) -> str | None:
    """The JSON path of the first NaN or infinity in `value` (dicts and lists walked), or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else where
    if isinstance(value, dict):
        for k, v in value.items():
            if (bad := _non_finite(v, f"{where}.{k}")) is not None:
                return bad
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if (bad := _non_finite(v, f"{where}[{i}]")) is not None:
                return bad
    return None


def _section(
    meta: dict[str, Any], key: str, d: Path, required: bool = False, finite: bool = True
) -> dict[str, Any]:
    """A dict-valued field of model.json, checked for type and (unless finite=False) NaN/infinity."""
    if key not in meta:
        if required:
            raise ModelFileError(f"{d}: model description is invalid (no {key!r})")
        return {}
    value = meta[key]
    if not isinstance(value, dict):
        raise ModelFileError(f"{d}: model description is invalid ({key!r} must be an object)")
    bad = _non_finite(value, key) if finite else None
    if bad is not None:
        raise ModelFileError(f"{d}: model description is invalid ({bad} is not a finite number)")
    return value


def load_bundle(directory: str | os.PathLike[str], device: str | torch.device = "cpu") -> ModelBundle:
    """Load a saved model; any mismatch (unknown model, other version, wrong types, corrupt or non-finite
    tensors) is a ModelFileError with one line, never a traceback."""
    from inspection_core.models.registry import get_model_info

    d = Path(directory)
    meta = read_meta(d)
    name = meta.get("model")
    if not isinstance(name, str):
        raise ModelFileError(f"{d}: model description is invalid (no model name)")
    try:
        info = get_model_info(name)
    except UnknownModelError as exc:
        raise ModelFileError(f"{d}: {exc}") from None
    saved_v, have_v = meta.get("model_version"), info.cls.version
    if saved_v != have_v:
        raise ModelFileError(
            f"{d}: saved by {name} version {saved_v}, this aoi-station has version {have_v}; retrain the model"
        )
    config_d = _section(meta, "config", d)
    norm_d = _section(meta, "normalization", d, required=True)
    extra = _section(meta, "extra", d)
    saved_info = _section(
        meta, "info", d, finite=False
    )  # provenance; thresholds in it are checked where read
    try:
        config = info.cls.Config.from_saved(config_d)
        norm = Normalization.from_dict(norm_d)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{d}: model description is invalid ({exc})") from None
    try:
        tensors = load_file(str(d / WEIGHTS))
    except FileNotFoundError:
        raise ModelFileError(f"{d}: weights file {WEIGHTS} is missing") from None
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise ModelFileError(f"{d}: weights file is corrupt ({exc})") from None
    bad = _non_finite_tensor(tensors)
    if bad is not None:
        raise ModelFileError(
            f"{d}: weights are not finite (tensor {bad} holds NaN or infinity); retrain the model"
        )
    try:
        model = info.cls(config)
    except (ValueError, TypeError, IndexError, KeyError, RuntimeError) as exc:
        raise ModelFileError(f"{d}: the {name} options in {META} are invalid ({exc})") from None
    try:
        model.load_saved_tensors(tensors)
        model.load_extra_state(extra)
    except (KeyError, RuntimeError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise ModelFileError(f"{d}: weights do not match the {name} model ({exc})") from None
    model.to(torch.device(device) if not isinstance(device, torch.device) else device).eval()
    return ModelBundle(model, norm, saved_info, source=d.resolve())
