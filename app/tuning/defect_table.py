"""Defects of the frozen frame: id, area (px, mm²), bbox, max/mean score; selecting a row emits it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from inspection_core.types import Defect

COLUMNS = ("id", "area px", "area mm²", "bbox (x0, y0, x1, y1)", "max", "mean")


class DefectTable(QTableWidget):
    defectSelected = Signal(object)  # Defect | None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        # Interactive + one resize after filling: ResizeToContents re-measures on every setItem (~0.3 ms each)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.defects: tuple[Defect, ...] = ()
        self.itemSelectionChanged.connect(self._selected)

    def set_defects(self, defects: tuple[Defect, ...], max_rows: int = 500) -> None:
        self.blockSignals(True)
        self.setUpdatesEnabled(False)
        self.defects = tuple(defects[:max_rows])
        self.setRowCount(len(self.defects))
        for r, d in enumerate(self.defects):
            mm2 = "" if d.area_mm2 is None else f"{d.area_mm2:.3f}"
            vals = (str(d.id), str(d.area_px), mm2, ", ".join(map(str, d.bbox)), f"{d.max_score:.3f}",
                    f"{d.mean_score:.3f}")  # fmt: skip
            for c, v in enumerate(vals):
                self.setItem(r, c, QTableWidgetItem(v))
        self.resizeColumnsToContents()
        self.setUpdatesEnabled(True)
        self.blockSignals(False)
        self.defectSelected.emit(None)

    def _selected(self) -> None:
        rows = {i.row() for i in self.selectedIndexes()}
        self.defectSelected.emit(self.defects[min(rows)] if rows else None)
