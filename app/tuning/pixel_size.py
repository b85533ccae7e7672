"""Pixel-size calibration on the frozen frame: a line over a feature of known length gives mm per px.

With the pixel size set, every defect gets an area in mm² (`PostprocessSettings.pixel_size_mm`, saved
with the recipe on Apply), shown in the defect table and on the live view's box labels.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDoubleSpinBox, QGridLayout, QGroupBox, QLabel, QPushButton, QWidget

from inspection_core.errors import AoiError


class PixelSizeError(AoiError):
    """A calibration that cannot give a pixel size (a line of no length, no distance)."""


def mm_per_px(p0: tuple[float, float], p1: tuple[float, float], distance_mm: float) -> float:
    """The pixel size from two image points `distance_mm` apart (PixelSizeError when undefined)."""
    length = math.dist(p0, p1)
    if length < 1.0:
        raise PixelSizeError("draw the line over a feature at least one pixel long")
    if not (distance_mm > 0 and math.isfinite(distance_mm)):
        raise PixelSizeError("enter the known distance in mm (more than 0)")
    return distance_mm / length


class PixelSizeBox(QGroupBox):
    """Measure → drag the line's ends onto a feature of known length → enter its mm → Set."""

    pixelSizeSet = Signal(object)  # float mm per px, or None (cleared)
    notified = Signal(str, str)

    def __init__(self, view_box: pg.ViewBox, parent: QWidget | None = None) -> None:
        super().__init__("Pixel size (for mm²)", parent)
        self.view_box = view_box
        self.line: pg.LineSegmentROI | None = None
        self.distance = QDoubleSpinBox()
        self.distance.setRange(0.0, 100_000.0)
        self.distance.setDecimals(3)
        self.distance.setSuffix(" mm")
        self.distance.setToolTip("the real length of the feature the line lies on")
        self.measure_button = QPushButton("Measure")
        self.measure_button.setToolTip("put a line on the frozen frame; drag its ends onto a known length")
        self.set_button = QPushButton("Set")
        self.clear_button = QPushButton("Clear")
        self.value = QLabel("")
        self.value.setWordWrap(True)
        g = QGridLayout(self)
        g.addWidget(self.measure_button, 0, 0)
        g.addWidget(self.distance, 0, 1)
        g.addWidget(self.set_button, 1, 0)
        g.addWidget(self.clear_button, 1, 1)
        g.addWidget(self.value, 2, 0, 1, 2)
        self.measure_button.clicked.connect(lambda: self.begin())
        self.set_button.clicked.connect(self.set_from_line)
        self.clear_button.clicked.connect(lambda: self.pixelSizeSet.emit(None))
        self.show_value(None)

    def begin(self, p0: tuple[float, float] | None = None, p1: tuple[float, float] | None = None) -> None:
        """Show the measuring line (default: across the middle third of the frame)."""
        if self.line is None:
            self.line = pg.LineSegmentROI([(0, 0), (1, 0)], pen=pg.mkPen((0, 255, 120), width=2))
            self.line.setZValue(6)
            self.view_box.addItem(self.line)
        if p0 is None or p1 is None:
            r = self.view_box.childrenBoundingRect()
            w, h = max(r.width(), 3.0), max(r.height(), 3.0)
            p0, p1 = (r.left() + w / 3, r.top() + h / 2), (r.left() + 2 * w / 3, r.top() + h / 2)
        a, b = self.line.getHandles()
        self.line.movePoint(a, pg.Point(*p0))
        self.line.movePoint(b, pg.Point(*p1))
        self.line.setVisible(True)

    def line_points(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """The line's ends in image pixels (None before Measure)."""
        if self.line is None or not self.line.isVisible():
            return None
        pts = [self.line.mapToParent(h.pos()) for h in self.line.getHandles()]
        return (pts[0].x(), pts[0].y()), (pts[1].x(), pts[1].y())

    def set_from_line(self) -> float | None:
        pts = self.line_points()
        try:
            if pts is None:
                raise PixelSizeError("press Measure and put the line on a feature of known length")
            size = mm_per_px(*pts, self.distance.value())
        except PixelSizeError as exc:
            self.notified.emit("error", f"pixel size not set: {exc}")
            return None
        self.pixelSizeSet.emit(size)
        self.notified.emit(
            "info", f"pixel size {size:.5g} mm/px ({math.dist(*pts):.1f} px = {self.distance.value():g} mm)"
        )
        return size

    def show_value(self, size: float | None) -> None:
        self.value.setText(f"{size:.5g} mm/px" if size else "not set: defect areas in px only")
