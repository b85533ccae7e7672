"""Model picker and options form, built from the registry (the default fast model first).

Every option shows its default and help text from `option(default, help)`; `options()` returns only the
values the user changed, so a model's own defaults (and their auto rules) stay in charge otherwise.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from inspection_core.errors import AoiError
from inspection_core.inspector import Preprocessing
from inspection_core.models.registry import ModelInfo, list_models


class OptionError(AoiError):
    """An option value that cannot be parsed (the message names the option)."""


def _editor(default: Any) -> QWidget:
    if isinstance(default, bool):
        w = QCheckBox()
        w.setChecked(default)
    elif isinstance(default, int):
        w = QSpinBox()
        w.setRange(-1_000_000_000, 1_000_000_000)
        w.setValue(default)
    elif isinstance(default, float):
        w = QDoubleSpinBox()
        w.setDecimals(4)
        w.setRange(-1e9, 1e9)
        w.setValue(default)
    else:
        text = ", ".join(map(str, default)) if isinstance(default, tuple | list) else str(default)
        w = QLineEdit(text)
    return w


def _value(w: QWidget, default: Any, name: str) -> Any:
    if isinstance(w, QCheckBox):
        return w.isChecked()
    if isinstance(w, QSpinBox | QDoubleSpinBox):
        return w.value()
    text = w.text().strip()  # type: ignore[attr-defined]
    if isinstance(default, tuple | list):
        kind = type(default[0]) if default else int
        try:
            return tuple(kind(v.strip()) for v in text.split(",") if v.strip())
        except ValueError:
            raise OptionError(f"option {name}: {text!r} is not a list of {kind.__name__} values") from None
    return type(default)(text) if default is not None else text


class ModelForm(QWidget):
    modelChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.models: list[ModelInfo] = list_models()
        self.combo = QComboBox()
        # a model's summary is long: the closed box shows its start, the open list shows it whole
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(24)
        for m in self.models:
            self.combo.addItem(f"{m.name}{'  (fast)' if m.fast else ''} — {m.summary}", m.name)
        self.options_box = QGroupBox("Options")
        self.form = QFormLayout(self.options_box)
        self.editors: dict[str, tuple[QWidget, Any]] = {}
        self.tile = QCheckBox("cut frames into tiles")
        self.tile.setToolTip("tiles at native resolution: small defects on large frames stay visible")
        self.overlap = QDoubleSpinBox()
        self.overlap.setRange(0.0, 0.9)
        self.overlap.setSingleStep(0.05)
        self.overlap.setValue(0.25)
        self.scale = QDoubleSpinBox()
        self.scale.setRange(0.05, 1.0)
        self.scale.setSingleStep(0.05)
        self.scale.setValue(1.0)
        self.whole = QCheckBox("large frames in one pass")
        self.whole.setChecked(True)
        self.whole.setToolTip(
            "One pass instead of tiles: no seams, no overlap computed twice. Models that take any input size (PatchCore) inspect the native-resolution frame in one fully "
            "convolutional pass; they are still fitted on tiles. Other models always use tiles."
        )
        tiling = QGroupBox("Image size and tiling")
        tf = QFormLayout(tiling)
        tf.addRow(self.tile)
        tf.addRow(self.whole)
        tf.addRow("tile overlap", self.overlap)
        tf.addRow("frame scale before tiling", self.scale)
        # a model with many options (NDP-Net: 26) scrolls instead of squeezing its rows unreadable
        self.options_scroll = QScrollArea()
        self.options_scroll.setWidgetResizable(True)
        self.options_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.options_scroll.setWidget(self.options_box)
        lay = QVBoxLayout(self)
        lay.addWidget(self.combo)
        lay.addWidget(self.options_scroll, 1)
        lay.addWidget(tiling)
        self.combo.currentIndexChanged.connect(self._rebuild)
        self.tile.toggled.connect(self._update_whole)
        self.whole.toggled.connect(self._update_whole)
        self._rebuild()

    @property
    def model_name(self) -> str:
        return str(self.combo.currentData())

    def info(self) -> ModelInfo:
        return self.models[self.combo.currentIndex()]

    def _rebuild(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors = {}
        for name, default, help_text in self.info().options:
            ed = _editor(default)
            ed.setToolTip(f"{help_text}\n(default: {default})")
            label = QLabel(name)
            label.setToolTip(help_text)
            self.form.addRow(label, ed)
            self.editors[name] = (ed, default)
        self._update_whole()
        self.modelChanged.emit(self.model_name)

    def _update_whole(self) -> None:
        self.whole.setEnabled(self.tile.isChecked() and self.info().cls.any_size)
        # the overlap only matters when frames are actually cut into tiles
        self.overlap.setEnabled(
            self.tile.isChecked() and not (self.whole.isEnabled() and self.whole.isChecked())
        )

    def set_option(self, name: str, value: Any) -> None:
        ed, default = self.editors[name]
        if isinstance(ed, QCheckBox):
            ed.setChecked(bool(value))
        elif isinstance(ed, QSpinBox | QDoubleSpinBox):
            ed.setValue(value)
        else:
            ed.setText(", ".join(map(str, value)) if isinstance(value, tuple | list) else str(value))  # type: ignore[attr-defined]

    def options(self) -> dict[str, Any]:
        """The options that differ from the model's defaults (OptionError on unparsable text)."""
        out = {}
        for name, (ed, default) in self.editors.items():
            v = _value(ed, default, name)
            if v != (tuple(default) if isinstance(default, list) else default):
                out[name] = v
        try:  # values the model rejects (e.g. a fusion's member options) fail here, not minutes later
            self.info().cls.Config.from_dict(out)
        except (TypeError, ValueError) as exc:
            raise OptionError(str(exc)) from None
        return out

    def preprocessing(self) -> Preprocessing:
        return Preprocessing(
            tile=self.tile.isChecked(),
            overlap=round(self.overlap.value(), 3),
            scale=round(self.scale.value(), 3),
            whole_frame=self.whole.isEnabled() and self.whole.isChecked(),
        )
