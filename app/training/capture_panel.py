"""Capture a new product's samples from the live frames (button, shortcut, auto every N) or a folder.

Each capture is written at once by `SampleSet` (PNG + JSON sidecar), so a crash loses nothing. Good
samples are trained on; defective ones are for validation only and never trained on.

Good captures (button, G, auto) go through a `CaptureFilter`: a frame the live model judges NG is
skipped or flagged (the user's choice), and a frame too similar to the previous capture is skipped. The
live verdict and score go into the sidecar and onto the thumbnail.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QImage,
    QKeySequence,
    QPixmap,
    QShortcut,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QWidget,
)

from app.display_data import to_display8
from inspection_core.data.imageio import imread
from inspection_core.errors import AoiError
from inspection_core.training.capture_filter import CaptureFilter, Decision, frame_signature
from inspection_core.training.samples import MIN_GOOD, CapturedSample, Kind, SampleSet
from inspection_core.types import Frame, InspectionResult

THUMB = 80
NG_CHOICES = (
    ("skip", "skip frames the live model judges NG"),
    ("flag", "capture them, flagged for review"),
    ("keep", "capture them (no check)"),
)
FLAG_BRUSH = QBrush(QColor(200, 60, 60, 110))


def verdict_text(meta: dict) -> str:
    """'OK 0.312' / '⚑ NG 0.871' / '' from a sample's sidecar (the live model's view when captured)."""
    verdict = meta.get("live_verdict")
    if not verdict:
        return ""
    score = meta.get("live_score")
    flag = "⚑ " if meta.get("flagged") else ""
    return f"{flag}{verdict}" + (f" {score:.3f}" if isinstance(score, int | float) else "")


def thumbnail(image: np.ndarray, side: int = THUMB) -> QIcon:
    img = to_display8(image)
    h, w = img.shape[:2]
    f = side / max(h, w)
    small = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    small = np.ascontiguousarray(small)
    fmt = QImage.Format.Format_Grayscale8 if small.ndim == 2 else QImage.Format.Format_RGB888
    q = QImage(small.data, small.shape[1], small.shape[0], small.strides[0], fmt).copy()
    return QIcon(QPixmap.fromImage(q))


class CapturePanel(QWidget):
    countsChanged = Signal(int, int)  # good, defective
    notified = Signal(str, str)  # level, message

    def __init__(
        self,
        samples: SampleSet | None = None,
        latest_frame: Callable[[], Frame | None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.samples = samples
        self._latest_frame = latest_frame or (lambda: None)
        self._frame: Frame | None = None
        self._result: InspectionResult | None = None
        self._frames_seen = 0
        self._last_signature: np.ndarray | None = None
        self.skipped = {"ng": 0, "similar": 0}  # good captures refused by the filter (this session)
        self.last_decision: Decision | None = None
        self.setAcceptDrops(True)
        self.good_button = QPushButton("Capture good  [G]")
        self.bad_button = QPushButton("Capture defective (validation only)")
        self.auto = QCheckBox("auto-capture good every")
        self.every = QSpinBox()
        self.every.setRange(1, 10_000)
        self.every.setValue(10)
        self.every.setSuffix(" frames")
        self.ng_policy = QComboBox()
        for key, text in NG_CHOICES:
            self.ng_policy.addItem(text, key)
        self.ng_policy.setToolTip(
            "a good sample the live model judges NG teaches the next model that the defect is normal"
        )
        self.min_change = QDoubleSpinBox()
        self.min_change.setRange(0.0, 50.0)
        self.min_change.setDecimals(1)
        self.min_change.setSingleStep(0.5)
        self.min_change.setValue(1.0)
        self.min_change.setPrefix("skip if change < ")
        self.min_change.setSuffix(" %")
        self.min_change.setSpecialValueText("keep near-copies")
        self.min_change.setToolTip(
            "mean grey-level difference to the previous good capture (32×32 thumbnails); 0 = off"
        )
        self.import_button = QPushButton("Import folder…")
        self.delete_button = QPushButton("Delete selected")
        self.counter = QLabel("")
        self.lists: dict[Kind, QListWidget] = {}
        self.tabs = QTabWidget()
        for kind in ("good", "defective"):
            lw = QListWidget()
            lw.setViewMode(QListWidget.ViewMode.IconMode)
            lw.setIconSize(QSize(THUMB, THUMB))
            lw.setResizeMode(QListWidget.ResizeMode.Adjust)
            lw.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
            self.lists[kind] = lw  # type: ignore[index]
            self.tabs.addTab(lw, kind)
        # one control per row, except short pairs: the Train panel beside the live view is ~340 px
        # wide on a 1366-px screen, and two long controls side by side made it scroll sideways (#25)
        self.ng_policy.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.ng_policy.setMinimumContentsLength(16)  # the full text shows where there is room
        self.counter.setWordWrap(True)
        g = QGridLayout(self)
        g.setContentsMargins(0, 0, 0, 0)  # the group box around it has its own
        g.addWidget(self.good_button, 0, 0, 1, 2)
        g.addWidget(self.bad_button, 1, 0, 1, 2)
        g.addWidget(self.auto, 2, 0)
        g.addWidget(self.every, 2, 1)
        g.addWidget(self.ng_policy, 3, 0, 1, 2)
        g.addWidget(self.min_change, 4, 0, 1, 2)
        g.addWidget(self.counter, 5, 0, 1, 2)
        g.addWidget(self.tabs, 6, 0, 1, 2)
        g.addWidget(self.import_button, 7, 0)
        g.addWidget(self.delete_button, 7, 1)
        self.good_button.clicked.connect(lambda: self.capture("good"))
        self.bad_button.clicked.connect(lambda: self.capture("defective"))
        self.import_button.clicked.connect(self._pick_folder)
        self.delete_button.clicked.connect(self.delete_selected)
        self.shortcut = QShortcut(QKeySequence("G"), self)
        self.shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.shortcut.activated.connect(lambda: self.capture("good"))
        QShortcut(QKeySequence.StandardKey.Delete, self, activated=self.delete_selected).setContext(
            Qt.ShortcutContext.WidgetWithChildrenShortcut
        )
        self.reload()

    # --- sample set ------------------------------------------------------------------------
    def set_sample_set(self, samples: SampleSet | None) -> None:
        self.samples = samples
        self._last_signature = None
        self.reload()

    def reload(self) -> None:
        for kind, lw in self.lists.items():
            lw.clear()
            for s in self.samples.list(kind) if self.samples is not None else []:
                try:
                    self._add_item(s, imread(s.path))
                except AoiError:
                    continue
        self._counts_changed()

    def counts(self) -> tuple[int, int]:
        return self.lists["good"].count(), self.lists["defective"].count()

    def _counts_changed(self) -> None:
        good, bad = self.counts()
        need = (
            f" — at least {MIN_GOOD} to train"
            if good < MIN_GOOD
            else " — training tells whether they are enough"
        )
        flagged = sum(
            1
            for i in range(good)
            if self.lists["good"].item(i).data(Qt.ItemDataRole.UserRole).meta.get("flagged")
        )
        text = f"good: {good}{need};  defective (validation): {bad}"
        if flagged:
            text += f"\n⚑ {flagged} good sample(s) the live model judged NG: review them"
        if any(self.skipped.values()):
            text += f"\nskipped: {self.skipped['ng']} judged NG, {self.skipped['similar']} near-copies"
        self.counter.setText(text)
        enabled = self.samples is not None
        for w in (self.good_button, self.bad_button, self.import_button, self.auto):
            w.setEnabled(enabled)
        self.countsChanged.emit(good, bad)

    def _add_item(self, s: CapturedSample, image: np.ndarray) -> None:
        said = verdict_text(s.meta)
        li = QListWidgetItem(thumbnail(image), f"{s.id}\n{said}" if said else f"{s.id}")
        li.setData(Qt.ItemDataRole.UserRole, s)
        li.setToolTip(
            f"{s.path}\n{s.meta.get('time', '')} {s.meta.get('source', '')}"
            + (f"\nlive model when captured: {said}" if said else "")
        )
        if s.meta.get("flagged"):
            li.setBackground(FLAG_BRUSH)
        self.lists[s.kind].addItem(li)

    # --- capturing -------------------------------------------------------------------------
    def capture_filter(self) -> CaptureFilter:
        return CaptureFilter(self.ng_policy.currentData(), self.min_change.value() / 100.0)

    def on_frame(self, frame: Frame, result: InspectionResult | None = None) -> None:
        """Every live frame comes here (with the live model's result, if any): it is what 'capture'
        takes, and auto-capture counts frames."""
        self._frame = frame
        self._result = result
        self._frames_seen += 1
        if self.auto.isChecked() and self._frames_seen % max(1, self.every.value()) == 0:
            self.capture("good", auto=True)

    def capture(self, kind: Kind, auto: bool = False) -> CapturedSample | None:
        """Capture the frame now shown; a good one passes the capture filter first (auto=True: skips
        are counted, not announced)."""
        frame = self._latest_frame() or self._frame
        result = self._result if frame is not None and frame is self._frame else None
        if self.samples is None:
            self.notified.emit("warning", "enter a product name before capturing")
            return None
        if frame is None:
            self.notified.emit("warning", "no live frame to capture: start the camera first")
            return None
        extra: dict = {}
        signature = None
        if result is not None:
            extra = {"live_verdict": result.verdict.value, "live_score": round(float(result.score), 6)}
        if kind == "good":
            signature = frame_signature(frame.image)
            d = self.capture_filter().check(
                signature,
                None if result is None else result.is_ng,
                None if result is None else float(result.score),
                self._last_signature,
            )
            self.last_decision = d
            if d.action == "skip":
                self.skipped[d.cause or "ng"] += 1
                if not auto:
                    self.notified.emit("info", f"not captured as good: {d.reason}")
                self._counts_changed()
                return None
            if d.action == "flag":
                extra["flagged"] = True
                self.notified.emit("warning", f"captured as good but {d.reason}")
        try:
            s = self.samples.add_frame(frame, kind, extra)
        except AoiError as exc:
            self.notified.emit("error", f"capture failed: {exc}")
            return None
        if signature is not None:
            self._last_signature = signature
        self._add_item(s, frame.image)
        self.lists[kind].scrollToBottom()
        self._counts_changed()
        return s

    def import_paths(self, paths: list[str | Path], kind: Kind = "good") -> int:
        if self.samples is None:
            self.notified.emit("warning", "enter a product name before importing")
            return 0
        try:
            added = self.samples.import_files(list(paths), kind)
        except AoiError as exc:
            self.notified.emit("error", f"import failed: {exc}")
            return 0
        for s in added:
            self._add_item(s, imread(s.path))
        self._counts_changed()
        self.notified.emit("info", f"imported {len(added)} {kind} sample(s)")
        return len(added)

    def _pick_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Import good samples from a folder")
        if d:
            self.import_paths([d], self._current_kind())

    def _current_kind(self) -> Kind:
        return "good" if self.tabs.currentIndex() == 0 else "defective"

    def delete_selected(self) -> int:
        lw = self.lists[self._current_kind()]
        items = lw.selectedItems()
        for li in items:
            s: CapturedSample = li.data(Qt.ItemDataRole.UserRole)
            if self.samples is not None:
                self.samples.remove(s)
            lw.takeItem(lw.row(li))
        if items:
            self._counts_changed()
        return len(items)

    # --- drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.import_paths(paths, self._current_kind())
            event.acceptProposedAction()
