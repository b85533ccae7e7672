"""A product recipe: camera settings + model + preprocessing + post-processing + threshold history.

A Recipe is an immutable value; changing thresholds returns a new Recipe with the replaced values in
its history, and `RecipeStore.save` turns it into a new numbered version on disk (see recipes/).
`model_dir` is absolute, or relative to the product's folder in the store (where the store keeps its
own copy of every model, so older versions stay loadable after the user's `--out` folder is reused).
"""

from __future__ import annotations

import getpass
import json
import math
import os
import platform
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

import inspection_core
from inspection_core.calibration.history import (
    ThresholdEntry,
    apply_thresholds,
    now_iso,
    restore_thresholds,
)
from inspection_core.errors import AoiError
from inspection_core.inspector import Inspector, Preprocessing
from inspection_core.postprocess.settings import PostprocessSettings, check_number

FORMAT = "aoi-station-recipe"
FORMAT_VERSION = 1
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}")  # used with fullmatch: no trailing "\n"
# names Windows keeps for devices, with any extension ("CON.x" is CON): no folder can have them there
_WINDOWS_DEVICE_RE = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])", re.IGNORECASE)
MAX_JSON_BYTES = 1 << 20  # a recipe is a few kB; refuse anything that could only exhaust memory


class RecipeError(AoiError):
    """A recipe that cannot be saved, loaded, imported or used; the message says what to do."""


def check_name(name: str) -> str:
    """Product names become folder names: letters, digits, space, _ . - ; at most 64 characters."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name.endswith((" ", ".")):
        raise RecipeError(
            f"bad recipe name {name!r}: use 1-64 letters, digits, spaces, '_', '.' or '-' "
            "(starting with a letter or digit)"
        )
    if _WINDOWS_DEVICE_RE.fullmatch(name.split(".")[0].rstrip(" ")):
        raise RecipeError(
            f"bad recipe name {name!r}: CON, PRN, AUX, NUL, COM0-9 and LPT0-9 are device names on Windows "
            "(a recipe must import on every station)"
        )
    return name


def creation_info(source: str = "") -> dict[str, Any]:
    """Who/where/when a recipe was created (shown in `aoi recipe show` and the GUI)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    return {
        "time": now_iso(),
        "user": user,
        "host": platform.node(),
        "aoi_version": inspection_core.__version__,
        "source": source,
    }


def _refuse_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} (thresholds and settings must be finite)")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):  # 1e999 parses as inf
        raise ValueError(f"non-finite number {text} (thresholds and settings must be finite)")
    return v


def parse_json(raw: bytes, where: str, limit: int = MAX_JSON_BYTES) -> Any:
    """JSON from outside (a store file, an archive member): size-limited, UTF-8, finite numbers only.

    NaN and infinity would compare false against every threshold, so a part would pass: refused here.
    """
    if len(raw) > limit:
        raise RecipeError(f"{where}: file is larger than {limit >> 10} kB; not a recipe")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RecipeError(f"{where}: unreadable or corrupt JSON ({type(exc).__name__}: {exc})") from None
    except ValueError as exc:
        raise RecipeError(f"{where}: {exc}") from None


def read_json_file(path: Path, where: str, limit: int = MAX_JSON_BYTES) -> Any:
    """`parse_json` of a file whose size is checked before a byte is read (a 2 GB file is refused)."""
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size > limit:
                raise RecipeError(f"{where}: file is larger than {limit >> 10} kB; not a recipe")
            raw = fh.read(limit + 1)  # the file may grow after the check
    except OSError as exc:
        raise RecipeError(f"{where}: cannot read ({exc.strerror or exc})") from None
    return parse_json(raw, where, limit)


