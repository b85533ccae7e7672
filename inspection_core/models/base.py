"""The AnomalyModel contract every model implements (shape after anomalib's and timm's).

A model sees float32 RGB tensors in [0, 1] of shape (N, 3, H, W) at `config.image_size`; it returns
raw anomaly maps (N, H, W) at the same size and raw image scores (N,). Normalisation, thresholds,
masks and defects are the post-processor's job, not the model's.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import typing
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from inspection_core.runtime.context import FitContext


def option(default: Any, help: str, **kw: Any) -> Any:  # noqa: A002 - mirrors argparse
    """A config field with a help text (shown by `aoi train --help-model` and the GUI's options form)."""
    if isinstance(default, list | dict):
        import copy

        return field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


def coerce_option(value: str, default: Any) -> Any:
    """A typed option value from text, after the option's default: '1'/'true' for flags, '128x128' or
    '4,10' for tuples (the CLI's `--name VALUE` and a fusion's member options)."""
    if isinstance(default, bool):
        return value.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    if isinstance(default, tuple):
        parts = [p for p in value.replace("x", ",").split(",") if p]
        kind = type(default[0]) if default else int
        return tuple(kind(p) for p in parts)
    return value


@dataclass
class ModelConfig:
    """Options common to every model. Subclasses add their own fields with `option(...)`."""

    image_size: tuple[int, int] = option((256, 256), "model input (height, width) in pixels")

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_saved(cls, d: dict[str, Any]) -> ModelConfig:
        """The config of a saved model: an option missing from an older file takes the value it had
        before the option existed (`saved_defaults`), not today's default, so the model behaves as saved."""
        return cls.from_dict({**cls.saved_defaults, **d})

    # option → value that reproduces models saved before the option existed (when its default differs)
    saved_defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """A config from options (a model.json, the CLI, the GUI's form): unknown names, values of the
        wrong type, NaN/infinity and non-positive image sizes are a ValueError naming the option."""
        if not isinstance(d, dict):
            raise ValueError(f"options must be an object, got {type(d).__name__}")
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(d) - set(names)
        if unknown:
            raise ValueError(f"unknown option(s) for {cls.__name__}: {', '.join(sorted(map(str, unknown)))}")
        hints = _field_types(cls)
        kw = {k: _checked(k, v, hints.get(k), _default_of(names[k])) for k, v in d.items()}
        size = kw.get("image_size")
        if size is not None and not all(1 <= int(s) <= MAX_IMAGE_SIDE for s in size):
            raise ValueError(f"image_size must be 1..{MAX_IMAGE_SIDE} px a side, got {list(size)}")
        return cls(**kw)


MAX_IMAGE_SIDE = 16384  # a model input larger than this could only exhaust memory


def _field_types(cls: type) -> dict[str, Any]:
    """The config's field annotations resolved (they are strings under `from __future__ import annotations`)."""
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an unresolvable annotation: fall back on the defaults' types
        return {}


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _scalar(name: str, v: Any, kind: Any) -> Any:
    """One value checked against a scalar type (int, float, bool, str): JSON numbers of an int-valued
    float (3.0) are not ints, and bools are not numbers."""
    if kind is bool:
        if not isinstance(v, bool):
            raise ValueError(f"option {name} must be true or false, got {v!r}")
        return v
    if kind is int:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ValueError(f"option {name} must be a whole number, got {v!r}")
        return int(v)
    if kind is float:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"option {name} must be a finite number, got {v!r}")
        return float(v)
    if kind is str:
        if not isinstance(v, str):
            raise ValueError(f"option {name} must be text, got {v!r}")
        return v
    return v  # a type this check does not know: left to the model


def _checked(name: str, v: Any, hint: Any, default: Any) -> Any:
    """`v` checked against the field's annotation (or, without one, its default's type); tuples come
    from JSON lists."""
    origin = typing.get_origin(hint)
    if hint is None:  # no annotation: the default's type
        if isinstance(default, tuple):
            origin, args = tuple, ((type(default[0]), ...) if default else ())
        else:
            return _scalar(name, v, type(default) if default is not None else None)
    else:
        args = typing.get_args(hint)
    if origin is tuple:
        if not isinstance(v, list | tuple):
            raise ValueError(f"option {name} must be a list, got {v!r}")
        if not args:
            kinds: list[Any] = [None] * len(v)
        elif args[-1] is Ellipsis:
            kinds = [args[0]] * len(v)
        else:
            kinds = list(args)
            if len(v) != len(args):
                raise ValueError(f"option {name} must have {len(args)} values, got {list(v)}")
        return tuple(_scalar(f"{name}[{i}]", x, k) for i, (x, k) in enumerate(zip(v, kinds, strict=True)))
    if origin is not None:  # a union or a generic this check does not know: left to the model
        return v
    return _scalar(name, v, hint)


