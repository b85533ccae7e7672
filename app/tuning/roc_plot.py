"""ROC curve with AUROC in the title, the current operating point and the suggested ones."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from app.tuning.anomaly_histogram import MARKER_COLORS
from app.tuning.plot_menus import drop_plot_menu
from inspection_core.calibration.thresholds import Confusion, RocData


class RocPlot(pg.PlotWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="#202020", enableMenu=False)
        drop_plot_menu(self)
        self.setLabel("bottom", "false-reject rate (good parts rejected)")
        self.setLabel("left", "recall")  # a long axis title is clipped at plot height (#25)
        self.getAxis("left").setToolTip("recall: the share of defective parts caught")
        self.setXRange(0, 1)
        self.setYRange(0, 1.02)
        self.addLegend(offset=(-10, -10))
        self.plot([0, 1], [0, 1], pen=pg.mkPen((90, 90, 90), style=pg.QtCore.Qt.PenStyle.DotLine))
        self.curve = self.plot([], [], pen=pg.mkPen((230, 230, 230), width=2))
        self.current = pg.ScatterPlotItem(size=12, brush=pg.mkBrush(255, 60, 60), name="current")
        self.addItem(self.current)
        self.suggested = pg.ScatterPlotItem(size=10, symbol="d")
        self.addItem(self.suggested)
        self.auroc = float("nan")

    def set_roc(self, roc: RocData | None) -> None:
        if roc is None:
            self.curve.setData([], [])
            self.setTitle("ROC: needs good and defective images")
            return
        self.curve.setData(np.asarray(roc.fpr), np.asarray(roc.tpr))
        self.auroc = float(roc.auroc)
        self.setTitle(f"ROC   image AUROC {roc.auroc:.3f}")

    @staticmethod
    def _point(c: Confusion) -> tuple[float, float] | None:
        if not c.n_good or not c.n_defective:
            return None
        return c.false_reject_rate, c.recall

    def set_current(self, c: Confusion) -> None:
        p = self._point(c)
        self.current.setData([p[0]], [p[1]]) if p else self.current.setData([], [])

    def set_suggestions(self, confusions: dict[str, Confusion]) -> None:
        spots = []
        for i, (_name, c) in enumerate(confusions.items()):
            p = self._point(c)
            if p:
                spots.append({"pos": p, "brush": pg.mkBrush(*MARKER_COLORS[i % 4])})
        self.suggested.setData(spots)