def _non_finite(value: Any, path: str) -> str | None:
    """The dotted path of the first NaN/inf number inside `value` (dicts and lists), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for k, v in items:
        hit = _non_finite(v, f"{path}.{k}" if path else str(k))
        if hit is not None:
            return hit
    return None


def _number(
    field_name: str,
    value: Any,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    integer: bool = False,
    optional: bool = False,
) -> None:
    """Range check of one setting; the message names the field and the allowed range."""
    if value is None and optional:
        return
    try:
        check_number(field_name, value, lo, hi, integer=integer, lo_open=lo_open)
    except ValueError:
        rng = (
            f"{'(' if lo_open else '['}{'-inf' if lo is None else f'{lo:g}'}, "
            f"{'inf' if hi is None else f'{hi:g}'}]"
        )
        what = "an integer" if integer else "a finite number"
        raise RecipeError(f"{field_name} must be {what} in {rng}, got {value!r}") from None


@dataclass(frozen=True)
class CameraSettings:
    """GenICam settings the product needs; None = leave the camera's current value."""

    exposure_us: float | None = None
    gain_db: float | None = None
    pixel_format: str | None = None
    width: int | None = None
    height: int | None = None
    offset_x: int = 0
    offset_y: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # other GenICam nodes by name
    frame_rate: float | None = None
    trigger_mode: str | None = None
    trigger_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "exposure_us": self.exposure_us,
            "gain_db": self.gain_db,
            "pixel_format": self.pixel_format,
            "width": self.width,
            "height": self.height,
            "offset_x": self.offset_x,
            "offset_y": self.offset_y,
            "extra": dict(self.extra),
            "frame_rate": self.frame_rate,
            "trigger_mode": self.trigger_mode,
            "trigger_source": self.trigger_source,
        }

    def to_configure(self) -> dict[str, Any]:
        """The settings a deploy writes to the camera (`camera.features.apply_settings`); None = leave."""
        d = self.to_dict()
        extra = d.pop("extra")
        return {**{k: v for k, v in d.items() if v is not None}, **extra}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> CameraSettings:
        d = d or {}
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass(frozen=True)
class Recipe:
    """Everything that defines how one product is inspected."""

    name: str
    model_dir: str
    camera: CameraSettings = field(default_factory=CameraSettings)
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    postprocess: PostprocessSettings = field(default_factory=PostprocessSettings)
    notes: str = ""
    created: dict[str, Any] = field(default_factory=dict)
    history: tuple[ThresholdEntry, ...] = ()
    version: int = 0  # 0 = not saved yet; set by the store
    saved_at: str = ""
    # the inference backend its thresholds were validated with ('torch', 'onnxruntime', 'openvino'; '' =
    # not recorded): the backends agree to ~1e-4 of a raw score (models.export), but an audit names the
    # one that ran
    backend: str = ""
    base_dir: Path | None = field(default=None, compare=False)  # folder model_dir is relative to

    def __post_init__(self) -> None:
        check_name(self.name)
        if not isinstance(self.model_dir, str) or not self.model_dir:
            raise RecipeError(f"recipe {self.name!r} has no model folder")
        try:
            self._check_settings()
        except RecipeError as exc:
            raise RecipeError(f"recipe {self.name!r}: {exc}") from None

    def _check_settings(self) -> None:
        """Refuse what would fail later or fail open (a NaN threshold passes every part)."""
        try:
            d = self.to_dict()
        except (AttributeError, TypeError, ValueError) as exc:
            raise RecipeError(f"settings are invalid ({type(exc).__name__}: {exc})") from None
        bad = _non_finite(d, "")
        if bad is not None:
            raise RecipeError(f"{bad} is not a finite number (NaN or infinity)")
        # preprocessing and postprocess check their own ranges when built (ValueError naming the field)
        cam = self.camera
        _number("camera.exposure_us", cam.exposure_us, 0.0, lo_open=True, optional=True)
        _number("camera.gain_db", cam.gain_db, optional=True)
        _number("camera.frame_rate", cam.frame_rate, 0.0, lo_open=True, optional=True)
        _number("camera.width", cam.width, 1, integer=True, optional=True)
        _number("camera.height", cam.height, 1, integer=True, optional=True)
        _number("camera.offset_x", cam.offset_x, 0, integer=True)
        _number("camera.offset_y", cam.offset_y, 0, integer=True)
        if not isinstance(self.backend, str):
            raise RecipeError(f"backend must be a name such as torch or onnxruntime, got {self.backend!r}")
        if cam.pixel_format is not None and not isinstance(cam.pixel_format, str):
            raise RecipeError(f"camera.pixel_format must be a name such as Mono8, got {cam.pixel_format!r}")
        for i, e in enumerate(self.history):
            _number(f"history.{i}.image_threshold", e.image_threshold)
            _number(f"history.{i}.pixel_threshold", e.pixel_threshold)
            _number(f"history.{i}.min_defect_area", e.min_defect_area, 0, integer=True)

    @property
    def model_path(self) -> Path:
        p = Path(self.model_dir)
        return p if p.is_absolute() or self.base_dir is None else self.base_dir / p

    def with_(self, **kw: Any) -> Recipe:
        return replace(self, **kw)

    # --- thresholds -----------------------------------------------------------------------
    def apply_thresholds(
        self,
        image_threshold: float | None = None,
        pixel_threshold: float | None = None,
        min_defect_area: int | None = None,
        note: str = "",
    ) -> Recipe:
        """A new Recipe with these thresholds; the replaced values go into the history."""
        try:
            pp, hist = apply_thresholds(
                self.postprocess, self.history, image_threshold, pixel_threshold, min_defect_area, note
            )
        except ValueError as exc:  # the settings' own range check names the field
            raise RecipeError(f"recipe {self.name!r}: postprocess.{exc}") from None
        return replace(self, postprocess=pp, history=hist)

    def restore_thresholds(self, index: int = -1) -> Recipe:
        """Back to history[index] (default: the values before the last apply); undoable too."""
        try:
            pp, hist = restore_thresholds(self.postprocess, self.history, index)
        except IndexError as exc:
            raise RecipeError(str(exc)) from None
        return replace(self, postprocess=pp, history=hist)

    # --- use ------------------------------------------------------------------------------
    def build_inspector(self, device: str | torch.device = "cpu", backend: str | None = None) -> Inspector:
        """Load the model and return a ready Inspector (ModelFileError names the problem); backend as
        `Inspector`'s (None = torch)."""
        from inspection_core.models.bundle import load_bundle
        from inspection_core.runtime.context import resolve_device

        bundle = load_bundle(self.model_path, resolve_device(device))
        return Inspector(bundle, self.postprocess, self.preprocessing, backend=backend)

    # --- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "saved_at": self.saved_at,
            "model_dir": self.model_dir,
            "camera": self.camera.to_dict(),
            "preprocessing": self.preprocessing.to_dict(),
            "postprocess": self.postprocess.to_dict(),
            "notes": self.notes,
            "created": dict(self.created),
            "history": [e.to_dict() for e in self.history],
            "backend": self.backend,
        }

    @classmethod
    def from_dict(cls, d: Any, base_dir: Path | None = None, where: str = "recipe") -> Recipe:
        """Parse and check a recipe; every problem is a RecipeError naming `where`."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise RecipeError(f"{where}: not an aoi-station recipe")
        fv = d.get("format_version")
        if not isinstance(fv, int) or fv > FORMAT_VERSION:
            raise RecipeError(
                f"{where}: recipe format {fv} is newer than this aoi-station understands "
                f"({FORMAT_VERSION}); update aoi-station"
            )
        parts: dict[str, Any] = {}
        for key, parse in (
            ("camera", CameraSettings.from_dict),
            ("preprocessing", Preprocessing.from_dict),
            ("postprocess", PostprocessSettings.from_dict),
        ):
            raw = d.get(key)
            if raw is not None and not isinstance(raw, dict):
                raise RecipeError(f"{where}: {key} must be a JSON object")
            try:
                parts[key] = parse(raw or {})
            except RecipeError:
                raise
            except (KeyError, TypeError, ValueError, AttributeError) as exc:  # their own range checks
                raise RecipeError(f"{where}: {key} is invalid ({exc})") from None
        try:
            return cls(
                name=str(d["name"]),
                model_dir=str(d["model_dir"]),
                notes=str(d.get("notes", "")),
                created=dict(d.get("created") or {}),
                history=tuple(ThresholdEntry.from_dict(e) for e in d.get("history", [])),
                version=int(d.get("version", 0)),
                saved_at=str(d.get("saved_at", "")),
                backend=str(d.get("backend", "")),
                base_dir=base_dir,
                **parts,
            )
        except RecipeError as exc:
            raise RecipeError(f"{where}: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RecipeError(f"{where}: recipe is invalid ({type(exc).__name__}: {exc})") from None
