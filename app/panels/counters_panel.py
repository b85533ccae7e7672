"""Inspected / OK / NG / yield / throughput / latency / dropped, with a reset button."""

from __future__ import annotations

import math

from PySide6.QtWidgets import QFormLayout, QLabel, QPushButton, QWidget

from app.counters import CounterSnapshot
from app.state import SessionState

FIELDS = (
    ("inspected", "Inspected"),
    ("ok", "OK"),
    ("ng", "NG"),
    ("yield", "Yield"),
    ("fps", "Throughput"),
    ("latency", "Latency"),  # grab → shown (the tooltip); a short name leaves the value its room
    ("dropped", "Dropped by inference"),
)


def _fmt(x: float, unit: str, digits: int = 1) -> str:
    return "—" if math.isnan(x) else f"{x:.{digits}f} {unit}"


class CountersPanel(QWidget):
    def __init__(self, state: SessionState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.values: dict[str, QLabel] = {}
        for key, label in FIELDS:
            v = QLabel("0")
            v.setObjectName(f"counter_{key}")
            form.addRow(label, v)
            self.values[key] = v
        self.values["latency"].setToolTip("from the frame's grab to its verdict on screen: median (p95)")
        self.reset_button = QPushButton("Reset counters")
        self.reset_button.clicked.connect(state.reset_counters)
        form.addRow(self.reset_button)
        self.show_counters(state.snapshot())
        state.countersChanged.connect(self.show_counters)

    def show_counters(self, c: CounterSnapshot) -> None:
        v = self.values
        v["inspected"].setText(str(c.inspected))
        v["ok"].setText(str(c.ok))
        v["ng"].setText(str(c.ng))
        v["yield"].setText(_fmt(c.yield_pct, "%"))
        v["fps"].setText(_fmt(c.fps, "frames/s"))
        v["latency"].setText(
            "—"
            if math.isnan(c.latency_ms_median)
            else f"{c.latency_ms_median:.0f} ms (p95 {c.latency_ms_p95:.0f})"
        )
        v["dropped"].setText(str(c.dropped))
