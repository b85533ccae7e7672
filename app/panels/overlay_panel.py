"""Overlay toggles, heatmap opacity, raw/overlay switch and the view buttons (fit, 1:1, ROI)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QGridLayout, QLabel, QPushButton, QSlider, QWidget

from app.state import OverlaySettings, SessionState


class OverlayPanel(QWidget):
    fitRequested = Signal()
    oneToOneRequested = Signal()
    roiRequested = Signal()

    def __init__(self, state: SessionState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.checks: dict[str, QCheckBox] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, (key, label) in enumerate(
            (
                ("heatmap", "Heatmap"),
                ("outlines", "Outlines"),
                ("boxes", "Boxes"),
                ("roi", "ROI"),
                ("raw_only", "Raw only (O)"),
            )
        ):
            cb = QCheckBox(label)
            cb.toggled.connect(lambda on, k=key: self.state.update_overlay(**{k: on}))
            grid.addWidget(cb, i // 2, i % 2)
            self.checks[key] = cb
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.valueChanged.connect(lambda v: self.state.update_overlay(opacity=v / 100.0))
        grid.addWidget(QLabel("Heatmap opacity"), 3, 0)
        grid.addWidget(self.opacity, 3, 1)
        buttons = (
            ("Fit (F)", self.fitRequested),
            ("1:1", self.oneToOneRequested),
            ("Draw ROI", self.roiRequested),
        )
        self.buttons: dict[str, QPushButton] = {}
        for j, (text, sig) in enumerate(buttons):
            b = QPushButton(text)
            b.clicked.connect(sig)
            grid.addWidget(b, 4 + j // 2, j % 2)
            self.buttons[text] = b
        self.show_overlay(state.overlay)
        state.overlayChanged.connect(self.show_overlay)

    def show_overlay(self, o: OverlaySettings) -> None:
        for key, cb in self.checks.items():
            cb.blockSignals(True)
            cb.setChecked(bool(getattr(o, key)))
            cb.blockSignals(False)
        self.opacity.blockSignals(True)
        self.opacity.setValue(round(o.opacity * 100))
        self.opacity.blockSignals(False)
