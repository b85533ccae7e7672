"""Replay for re-inspection: paced at the recorded or a set rate (or as fast as inspected), once or
looping, every image inspected exactly once when asked, the file name shown, pause and step.

The options are a small immutable `ReplayOptions` that the acquisition thread applies to a replay
source before its first frame (`apply`); changes while it plays go through the camera controller
(run between two reads). The file label follows the frame on screen, inspected or raw.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from app.camera.controller import CameraController
from app.state import SessionState
from inspection_core.camera.base import FrameSource

PACING = (("recorded", "recorded rate"), ("fixed", "set rate"), ("fast", "as fast as inspected"))


@dataclass(frozen=True)
class ReplayOptions:
    pacing: str = "recorded"  # recorded | fixed | fast
    fps: float = 10.0  # the set rate, and the fallback when the recording has none
    loop: bool = False
    every_frame: bool = True

    def frame_rate(self, source: Any) -> tuple[float, str]:
        """The rate to play at, and a line when the recorded one is unknown."""
        if self.pacing == "fast":
            return 0.0, ""
        if self.pacing == "recorded":
            rec = getattr(source, "recorded_fps", None)
            if rec:
                return float(rec), ""
            return (
                self.fps,
                f"{source.info.label}: no recorded frame rate (file times); playing at {self.fps:g} fps",
            )
        return self.fps, ""

    def apply(self, source: FrameSource) -> list[str]:
        """Acquisition thread, before the first frame: the options on a replay source."""
        fps, problem = self.frame_rate(source)
        source.configure(frame_rate=fps, loop=self.loop, every_frame=self.every_frame, paused=False)
        return [problem] if problem else []


class ReplayPanel(QWidget):
    def __init__(
        self, state: SessionState, controller: CameraController, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.controller = controller
        self.options = ReplayOptions()
        self.pacing = QComboBox()
        for key, label in PACING:
            self.pacing.addItem(label, key)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.1, 1000)
        self.fps.setValue(self.options.fps)
        self.fps.setSuffix(" fps")
        self.loop = QCheckBox("loop")
        self.every = QCheckBox("inspect every image")
        self.every.setChecked(self.options.every_frame)
        self.every.setToolTip("each image is inspected exactly once: none is dropped, however slow the model")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.back_button = QPushButton("◀ Back")
        self.forward_button = QPushButton("Forward ▶")
        self.file_label = QLabel("no replay frame yet")
        self.file_label.setObjectName("replayFile")
        self.file_label.setWordWrap(True)
        grid = QGridLayout(self)
        grid.addWidget(QLabel("Pacing"), 0, 0)
        grid.addWidget(self.pacing, 0, 1)
        grid.addWidget(QLabel("Set rate"), 1, 0)
        grid.addWidget(self.fps, 1, 1)
        grid.addWidget(self.loop, 2, 0)
        grid.addWidget(self.every, 2, 1)
        steps = QHBoxLayout()
        for b in (self.back_button, self.pause_button, self.forward_button):
            steps.addWidget(b)
        grid.addLayout(steps, 3, 0, 1, 2)
        grid.addWidget(self.file_label, 4, 0, 1, 2)
        grid.setRowStretch(5, 1)
        self.pacing.currentIndexChanged.connect(self._changed)
        self.fps.valueChanged.connect(self._changed)
        self.loop.toggled.connect(self._changed)
        self.every.toggled.connect(self._changed)
        self.pause_button.toggled.connect(self.set_paused)
        self.back_button.clicked.connect(lambda: self.step(-1))
        self.forward_button.clicked.connect(lambda: self.step(+1))
        state.currentChanged.connect(lambda item: self._show_file(item.frame))
        state.rawChanged.connect(lambda raw: self._show_file(raw.frame))
        controller.treeChanged.connect(lambda _t: self._enable())
        self._enable()

    def _playing_replay(self) -> bool:
        return self.controller.kind == "replay"

    def _enable(self) -> None:
        live = self._playing_replay()
        for b in (self.pause_button, self.back_button, self.forward_button):
            b.setEnabled(live)
            b.setToolTip(
                "" if live else "start a replay (Source: Replay folder… or video…) to step through it"
            )
        self.fps.setEnabled(self.options.pacing != "fast")

    def _changed(self) -> None:
        self.options = replace(
            self.options,
            pacing=self.pacing.currentData(),
            fps=self.fps.value(),
            loop=self.loop.isChecked(),
            every_frame=self.every.isChecked(),
        )
        self._enable()
        if self._playing_replay():
            opts = self.options

            def push(s: FrameSource) -> list[str]:
                fps, problem = opts.frame_rate(s)
                s.configure(frame_rate=fps, loop=opts.loop, every_frame=opts.every_frame)
                return [problem] if problem else []

            self.controller.call(push, lambda problems: [self.state.notify("warning", p) for p in problems])

    def set_paused(self, paused: bool) -> None:
        self.pause_button.setText("Play" if paused else "Pause")
        if self.pause_button.isChecked() != paused:
            self.pause_button.setChecked(paused)
        if self._playing_replay():
            self.controller.call(lambda s: s.configure(paused=paused), lambda _v: None)

    def step(self, delta: int) -> None:
        """Pause and show the next (+1) or previous (-1) image once."""
        if not self._playing_replay():
            return
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(True)
        self.pause_button.setText("Play")
        self.pause_button.blockSignals(False)
        self.controller.call(lambda s: s.step(delta), lambda _i: None)  # type: ignore[attr-defined]

    def _show_file(self, frame: Any) -> None:
        meta = frame.meta
        if "file" not in meta:
            return
        index, total = meta.get("index"), meta.get("total")
        where = f" ({index + 1} / {total})" if isinstance(index, int) and total else ""
        self.file_label.setText(f"{Path(str(meta['file'])).name}{where}")
        self.file_label.setToolTip(str(meta["file"]))
