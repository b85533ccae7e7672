"""The big OK/NG for the frame on screen, with its image score against the image threshold.

When nothing is being inspected (stopped, camera lost, no model, frames failing) it says NOT INSPECTING in grey: a
stale OK left on screen after a stop would tell the operator that parts are still being checked.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.display_data import InspectedFrame
from app.resources import set_state
from app.state import SessionState

NOT_INSPECTING = "NOT INSPECTING"


class VerdictPanel(QWidget):
    def __init__(self, state: SessionState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.verdict = QLabel("—")
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict.setMinimumHeight(90)
        self.score = QLabel("score — / threshold —")
        self.score.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.score.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.verdict)
        lay.addWidget(self.score)
        self.rule = QLabel("")  # the verdict rule in words (issue #25: it was shown nowhere)
        self.rule.setObjectName("verdictRule")
        self.rule.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.rule.setWordWrap(True)
        lay.addWidget(self.rule)
        state.liveChanged.connect(lambda line: self.rule.setText(line.verdict_rule()))
        self._set("", "—")
        state.currentChanged.connect(self.show_item)
        for signal in (
            state.runningChanged,
            state.cameraStateChanged,
            state.modelChanged,
            state.errorChanged,
        ):
            signal.connect(self._refresh)
        self._refresh()

    def _set(self, key: str, text: str) -> None:
        self.verdict.setText(text)
        set_state(self.verdict, "verdict", key)  # colours: resources/aoi-station.qss

    def not_inspecting_reason(self) -> str:
        """Why no part is being inspected now ("" while inspecting)."""
        s = self.state
        if not s.model_ready:
            return f"no model ({s.model_name})" if s.model_name else "no model loaded"
        if s.camera_state == "lost":
            return "camera lost"
        if not s.running:
            return "stopped"
        if s.error:
            return f"error: {s.error}"
        return ""

    def _refresh(self, *_: object) -> None:
        """On stop, loss or model change: NOT INSPECTING replaces the last verdict at once. Starting
        again leaves it until the first new result arrives."""
        reason = self.not_inspecting_reason()
        if reason:
            self._set("off", NOT_INSPECTING)
            self.score.setText(reason)

    def show_item(self, item: InspectedFrame) -> None:
        r = item.result
        v = str(r.verdict)
        reason = self.not_inspecting_reason()
        review = f"  ·  {NOT_INSPECTING} ({reason}): reviewing" if reason else ""
        if r.alarm:  # fail closed, and say why: the score is not a number to compare
            self._set(v, f"{v} — ALARM")
            self.score.setText(f"{r.alarm}  ·  frame {r.frame_id}{review}")
            return
        self._set(v, v)
        n = len(r.defects)
        regions = "no region, peak boxed" if r.hotspot is not None else f"{n} defect{'s' if n != 1 else ''}"
        m = self.state.live.margin(r.score, r.raw_score)
        margin = f" (margin {m:+.3f})" if m is not None else ""
        self.score.setText(
            f"score {r.score:.3f} / threshold {self.state.image_threshold:.2f}{margin}  ·  {regions}  ·  "
            f"frame {r.frame_id}{review}"
        )

    @property
    def text(self) -> str:
        return self.verdict.text()