class AnomalyModel(nn.Module):
    """Base class: fit on good images only, predict raw maps and scores.

    Subclasses set `Config`, bump `version` whenever their saved tensors change meaning, and list in
    `pretrained_prefixes` the state-dict prefixes that come from shipped pretrained weights (those are
    rebuilt from the package at load time instead of being copied into every model file).
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    version: ClassVar[int] = 1
    pretrained_prefixes: ClassVar[tuple[str, ...]] = ()
    # predict has no host sync and no CPU→GPU copy, so it can be captured as a CUDA graph
    graph_safe: ClassVar[bool] = False
    # largest input (batch × H × W pixels) replayed from a graph: a graph keeps the memory of its
    # activations for good, and beyond small batches launches no longer dominate (NDP-Net batch 32:
    # 30.4 ms graph-replayed vs 31.6 eager on an H200, docs/results.md)
    graph_max_pixels: ClassVar[int] = 8 * 256 * 256
    # predict takes any input size and is translation-equivariant away from the borders, so a large
    # frame can go through it whole instead of as overlapping tiles (Preprocessing.whole_frame)
    any_size: ClassVar[bool] = False
    # its training can end early on FitContext.stop_at and save where its schedule stands
    # (`extra_state()["schedule"]`), so `aoi train --resume` continues that schedule in a later run
    resumable: ClassVar[bool] = False

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else self.Config()

    @property
    def image_size(self) -> tuple[int, int]:
        h, w = self.config.image_size
        return int(h), int(w)

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    def predict_frame(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(maps, scores) for whole native frames (any_size models, Preprocessing.whole_frame): the
        score is the map's peak. Override to skip work that only the image score needs."""
        maps, _ = self.predict(batch)
        return maps, maps.flatten(1).amax(1)

    @abstractmethod
    def fit(self, images: torch.Tensor, ctx: FitContext) -> None:
        """Learn normality from (N, 3, H, W) float images in [0, 1] (CPU tensor; move batches yourself).

        Call ctx.report(...) at least once a second (it also raises CancelledError on cancel).
        Leave the model in eval mode on ctx.device.
        """

    @abstractmethod
    def predict(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw anomaly maps (N, H, W) at input size and raw image scores (N,), higher = more anomalous."""

    def extra_state(self) -> dict[str, Any]:
        """JSON-able state saved beside the tensors (e.g. a chosen reference index)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Inverse of extra_state."""

    # --- serialisation helpers -------------------------------------------------------------
    def tensors_to_save(self) -> dict[str, torch.Tensor]:
        sd = self.state_dict()
        keep = {k: v for k, v in sd.items() if not k.startswith(self.pretrained_prefixes or ("\0",))}
        return {k: v.detach().to("cpu").contiguous() for k, v in keep.items()}

    def load_saved_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Load tensors saved by `tensors_to_save`; buffers whose size depends on the data are resized."""
        own = self.state_dict()
        expected = {k for k in own if not k.startswith(self.pretrained_prefixes or ("\0",))}
        missing, unexpected = expected - set(tensors), set(tensors) - expected
        if missing or unexpected:
            raise KeyError(
                f"tensor names differ: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
            )
        for k, v in tensors.items():
            if own[k].shape != v.shape:
                self._replace_buffer(k, v)
        merged = dict(own)
        merged.update(tensors)
        self.load_state_dict(merged, strict=True)

    def _replace_buffer(self, key: str, value: torch.Tensor) -> None:
        mod_path, _, name = key.rpartition(".")
        mod = self.get_submodule(mod_path) if mod_path else self
        if name in dict(mod.named_buffers(recurse=False)):
            mod.register_buffer(name, torch.empty_like(value, device=value.device))
        else:
            raise KeyError(f"shape of {key} differs: saved {tuple(value.shape)}")
