"""The camera's everyday settings, as in pylon Viewer: exposure, gain, pixel format, frame rate,
trigger (mode, source, software trigger), image size and offset.

Bound to a `CameraController`: it redraws from each tree snapshot and writes through the controller.
A setting the device lacks (Viky has no exposure) or cannot change now (NA, RO) is disabled, and its
reason is written next to it and in its tooltip, never just greyed out.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.camera.controller import CameraController
from inspection_core.camera.features import STANDARD, Feature

INT_KEYS = ("width", "height", "offset_x", "offset_y")
ENUM_KEYS = ("pixel_format", "trigger_mode", "trigger_source")
UNITS = {"exposure_us": "µs", "gain_db": "dB", "frame_rate": "Hz", "width": "px", "height": "px"}


class CameraPanel(QWidget):
    saveRequested = Signal()  # "save these settings in the live recipe"

    def __init__(self, controller: CameraController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.title = QLabel("")
        self.title.setObjectName("cameraTitle")
        self.title.setWordWrap(True)
        self.editors: dict[str, QWidget] = {}
        self.reasons: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        for row, s in enumerate(STANDARD):
            if s.key == "trigger_software":
                ed: QWidget = QPushButton("Execute software trigger")
                ed.clicked.connect(controller.trigger)  # type: ignore[attr-defined]
            elif s.key in ENUM_KEYS:
                ed = QComboBox()
                ed.activated.connect(lambda _i, k=s.key: self._commit(k))  # type: ignore[attr-defined]
            else:
                ed = QSpinBox() if s.key in INT_KEYS else QDoubleSpinBox()
                ed.setKeyboardTracking(False)  # type: ignore[attr-defined]
                ed.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.PlusMinus)  # type: ignore[attr-defined]
                ed.editingFinished.connect(lambda k=s.key: self._commit(k))  # type: ignore[attr-defined]
                if s.key in UNITS:
                    ed.setSuffix(f" {UNITS[s.key]}")  # type: ignore[attr-defined]
            ed.setObjectName(f"camera_{s.key}")
            reason = QLabel("")
            reason.setObjectName("featureReason")
            reason.setWordWrap(True)
            grid.addWidget(QLabel(s.label), 2 * row, 0)
            grid.addWidget(ed, 2 * row, 1)
            grid.addWidget(reason, 2 * row + 1, 1)
            self.editors[s.key] = ed
            self.reasons[s.key] = reason
        self.save_button = QPushButton("Save settings in the live recipe")
        self.save_button.clicked.connect(self.saveRequested)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addLayout(grid)
        lay.addWidget(self.save_button)
        lay.addWidget(self.status)
        lay.addStretch(1)
        controller.treeChanged.connect(self._redraw)
        controller.failed.connect(lambda m: self.status.setText(f"⚠ {m}"))
        controller.written.connect(self._written)
        self._redraw(controller.tree)

    # --- drawing -------------------------------------------------------------------------------
    def _redraw(self, tree: Feature | None) -> None:
        c = self.controller
        self.title.setText(f"{c.owner} — {c.kind}" if tree is not None else c.not_open_reason)
        self.save_button.setEnabled(tree is not None)
        for key, ed in self.editors.items():
            f = c.standard.get(key)
            if f is None:
                ed.setEnabled(False)
                self._say(key, "")
                continue
            ed.blockSignals(True)
            try:
                self._load(ed, f)
                if isinstance(ed, QSpinBox | QDoubleSpinBox):  # no made-up "0" for a missing feature
                    ed.setSpecialValueText("—" if f.value is None else "")
                    if f.value is None:
                        ed.setValue(ed.minimum())
            finally:
                ed.blockSignals(False)
            usable = f.writable if f.type != "Command" else f.access in ("RW", "WO")
            ed.setEnabled(usable)
            self._say(key, f.reason)

    def _say(self, key: str, reason: str) -> None:
        lab = self.reasons[key]
        lab.setText(reason)
        lab.setVisible(bool(reason))
        self.editors[key].setToolTip(reason or self.controller.standard.get(key, Feature("", "")).description)

    @staticmethod
    def _load(ed: QWidget, f: Feature) -> None:
        if isinstance(ed, QComboBox):
            ed.clear()
            ed.addItems(list(f.choices) or ([str(f.value)] if f.value is not None else []))
            if f.value is not None:
                ed.setCurrentText(str(f.value))
        elif isinstance(ed, QSpinBox):
            lo = int(f.min) if f.min is not None else 0
            hi = int(f.max) if f.max is not None else 1 << 30
            ed.setRange(lo, max(lo, min(hi, 2**31 - 1)))
            ed.setSingleStep(int(f.inc or 1))
            if f.value is not None:
                ed.setValue(int(f.value))
        elif isinstance(ed, QDoubleSpinBox):
            lo = float(f.min) if f.min is not None else 0.0
            hi = float(f.max) if f.max is not None else 1e9
            ed.setDecimals(2)
            ed.setRange(lo, max(lo, hi))
            if f.value is not None:
                ed.setValue(float(f.value))

    # --- writing -------------------------------------------------------------------------------
    def value_of(self, key: str) -> Any:
        ed = self.editors[key]
        if isinstance(ed, QComboBox):
            return ed.currentText()
        if isinstance(ed, QSpinBox | QDoubleSpinBox):
            return ed.value()
        return None

    def set_value(self, key: str, value: Any) -> None:
        """Set an editor and write it (what the user's edit does)."""
        ed = self.editors[key]
        if isinstance(ed, QComboBox):
            ed.setCurrentText(str(value))
        elif isinstance(ed, QSpinBox | QDoubleSpinBox):
            ed.setValue(value)
        self._commit(key)

    def _commit(self, key: str) -> None:
        f = self.controller.standard.get(key)
        value = self.value_of(key)
        if f is None or value is None or (f.value is not None and value == f.value):
            return
        self.status.setText(f"writing {f.name} = {value}…")
        self.controller.write_setting(key, value)

    def _written(self, name: str, value: Any) -> None:
        self.status.setText(f"{name} = {value}" if value is not None else f"{name} executed")
