"""A source's features as one tree (the GenICam node map, or a plain source's settings), Qt-free.

The camera panel and the feature tree read this, never Harvesters: a `Feature` is a snapshot
(name, type, access mode, value, range, choices, why it cannot be used) taken on the thread that
owns the source. Features a device lacks are still listed among the standard settings, as
`access="NI"` with a one-line `reason`, so a widget can show them disabled and say why.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from inspection_core.errors import CameraError

ACCESS_NAMES = {0: "NI", 1: "NA", 2: "WO", 3: "RO", 4: "RW"}  # genapi.EAccessMode
VISIBILITY_NAMES = {0: "Beginner", 1: "Expert", 2: "Guru", 3: "Invisible"}
# GenApi interface types that are plumbing, not features
_HIDDEN_TYPES = ("IEnumEntry", "IPort", "IRegister")


@dataclass(frozen=True)
class StandardSetting:
    """One setting of the pylon-Viewer-like panel: our key, its label, and the SFNC names to try."""

    key: str
    label: str
    names: tuple[str, ...]


STANDARD: tuple[StandardSetting, ...] = (
    StandardSetting("exposure_us", "Exposure", ("ExposureTime", "ExposureTimeAbs")),
    StandardSetting("gain_db", "Gain", ("Gain", "GainAbs")),
    StandardSetting("pixel_format", "Pixel format", ("PixelFormat",)),
    StandardSetting("frame_rate", "Frame rate", ("AcquisitionFrameRate", "AcquisitionFrameRateAbs")),
    StandardSetting("trigger_mode", "Trigger mode", ("TriggerMode",)),
    StandardSetting("trigger_source", "Trigger source", ("TriggerSource",)),
    StandardSetting("trigger_software", "Software trigger", ("TriggerSoftware",)),
    StandardSetting("width", "Width", ("Width",)),
    StandardSetting("height", "Height", ("Height",)),
    StandardSetting("offset_x", "Offset X", ("OffsetX",)),
    StandardSetting("offset_y", "Offset Y", ("OffsetY",)),
)
STANDARD_KEYS = tuple(s.key for s in STANDARD)
# the order a recipe's settings are written in: the buffer layout first, offsets after the size
APPLY_ORDER = ("pixel_format", "width", "height", "offset_x", "offset_y", "frame_rate")


@dataclass(frozen=True)
class Feature:
    """One node of the tree. `access`: RW, RO, WO, NA (not available now) or NI (not implemented)."""

    name: str
    type: str  # Category, Integer, Float, Enumeration, Boolean, String, Command
    access: str = "RW"
    display_name: str = ""
    value: Any = None
    min: Any = None
    max: Any = None
    inc: Any = None
    unit: str = ""
    choices: tuple[str, ...] = ()
    description: str = ""
    visibility: str = "Beginner"
    reason: str = ""  # why it cannot be read or written ("" when it can)
    children: tuple[Feature, ...] = field(default_factory=tuple)

    @property
    def label(self) -> str:
        return self.display_name or self.name

    @property
    def readable(self) -> bool:
        return self.access in ("RO", "RW")

    @property
    def writable(self) -> bool:
        return self.access in ("RW", "WO")

    def walk(self) -> list[Feature]:
        """This node and every node under it, depth first."""
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out

    def find(self, name: str) -> Feature | None:
        return next((f for f in self.walk() if f.name == name and f.type != "Category"), None)


def _reason(access: str, what: str) -> str:
    return {
        "RO": f"{what} is read-only",
        "WO": f"{what} is write-only (its value cannot be read)",
        "NA": f"{what} is not available now (it depends on another setting or the acquisition state)",
        "NI": f"{what} is not implemented by this device",
    }.get(access, "")


def _node_feature(n: Any, owner: str) -> Feature | None:
    """A Feature from one Harvesters node (duck-typed GenApi interface); None for plumbing nodes."""
    kind = type(n).__name__
    node = n.node
    if kind in _HIDDEN_TYPES or not node.is_feature():
        return None
    try:
        access = ACCESS_NAMES.get(int(n.get_access_mode()), "NA")
    except Exception:  # noqa: BLE001 - a node that cannot even say its access mode is unusable now
        access = "NA"
    vis = VISIBILITY_NAMES.get(int(node.visibility), "Guru")
    info: dict[str, Any] = {
        "name": str(node.name),
        "type": kind[1:],
        "access": access,
        "display_name": str(node.display_name or node.name),
        "description": str(node.tooltip or node.description or ""),
        "visibility": vis,
        "reason": _reason(access, f"{node.name} of {owner}"),
    }
    if kind == "ICategory":
        info["access"], info["reason"] = "RO", ""
        kids = []
        for c in n.features:
            f = _node_feature(c, owner)
            if f is not None and f.visibility != "Invisible":
                kids.append(f)
        info["children"] = tuple(kids)
        return Feature(**info)
    if access in ("RO", "RW") and kind != "ICommand":
        with contextlib.suppress(Exception):  # a node may turn unreadable between the two calls
            info["value"] = n.value
            if kind in ("IInteger", "IFloat"):
                info["min"], info["max"] = n.min, n.max
                info["unit"] = str(getattr(n, "unit", "") or "")
                with contextlib.suppress(Exception):
                    info["inc"] = n.inc if kind == "IInteger" or n.has_inc() else None
            elif kind == "IEnumeration":
                info["choices"] = tuple(str(s) for s in n.symbolics)
    return Feature(**info)


def node_map_tree(node_map: Any, owner: str = "the camera") -> Feature:
    """The visible feature tree of a GenICam node map, from its `Root` category."""
    try:
        root = node_map.Root
    except AttributeError:
        raise CameraError(f"{owner} has no feature tree (no Root category in its node map)") from None
    tree = _node_feature(root, owner)
    assert tree is not None  # Root is a category, always a feature
    return tree


@dataclass(frozen=True)
class SettingLimits:
    """What a plain source (simulated web, replay) says about one of its settings."""

    min: float | None = None
    max: float | None = None
    unit: str = ""
    choices: tuple[str, ...] = ()
    integer: bool = False


def settings_tree(settings: dict[str, Any], limits: dict[str, SettingLimits], owner: str) -> Feature:
    """The tree of a source without a node map: one category of its settings (all read-write)."""
    labels = {s.key: s.label for s in STANDARD}
    kids = []
    for key, value in settings.items():
        lim = limits.get(key, SettingLimits())
        if lim.choices:
            kind = "Enumeration"
        elif isinstance(value, bool):
            kind = "Boolean"
        elif isinstance(value, int) or lim.integer:
            kind = "Integer"
        elif isinstance(value, float):
            kind = "Float"
        else:
            kind = "String"
        kids.append(
            Feature(
                name=key,
                type=kind,
                access="RW" if key in limits else "RO",
                display_name=labels.get(key, key.replace("_", " ").capitalize()),
                value=value,
                min=lim.min,
                max=lim.max,
                unit=lim.unit,
                choices=lim.choices,
                reason="" if key in limits else f"{key} of {owner} is read-only",
            )
        )
    return Feature(name="Root", type="Category", access="RO", display_name=owner, children=tuple(kids))


def standard_features(tree: Feature, owner: str) -> dict[str, Feature]:
    """The panel's settings found in `tree` (by SFNC name, or by our key for plain sources); those the
    device lacks come back as access NI with the reason, e.g. 'Viky has no ExposureTime feature'."""
    out: dict[str, Feature] = {}
    for s in STANDARD:
        found = next((f for name in (s.key, *s.names) if (f := tree.find(name)) is not None), None)
        if found is None:
            found = Feature(
                name=s.names[0],
                type="Command" if s.key == "trigger_software" else "Float",
                access="NI",
                display_name=s.label,
                reason=f"{owner} has no {s.names[0]} feature",
            )
        out[s.key] = found
    return out


def apply_settings(source: Any, settings: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Write a recipe's camera settings to an open source, one at a time; returns (applied, problems).

    A setting the device lacks, or a value it refuses, is a one-line problem, not a failure: the line
    keeps running with the camera's own value and the operator is told. None means 'leave it'; an
    offset of 0 on a device without offsets is nothing to say.
    """
    todo = {k: v for k, v in settings.items() if v is not None}
    order = [k for k in APPLY_ORDER if k in todo] + [k for k in todo if k not in APPLY_ORDER]
    applied: dict[str, Any] = {}
    problems: list[str] = []
    label = getattr(getattr(source, "info", None), "label", "the camera")
    if "width" in todo or "height" in todo:  # a new size may not fit the old offsets
        with contextlib.suppress(CameraError):
            source.configure(offset_x=0, offset_y=0)
    for key in order:
        value = todo[key]
        try:
            applied.update(source.configure(**{key: value}))
        except CameraError as exc:
            if key in ("offset_x", "offset_y") and value == 0:
                continue
            problems.append(f"{label}: recipe's {key}={value!r} not applied ({exc})")
    return applied, problems
