"""Validation on a labelled folder: run the model in a worker, then tune the image threshold with evidence.

Everything after the run (histograms, ROC, confusion matrix, false rejects/accepts, suggestions) is
recomputed from the cached `ValidationRun`, so dragging the threshold is instant.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.access import confirm
from app.tuning.anomaly_histogram import ThresholdHistogram
from app.tuning.confusion_view import ConfusionView
from app.tuning.error_gallery import ErrorGallery
from app.tuning.roc_plot import RocPlot
from app.tuning.session import TuningSession
from app.tuning.task_worker import eta_text, make_task
from app.workers.threads import WorkerThread
from inspection_core.calibration.thresholds import Strategy, ThresholdSuggestion
from inspection_core.calibration.validation import ValidationRun, labelled_samples
from inspection_core.errors import AoiError
from inspection_core.inspector import Inspector
from inspection_core.runtime.context import ProgressEvent

InspectorProvider = Callable[[], Inspector | None]


def _folder_row(edit: QLineEdit, button: QPushButton) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    lay.addWidget(button)
    return w


class ValidationPanel(QWidget):
    finished = Signal(object)  # ValidationRun
    notified = Signal(str, str)  # level, message

    def __init__(
        self,
        session: TuningSession,
        inspector: InspectorProvider | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self._inspector = inspector or (lambda: None)
        self.run: ValidationRun | None = None
        self.task: WorkerThread | None = None
        self.suggestions: dict[str, ThresholdSuggestion] = {}
        self._build()
        session.settingsChanged.connect(self._session_changed)

    # --- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText(
            "MVTec folder (test/good, test/<defect>) or a folder of good images"
        )
        self.bad_edit = QLineEdit()
        self.bad_edit.setPlaceholderText("optional: folder of defective images (then the first is good only)")
        self.mask_edit = QLineEdit()
        self.mask_edit.setPlaceholderText("optional: masks folder (<name>_mask.png)")
        browse = []
        for edit in (self.data_edit, self.bad_edit, self.mask_edit):
            b = QPushButton("…")
            b.clicked.connect(lambda _=False, e=edit: self._pick(e))
            browse.append(_folder_row(edit, b))
        self.run_button = QPushButton("Run validation")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress_label = QLabel("")
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        src = QGroupBox("Labelled images")
        form = QFormLayout(src)
        form.addRow("Images", browse[0])
        form.addRow("Defective", browse[1])
        form.addRow("Masks", browse[2])
        row = QHBoxLayout()
        for w in (self.run_button, self.cancel_button, self.progress_label):
            row.addWidget(w)
        form.addRow(row)
        form.addRow(self.progress)  # its own row: the panel fits ~340 px beside the live view (#25)

        self.summary = QLabel("no validation yet")
        self.summary.setWordWrap(True)
        self.scores = ThresholdHistogram("normalised image score (0.5 = calibrated)")
        self.roc = RocPlot()
        self.confusion = ConfusionView()
        self.gallery = ErrorGallery()
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 10.0)
        self.threshold.setDecimals(3)
        self.threshold.setSingleStep(0.01)
        self.threshold.setKeyboardTracking(False)
        self.threshold.setValue(self.session.settings.image_threshold)
        self.threshold.valueChanged.connect(lambda v: self.session.update(image_threshold=round(float(v), 6)))
        self.scores.thresholdMoved.connect(
            lambda v: self.session.update(image_threshold=round(max(v, 0.0), 4))
        )
        self.scores.set_threshold(self.session.settings.image_threshold)

        sug = QGroupBox("Suggested thresholds")
        g = QGridLayout(sug)
        self.max_fr = QDoubleSpinBox()
        self.max_fr.setRange(0.0, 50.0)
        self.max_fr.setPrefix("false rejects ≤ ")
        self.max_fr.setSuffix(" %")
        self.max_fr.setValue(1.0)
        self.min_recall = QDoubleSpinBox()
        self.min_recall.setRange(1.0, 100.0)
        self.min_recall.setDecimals(1)
        self.min_recall.setPrefix("defects caught ≥ ")
        self.min_recall.setSuffix(" %")
        self.min_recall.setValue(99.0)
        for sb in (self.max_fr, self.min_recall):
            sb.valueChanged.connect(lambda _v: self.update_suggestions())
        self.sug_labels: dict[str, QLabel] = {}
        self.sug_buttons: dict[str, QPushButton] = {}
        for r, key in enumerate(("f1", "max-false-reject", "min-recall", "pixel")):
            lab = QLabel("–")
            lab.setWordWrap(True)
            btn = QPushButton("Use")
            btn.setEnabled(False)
            btn.clicked.connect(lambda _=False, k=key: self.use_suggestion(k))
            self.sug_labels[key], self.sug_buttons[key] = lab, btn
            # the rule and its Use button on one row, the suggestion under them: three columns side
            # by side made Train scroll sideways in a ~340-px panel (#25)
            g.addWidget(btn, 2 * r, 1)
            g.addWidget(lab, 2 * r + 1, 0, 1, 2)
        g.setColumnStretch(0, 1)
        g.addWidget(QLabel("F1-max"), 0, 0)
        g.addWidget(self.max_fr, 2, 0)
        g.addWidget(self.min_recall, 4, 0)
        g.addWidget(QLabel("pixel"), 6, 0)

        thr_row = QHBoxLayout()
        thr_row.addWidget(QLabel("Image threshold"))
        thr_row.addWidget(self.threshold)
        thr_row.addStretch(1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)  # nested margins once made Train scroll sideways (#25)
        rl.addWidget(self.summary)
        rl.addLayout(thr_row)
        rl.addWidget(self.confusion)
        rl.addWidget(sug)
        plots = QSplitter()
        plots.addWidget(self.scores)
        plots.addWidget(self.roc)
        lower = QSplitter(Qt.Orientation.Vertical)  # stacked: fits a panel beside the live view (#25)
        lower.addWidget(self.gallery)
        lower.addWidget(right)
        body = QSplitter()
        body.setOrientation(body.orientation().Vertical)
        body.addWidget(plots)
        body.addWidget(lower)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(src)
        lay.addWidget(body, 1)

    def _pick(self, edit: QLineEdit) -> None:
        d = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text() or str(Path.home()))
        if d:
            edit.setText(d)

    # --- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.task is not None and self.task.is_running()

    def start(self) -> bool:
        """Index the folder(s) here (fast, clear errors), run the model in a worker."""
        if self.running:
            return False
        insp = self._inspector()
        if insp is None:
            self.notified.emit("error", "validation needs a model: load or train one first")
            return False
        try:
            samples = labelled_samples(
                self.data_edit.text().strip(),
                self.bad_edit.text().strip() or None,
                self.mask_edit.text().strip() or None,
            )
        except AoiError as exc:
            self.notified.emit("error", str(exc))
            return False
        insp = Inspector(insp.bundle, self.session.settings, insp.preprocessing)  # own copy for the thread
        task = make_task(lambda ctx: ValidationRun.run(insp, samples, ctx), "validation", insp.device)
        w = task.worker
        w.progress.connect(self._progress)
        w.done.connect(self.set_run)
        # bound methods only: PySide runs a lambda connected to a worker signal in the worker's thread
        w.error.connect(self._on_error)
        w.cancelled.connect(self._on_cancelled)
        w.finished.connect(self._task_ended)
        self.task = task
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, len(samples))
        self.progress.setValue(0)
        task.start()
        return True

    def _on_error(self, message: str) -> None:
        self.notified.emit("error", f"validation failed: {message}")

    def _on_cancelled(self) -> None:
        self.notified.emit("info", "validation cancelled")

    def cancel(self) -> None:
        if self.task is not None:
            self.task.worker.request_stop()

    def _progress(self, ev: ProgressEvent) -> None:
        self.progress.setRange(0, max(ev.total, 1))
        self.progress.setValue(ev.step)
        self.progress_label.setText(f"{ev.step}/{ev.total} {eta_text(ev)}")

    def _task_ended(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def shutdown(self) -> None:
        """Cancel and wait for a running validation (call before the widget goes away)."""
        if self.task is not None:
            self.task.stop_and_wait(30_000)  # never drop a running QThread: that aborts the app
            self.task = None

    # --- showing ---------------------------------------------------------------------------
    def set_run(self, run: ValidationRun) -> None:
        self.run = run
        edges, good, bad = run.histograms(60)
        self.scores.set_bars("good", edges, good, (60, 200, 90))
        self.scores.set_bars("defective", edges, bad, (230, 70, 70))
        both = run.n_good and run.n_defective
        self.roc.set_roc(run.roc() if both else None)
        text = f"{len(run.items)} images: {run.n_good} good, {run.n_defective} defective"
        if both:
            text += f"; image AUROC {self.roc.auroc:.3f}"
        if run.has_masks:
            pm = run.pixel_metrics()
            text += f"; pixel AUROC {pm['pixel_auroc']:.3f}, AUPRO {pm['aupro']:.3f}"
        self.summary.setText(text)
        self.update_suggestions()
        self._session_changed(self.session.settings)
        self.finished.emit(run)

    def update_suggestions(self) -> None:
        run = self.run
        if run is None:
            return
        strategies = {
            "f1": Strategy("f1"),
            "max-false-reject": Strategy("max-false-reject", self.max_fr.value() / 100),
            "min-recall": Strategy("min-recall", self.min_recall.value() / 100),
        }
        self.suggestions = {}
        for key, strat in strategies.items():
            try:
                s = self.suggestions[key] = run.suggest(strat)
            except AoiError as exc:
                self.sug_labels[key].setText(str(exc))
                self.sug_buttons[key].setEnabled(False)
                continue
            c = s.confusion
            gives = f" → rejects {c.fp}/{c.n_good} good, misses {c.fn}/{c.n_defective}" if c else ""
            warn = " ⚠" if s.warnings else ""
            self.sug_labels[key].setText(f"<b>{s.threshold:.3f}</b>{gives}{warn}")
            self.sug_labels[key].setToolTip("\n".join((s.note, *s.warnings)))
            self.sug_buttons[key].setEnabled(True)
        try:
            px = self.suggestions["pixel"] = run.suggest_pixel()
            self.sug_labels["pixel"].setText(f"<b>{px.threshold:.3f}</b> ({px.strategy})")
            self.sug_labels["pixel"].setToolTip(px.note)
            self.sug_buttons["pixel"].setEnabled(True)
        except AoiError as exc:
            self.sug_labels["pixel"].setText(str(exc))
        image_sugs = {k: v for k, v in self.suggestions.items() if k != "pixel"}
        self.scores.set_markers({k: v.threshold for k, v in image_sugs.items()})
        self.roc.set_suggestions({k: v.confusion for k, v in image_sugs.items() if v.confusion is not None})

    def use_suggestion(self, key: str) -> bool:
        """Put a suggestion into the session; one marked ⚠ asks first (e.g. it rejects many good parts)."""
        s = self.suggestions.get(key)
        if s is None:
            return False
        if getattr(s, "warnings", ()) and not confirm(
            self,
            "Use a threshold marked ⚠?",
            f"The suggested threshold {s.threshold:.3f} is marked ⚠:\n\n"
            + "\n".join(f"• {w}" for w in s.warnings)
            + "\n\nUse it anyway? (Apply thresholds still decides whether the line uses it.)",
            "Use it",
        ):
            self.notified.emit("info", f"suggested threshold {s.threshold:.3f} not used")
            return False
        if key == "pixel":
            self.session.update(pixel_threshold=round(s.threshold, 6))
        else:
            self.session.update(image_threshold=round(s.threshold, 6))
        return True

    def _session_changed(self, settings) -> None:  # noqa: ANN001 - PostprocessSettings
        t = settings.image_threshold
        self.threshold.blockSignals(True)
        self.threshold.setValue(t)
        self.threshold.blockSignals(False)
        self.scores.set_threshold(t)
        if self.run is None or math.isnan(t):
            return
        c = self.run.confusion(t)
        self.confusion.set_confusion(c)
        self.roc.set_current(c)
        self.gallery.set_errors(self.run, t, settings.pixel_threshold)
