"""The big OK/NG for the frame on screen, with its image score against the image threshold."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.display_data import InspectedFrame
from app.resources import set_state
from app.state import SessionState


class VerdictPanel(QWidget):
    def __init__(self, state: SessionState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.verdict = QLabel("—")
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict.setMinimumHeight(90)
        self.score = QLabel("score — / threshold —")
        self.score.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.verdict)
        lay.addWidget(self.score)
        self._set("", "—")
        state.currentChanged.connect(self.show_item)

    def _set(self, key: str, text: str) -> None:
        self.verdict.setText(text)
        set_state(self.verdict, "verdict", key)  # colours: resources/aoi-station.qss

    def show_item(self, item: InspectedFrame) -> None:
        r = item.result
        v = str(r.verdict)
        if r.alarm:  # fail closed, and say why: the score is not a number to compare
            self._set(v, f"{v} — ALARM")
            self.score.setText(f"{r.alarm}  ·  frame {r.frame_id}")
            return
        self._set(v, v)
        n = len(r.defects)
        regions = "no region, peak boxed" if r.hotspot is not None else f"{n} defect{'s' if n != 1 else ''}"
        self.score.setText(
            f"score {r.score:.3f} / threshold {self.state.image_threshold:.2f}  ·  {regions}  ·  frame {r.frame_id}"
        )

    @property
    def text(self) -> str:
        return self.verdict.text()
