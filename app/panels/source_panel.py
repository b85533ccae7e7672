"""Source picker, start/stop, model picker and snapshot button.

The panel only says what the operator asked for (signals); the main window does it. Under the
picker it lists the GenTL producers skipped as broken, and its `warnings` put source problems that
leave inspection running (those producers, a replay's unreadable files) in the notification area.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QGridLayout, QLabel, QPushButton, QWidget

from app.sources import SourceWarnings
from app.state import LiveLine, SessionState
from inspection_core.camera.base import SourceInfo

REPLAY_FOLDER = "replay-folder"
REPLAY_VIDEO = "replay-video"
DEMO_MODEL = "demo"
PICK_MODEL = "pick-model"


class SourcePanel(QWidget):
    startRequested = Signal(str)  # source spec
    stopRequested = Signal()
    refreshRequested = Signal()
    modelRequested = Signal(str)  # "demo" or a model folder
    snapshotRequested = Signal()

    def __init__(self, state: SessionState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.source_combo = QComboBox()
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refreshRequested)
        self.start_button = QPushButton("Start (Space)")
        self.start_button.clicked.connect(self.toggle)
        self.model_combo = QComboBox()
        self.model_combo.addItem("Demo model (simulated web)", DEMO_MODEL)
        self.model_combo.addItem("Open model folder…", PICK_MODEL)
        self.model_combo.activated.connect(self._model_picked)
        self.snapshot_button = QPushButton("Snapshot (S)")
        self.snapshot_button.clicked.connect(self.snapshotRequested)
        self.problems_label = QLabel("")
        self.problems_label.setObjectName("sourceProblems")
        self.problems_label.setWordWrap(True)
        self.problems_label.setVisible(False)
        self.problems: list[str] = []
        self.warnings = SourceWarnings(state, parent=self)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(QLabel("Source"), 0, 0)
        grid.addWidget(self.source_combo, 0, 1)
        grid.addWidget(self.refresh_button, 0, 2)
        grid.addWidget(self.problems_label, 1, 1, 1, 2)  # right under the camera list it explains
        grid.addWidget(QLabel("Model"), 2, 0)
        grid.addWidget(self.model_combo, 2, 1, 1, 2)
        grid.addWidget(self.start_button, 3, 0, 1, 2)
        grid.addWidget(self.snapshot_button, 3, 2)
        self._running(state.running)
        state.runningChanged.connect(self._running)
        state.liveChanged.connect(self.show_live)

    def set_sources(self, sources: list[SourceInfo], problems: Sequence[str] = ()) -> None:
        """Offer `sources`; `problems` (producers skipped, enumeration errors) are listed and warned of."""
        self.problems = list(problems)
        self.problems_label.setText("\n".join(f"⚠ {p}" for p in self.problems))
        self.problems_label.setToolTip("Cameras behind these producers are not listed")
        self.problems_label.setVisible(bool(self.problems))
        for p in self.problems:
            self.warnings.warn(p)
        current = self.source_combo.currentData()
        self.source_combo.clear()
        for s in sources:
            self.source_combo.addItem(s.label, s.spec)
        self.source_combo.addItem("Replay folder…", REPLAY_FOLDER)
        self.source_combo.addItem("Replay video…", REPLAY_VIDEO)
        idx = self.source_combo.findData(current)
        self.source_combo.setCurrentIndex(max(idx, 0))

    def select_source(self, spec: str) -> None:
        idx = self.source_combo.findData(spec)
        if idx < 0:
            self.source_combo.insertItem(0, spec, spec)
            idx = 0
        self.source_combo.setCurrentIndex(idx)

    def add_model(self, label: str, path: str) -> None:
        idx = self.model_combo.findData(path)
        if idx < 0:
            self.model_combo.insertItem(self.model_combo.count() - 1, label, path)
            idx = self.model_combo.findData(path)
        self.model_combo.setCurrentIndex(idx)

    def show_live(self, line: LiveLine) -> None:
        """Select what is live: the demo, a model folder, or the deployed recipe (one entry, replaced
        at each deploy or switch) — never "Demo model" while a recipe runs (issue #25)."""
        if not line.source:
            return
        if line.recipe is not None:  # one recipe entry: the last one live stays a click away
            for i in reversed(range(self.model_combo.count())):
                data = str(self.model_combo.itemData(i))
                if data.startswith("recipe:") and data != line.source:
                    self.model_combo.removeItem(i)
            self.add_model(f"Recipe {line.recipe.name} v{line.recipe.version}", line.source)
        elif line.source == DEMO_MODEL:
            self.model_combo.setCurrentIndex(self.model_combo.findData(DEMO_MODEL))
        else:
            self.add_model(line.source.rstrip("/").split("/")[-1], line.source)

    def current_spec(self) -> str | None:
        data = self.source_combo.currentData()
        if data == REPLAY_FOLDER:
            path = QFileDialog.getExistingDirectory(self, "Replay a folder of images")
            return f"replay:{path}" if path else None
        if data == REPLAY_VIDEO:
            path, _ = QFileDialog.getOpenFileName(
                self, "Replay a video", "", "Videos (*.mp4 *.avi *.mkv *.mov)"
            )
            return f"replay:{path}" if path else None
        return data

    def toggle(self) -> None:
        if self.state.running:
            self.stopRequested.emit()
            return
        spec = self.current_spec()
        if spec:
            self.startRequested.emit(spec)

    def _model_picked(self, index: int) -> None:
        data = self.model_combo.itemData(index)
        if data == PICK_MODEL:
            path = QFileDialog.getExistingDirectory(self, "Open a model folder")
            if path:
                self.add_model(path.rstrip("/").split("/")[-1], path)
                self.modelRequested.emit(path)
            return
        self.modelRequested.emit(str(data))

    def _running(self, running: bool) -> None:
        self.start_button.setText("Stop (Space)" if running else "Start (Space)")
        self.source_combo.setEnabled(not running)
        self.refresh_button.setEnabled(not running)  # Harvesters must not re-enumerate while acquiring
