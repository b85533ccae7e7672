"""The tuning workspace: a frozen frame and a labelled-folder validation around one TuningSession.

Both tabs edit the same session, so a threshold dragged on the validation histogram immediately shows
on the frozen frame and vice versa. Apply/Restore commit through the session (recipe history kept);
the `applied` signal is what the main window uses to push the new settings into live inspection.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from app.tuning.frame_tuner import FrameTuner
from app.tuning.messages import show_message
from app.tuning.session import TuningSession
from app.tuning.validation_panel import InspectorProvider, ValidationPanel
from inspection_core.calibration.frozen import FrozenFrame
from inspection_core.errors import AoiError
from inspection_core.inspector import RawPrediction
from inspection_core.models.bundle import ModelBundle


class TuningWorkspace(QWidget):
    applied = Signal(object)  # PostprocessSettings now in force
    notified = Signal(str, str)  # level, message

    def __init__(
        self,
        session: TuningSession | None = None,
        inspector: InspectorProvider | None = None,
        parent: QWidget | None = None,
        dialogs: bool = True,
    ) -> None:
        super().__init__(parent)
        self.session = session or TuningSession()
        self.session.setParent(self)
        self.dialogs = dialogs  # False when someone else (the main window) shows the messages
        self.messages: list[tuple[str, str]] = []
        self.guard = lambda _what: True  # may this user change live inspection? (the window's AccessControl)
        self.frame = FrameTuner(self.session)
        self.validation = ValidationPanel(self.session, inspector)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.frame, "Frozen frame")
        self.tabs.addTab(self.validation, "Validation (labelled folder)")
        self.apply_button = QPushButton("Apply thresholds")
        self.restore_button = QPushButton("Restore previous")
        self.history_label = QLabel("")
        self.apply_button.clicked.connect(self.apply)
        self.restore_button.clicked.connect(self.restore)
        bar = QHBoxLayout()
        bar.addWidget(self.apply_button)
        bar.addWidget(self.restore_button)
        bar.addWidget(self.history_label, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.tabs, 1)
        lay.addLayout(bar)
        self.validation.notified.connect(self.notify)
        self.session.settingsChanged.connect(lambda _s: self._update_bar())
        self.session.applied.connect(self.applied.emit)
        self._update_bar()

    # --- entry points ----------------------------------------------------------------------
    def freeze(self, frozen: FrozenFrame, image: np.ndarray) -> None:
        """Tune on this frame (the live view's 'Freeze → Tune' hands its cached raw prediction here)."""
        self.frame.set_frozen(frozen, image)
        self.tabs.setCurrentWidget(self.frame)

    def freeze_prediction(
        self, bundle: ModelBundle, raw: RawPrediction, image: np.ndarray, frame_id: int = 0
    ) -> None:
        self.freeze(FrozenFrame(raw, bundle.normalization, frame_id, bundle.name), image)

    # --- commit ----------------------------------------------------------------------------
    def apply(self) -> bool:
        if not self.guard("apply thresholds"):
            return False
        try:
            s = self.session.apply()
        except AoiError as exc:
            self.notify("error", f"cannot apply: {exc}")
            return False
        where = (
            f" (recipe {self.session.recipe.name} v{self.session.recipe.version})"
            if self.session.recipe
            else ""
        )
        self.notify(
            "info", f"thresholds applied: image {s.image_threshold:.3f}, pixel {s.pixel_threshold:.3f}{where}"
        )
        return True

    def restore(self) -> bool:
        if not self.guard("restore thresholds"):
            return False
        try:
            s = self.session.restore()
        except AoiError as exc:
            self.notify("error", f"nothing to restore: {exc}")
            return False
        self.notify(
            "info", f"thresholds restored: image {s.image_threshold:.3f}, pixel {s.pixel_threshold:.3f}"
        )
        return True

    def _update_bar(self) -> None:
        n = len(self.session.history)
        self.restore_button.setEnabled(n > 0)
        dirty = " — unapplied changes" if self.session.dirty else ""
        self.history_label.setText(f"{n} earlier setting(s) in the history{dirty}")

    def notify(self, level: str, message: str) -> None:
        """Record and emit; standalone (dialogs=True) errors also open a non-modal message box."""
        self.messages.append((level, message))
        self.notified.emit(level, message)
        if self.dialogs and level == "error":
            show_message(self, level, message)

    def shutdown(self) -> None:
        self.validation.shutdown()
