"""Confusion matrix at the current image threshold (rows: truth, columns: verdict) with the rates."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from inspection_core.calibration.thresholds import Confusion


def _pct(x: float) -> str:
    return "–" if math.isnan(x) else f"{100 * x:.1f} %"


class ConfusionView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(2, 2)
        self.table.setHorizontalHeaderLabels(["verdict OK", "verdict NG"])
        self.table.setVerticalHeaderLabels(["good", "defective"])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setFixedHeight(90)
        self.rates = QLabel("")
        self.rates.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.table)
        lay.addWidget(self.rates)
        self.confusion: Confusion | None = None

    def set_confusion(self, c: Confusion) -> None:
        self.confusion = c
        cells = ((0, 0, c.tn, True), (0, 1, c.fp, False), (1, 0, c.fn, False), (1, 1, c.tp, True))
        for r, col, v, right in cells:
            it = QTableWidgetItem(str(v))
            it.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            it.setBackground(QColor(46, 125, 50, 120) if right else QColor(198, 40, 40, 120 if v else 30))
            self.table.setItem(r, col, it)
        self.rates.setText(
            f"threshold {c.threshold:.3f}: false rejects {c.fp}/{c.n_good} ({_pct(c.false_reject_rate)}), "
            f"escapes {c.fn}/{c.n_defective} ({_pct(c.escape_rate)}), recall {_pct(c.recall)}"
        )

    def cell(self, truth: str, verdict: str) -> int:
        """Count in one cell, e.g. cell('good', 'NG') = false rejects (for tests and tooltips)."""
        item = self.table.item(("good", "defective").index(truth), ("OK", "NG").index(verdict))
        return int(item.text()) if item is not None else 0
