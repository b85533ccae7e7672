"""Histogram with a draggable threshold line (pyqtgraph InfiniteLine) and labelled marker lines.

Used for a frozen frame's anomaly values (pixel threshold) and for validation image scores. The line
emits `thresholdMoved` while dragged; `set_threshold` moves it without emitting, so a spin box and the
line can follow each other without feedback loops.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from app.tuning.plot_menus import drop_plot_menu

MARKER_COLORS = [(0, 200, 255), (120, 255, 120), (255, 160, 0), (220, 120, 255)]


class ThresholdHistogram(pg.PlotWidget):
    thresholdMoved = Signal(float)

    def __init__(self, x_label: str, parent: QWidget | None = None, log_y: bool = True) -> None:
        super().__init__(parent, background="#202020", enableMenu=False)
        drop_plot_menu(self)
        self.setLabel("bottom", x_label)
        self.setLabel("left", "count")
        self.log_y = log_y
        self.setLogMode(y=log_y)
        self.addLegend(offset=(-10, 10))
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen((255, 60, 60), width=2),
                                    label="threshold {value:.3f}", labelOpts={"position": 0.9})  # fmt: skip
        self.line.setZValue(10)
        self.addItem(self.line)
        self.line.sigPositionChanged.connect(self._moved)
        self._silent = False
        self.markers: dict[str, pg.InfiniteLine] = {}

    def set_bars(self, name: str, edges: np.ndarray, counts: np.ndarray, color: tuple[int, int, int]) -> None:
        """Step histogram `name` (log counts are shifted by 1 so empty bins stay drawable)."""
        y = np.asarray(counts, np.float64) + (1.0 if self.log_y else 0.0)
        if name not in self.curves:
            self.curves[name] = self.plot(
                edges, y, stepMode="center", fillLevel=0, pen=pg.mkPen(color),
                brush=pg.mkBrush(*color, 90), name=name,
            )  # fmt: skip
        else:
            self.curves[name].setData(edges, y)

    def _moved(self) -> None:
        if not self._silent:
            self.thresholdMoved.emit(float(self.line.value()))

    def set_threshold(self, value: float) -> None:
        self._silent = True
        self.line.setValue(float(value))
        self._silent = False

    @property
    def threshold(self) -> float:
        return float(self.line.value())

    def set_markers(self, values: dict[str, float]) -> None:
        """Dashed, labelled, fixed lines (e.g. the suggested thresholds)."""
        for m in self.markers.values():
            self.removeItem(m)
        self.markers = {}
        for i, (name, v) in enumerate(values.items()):
            pen = pg.mkPen(
                MARKER_COLORS[i % len(MARKER_COLORS)], width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine
            )
            m = pg.InfiniteLine(float(v), angle=90, movable=False, pen=pen, label=name,
                                labelOpts={"position": 0.75 - 0.12 * i, "color": MARKER_COLORS[i % 4]})  # fmt: skip
            self.addItem(m)
            self.markers[name] = m
