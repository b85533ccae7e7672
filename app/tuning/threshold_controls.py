"""Spin boxes for what an engineer tunes on a frozen frame; `changed` fires on every edit."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QSpinBox, QWidget

from inspection_core.postprocess.settings import PostprocessSettings


def _dspin(lo: float, hi: float, step: float, decimals: int, tip: str) -> QDoubleSpinBox:
    sb = QDoubleSpinBox()
    sb.setRange(lo, hi)
    sb.setSingleStep(step)
    sb.setDecimals(decimals)
    sb.setKeyboardTracking(False)
    sb.setToolTip(tip)
    return sb


class ThresholdControls(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pixel = _dspin(0.0, 1.0, 0.01, 3, "pixel threshold (normalised: 0.5 = calibrated on good parts)")
        self.image = _dspin(0.0, 5.0, 0.01, 3, "image threshold (normalised: 0.5 = calibrated on good parts)")
        self.min_area = QSpinBox()
        self.min_area.setRange(0, 10_000_000)
        self.min_area.setSuffix(" px")
        self.min_area.setKeyboardTracking(False)
        self.min_area.setToolTip("defects smaller than this are tolerated (frame pixels)")
        self.smoothing = _dspin(0.0, 50.0, 0.5, 1, "extra Gaussian smoothing of the heatmap (frame px)")
        self.opacity = _dspin(0.0, 1.0, 0.05, 2, "heatmap opacity (display only)")
        self.opacity.setValue(0.6)
        form = QFormLayout(self)
        form.addRow("Pixel threshold", self.pixel)
        form.addRow("Image threshold", self.image)
        form.addRow("Min defect area", self.min_area)
        form.addRow("Smoothing σ", self.smoothing)
        form.addRow("Heatmap opacity", self.opacity)
        for w in (self.pixel, self.image, self.smoothing, self.opacity):
            w.valueChanged.connect(lambda _v: self.changed.emit())
        self.min_area.valueChanged.connect(lambda _v: self.changed.emit())

    def set_settings(self, s: PostprocessSettings) -> None:
        """Show `s` without emitting `changed` (programmatic sync)."""
        for w, v in (
            (self.pixel, s.pixel_threshold),
            (self.image, s.image_threshold),
            (self.smoothing, s.smoothing_sigma),
        ):
            w.blockSignals(True)
            w.setValue(float(v))
            w.blockSignals(False)
        self.min_area.blockSignals(True)
        self.min_area.setValue(int(s.min_defect_area))
        self.min_area.blockSignals(False)

    def applied_to(self, s: PostprocessSettings) -> PostprocessSettings:
        return s.with_(
            pixel_threshold=round(self.pixel.value(), 6),
            image_threshold=round(self.image.value(), 6),
            min_defect_area=int(self.min_area.value()),
            smoothing_sigma=round(self.smoothing.value(), 3),
        )
