"""Model registry (like timm's): @register_model, create_model(name, **options), list_models()."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from inspection_core.errors import UnknownModelError
from inspection_core.models.base import AnomalyModel


@dataclass(frozen=True)
class Preset:
    """A named option set a model declares (e.g. PatchCore's `plain`, the textbook floor), so the CLI,
    the suite and the GUI name one configuration instead of repeating a dozen options.

    `holdout`: the share of good images the preset keeps out of the fit for calibration (None = the
    caller's choice); it is a property of the recipe, not of the model, so it is not a config option.
    """

    summary: str
    options: Mapping[str, Any]
    holdout: float | None = None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    cls: type[AnomalyModel]
    summary: str
    fast: bool
    paper: str
    presets: Mapping[str, Preset] = field(default_factory=dict)

    def preset(self, name: str) -> Preset:
        """A declared preset by name; an unknown name is a clear error listing the known ones."""
        try:
            return self.presets[name]
        except KeyError:
            known = ", ".join(self.presets) or "none"
            raise UnknownModelError(f"model {self.name!r} has no preset {name!r}; presets: {known}") from None

    @property
    def options(self) -> list[tuple[str, Any, str]]:
        """(name, default, help) for each config option, in declaration order."""
        import dataclasses

        out = []
        cfg = self.cls.Config()
        for f in dataclasses.fields(cfg):
            out.append((f.name, getattr(cfg, f.name), f.metadata.get("help", "")))
        return out


# Filled by the built-in models as `inspection_core/models/__init__.py` imports them. Python runs that
# package's __init__ before any module inside it, so by the time list_models or create_model can be
# called every built-in model is here; this module never imports the package (that was an import cycle).
_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str,
    summary: str,
    *,
    fast: bool = False,
    paper: str = "",
    presets: Mapping[str, Preset] | None = None,
) -> Callable[[type[AnomalyModel]], type[AnomalyModel]]:
    """Class decorator: makes the model reachable by `name` from the CLI, the GUI and the tests."""

    def deco(cls: type[AnomalyModel]) -> type[AnomalyModel]:
        if name in _REGISTRY and _REGISTRY[name].cls is not cls:
            raise ValueError(f"model name {name!r} registered twice")
        for pname, preset in (presets or {}).items():  # a typo in a preset fails at import, not in use
            cls.Config.from_dict(dict(preset.options))
            if not pname.isidentifier():
                raise ValueError(f"preset name {pname!r} of {name!r} must be one word")
        cls.name = name
        _REGISTRY[name] = ModelInfo(name, cls, summary, fast, paper, dict(presets or {}))
        return cls

    return deco


def list_models() -> list[ModelInfo]:
    """Registered models, fast ones first, then by name."""
    return sorted(_REGISTRY.values(), key=lambda m: (not m.fast, m.name))


def get_model_info(name: str) -> ModelInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(m.name for m in list_models())
        raise UnknownModelError(f"unknown model {name!r}; registered models: {known}") from None


def create_model(name: str, **options: Any) -> AnomalyModel:
    """Build a model by name; unknown option names are a clear error."""
    info = get_model_info(name)
    try:
        return info.cls(info.cls.Config.from_dict(options))
    except (TypeError, ValueError) as exc:  # unknown option names or values the model rejects
        raise UnknownModelError(f"model {name!r}: {exc}") from None
