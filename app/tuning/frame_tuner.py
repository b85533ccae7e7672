"""Frozen-frame tuning: thresholds, min area, smoothing, opacity and ROI re-applied from the cached map.

Every control edit calls `FrozenFrame.apply` (no re-inference) and redraws mask, outlines, defect
table and verdict; the histogram's threshold line and the pixel-threshold spin box follow each other.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.display_data import to_display8
from app.resources import set_state
from app.tuning.anomaly_histogram import ThresholdHistogram
from app.tuning.defect_table import DefectTable
from app.tuning.frame_view import FrozenFrameView
from app.tuning.pixel_size import PixelSizeBox
from app.tuning.session import TuningSession
from app.tuning.threshold_controls import ThresholdControls
from inspection_core.calibration.frozen import FrozenFrame
from inspection_core.postprocess.foreground import foreground_roi
from inspection_core.postprocess.roi import Roi
from inspection_core.types import InspectionResult, Verdict


class FrameTuner(QWidget):
    def __init__(self, session: TuningSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.frozen: FrozenFrame | None = None
        self.image: np.ndarray | None = None
        self.result: InspectionResult | None = None
        self.view = FrozenFrameView()
        self.controls = ThresholdControls()
        self.histogram = ThresholdHistogram("normalised anomaly value (0.5 = calibrated)")
        self.table = DefectTable()
        self.verdict = QLabel("no frozen frame")
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict.setMinimumHeight(44)
        self.timing = QLabel("")
        self._build_roi_box()
        self.pixel_size = PixelSizeBox(self.view.vb)
        self.pixel_size.pixelSizeSet.connect(lambda mm: self.session.update(pixel_size_mm=mm))
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.addWidget(self.verdict)
        sl.addWidget(self.controls)
        sl.addWidget(self.roi_box)
        sl.addWidget(self.pixel_size)
        sl.addWidget(self.timing)
        sl.addStretch(1)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.view)
        left.addWidget(self.histogram)
        left.addWidget(self.table)
        left.setSizes([500, 160, 140])
        lay = QHBoxLayout(self)
        lay.addWidget(left, 3)
        lay.addWidget(side, 1)
        self.controls.set_settings(session.settings)
        self.histogram.set_threshold(session.settings.pixel_threshold)
        self.controls.changed.connect(self._controls_changed)
        self.histogram.thresholdMoved.connect(self._line_moved)
        self.table.defectSelected.connect(self.view.highlight)
        session.settingsChanged.connect(self._session_changed)

    def _build_roi_box(self) -> None:
        self.roi_box = QGroupBox("Inspection region (ROI)")
        g = QGridLayout(self.roi_box)
        self.roi_include = QRadioButton("inspect")
        self.roi_ignore = QRadioButton("ignore")
        self.roi_include.setChecked(True)
        grp = QButtonGroup(self.roi_box)
        grp.addButton(self.roi_include)
        grp.addButton(self.roi_ignore)
        names = ("Rectangle", "Polygon", "Add shape", "Cancel", "Product outline", "Clear ROI")
        self.roi_buttons = {name: QPushButton(name) for name in names}
        self.roi_buttons["Product outline"].setToolTip(
            "Add the outline of the product (Otsu threshold against the background) as a region to inspect"
        )
        self.roi_note = QLabel("")
        self.roi_note.setWordWrap(True)
        g.addWidget(self.roi_include, 0, 0)
        g.addWidget(self.roi_ignore, 0, 1)
        for i, b in enumerate(self.roi_buttons.values()):
            g.addWidget(b, 1 + i // 2, i % 2)
        g.addWidget(self.roi_note, 1 + (len(names) + 1) // 2, 0, 1, 2)
        self.roi_buttons["Rectangle"].clicked.connect(lambda: self.begin_shape("rect"))
        self.roi_buttons["Polygon"].clicked.connect(lambda: self.begin_shape("polygon"))
        self.roi_buttons["Add shape"].clicked.connect(self.add_shape)
        self.roi_buttons["Cancel"].clicked.connect(self.view.cancel_shape)
        self.roi_buttons["Product outline"].clicked.connect(self.suggest_outline)
        self.roi_buttons["Clear ROI"].clicked.connect(lambda: self.session.update(roi=Roi()))

    # --- input -----------------------------------------------------------------------------
    def set_frozen(self, frozen: FrozenFrame, image: np.ndarray) -> None:
        """Show a frozen frame (its raw prediction cached in `frozen`) and re-apply the settings."""
        self.frozen = frozen
        self.image = image
        self.roi_note.setText("")
        self.view.set_image(to_display8(image))
        counts, edges = frozen.histogram(100)
        self.histogram.set_bars("frame", edges, counts, (180, 180, 180))
        self.refresh()

    # --- ROI -------------------------------------------------------------------------------
    def begin_shape(self, kind: str) -> None:
        self.view.begin_shape(kind, ignore=self.roi_ignore.isChecked())

    def suggest_outline(self) -> None:
        """Add the product's outline on the frozen frame as an include shape (BFDF's Otsu foreground)."""
        if self.image is None:
            self.roi_note.setText("Freeze a frame first.")
            return
        shape = foreground_roi(self.image)
        if shape is None:
            self.roi_note.setText("No outline: the product fills the frame (no background to separate).")
            return
        self.session.update(roi=Roi((*self.session.settings.roi.shapes, shape)))
        self.roi_note.setText(f"Product outline added ({len(shape.points)} points); clear it like any shape.")

    def add_shape(self) -> None:
        shape = self.view.finish_shape()
        if shape is not None:
            self.session.update(roi=Roi((*self.session.settings.roi.shapes, shape)))

    # --- syncing ---------------------------------------------------------------------------
    def _controls_changed(self) -> None:
        new = self.controls.applied_to(self.session.settings)
        if new != self.session.settings:
            self.session.set_settings(new)  # → _session_changed → refresh
        else:
            self.refresh()  # opacity is display-only: the session does not change for it

    def _line_moved(self, value: float) -> None:
        self.session.update(pixel_threshold=round(float(np.clip(value, 0.0, 1.0)), 4))

    def _session_changed(self, settings) -> None:  # noqa: ANN001 - PostprocessSettings
        self.controls.set_settings(settings)
        self.histogram.set_threshold(settings.pixel_threshold)
        self.pixel_size.show_value(settings.pixel_size_mm)
        self.refresh()

    def refresh(self) -> InspectionResult | None:
        """Re-threshold the frozen frame with the session's settings and redraw everything."""
        s = self.session.settings
        self.view.set_roi(s.roi)
        if self.frozen is None:
            return None
        res = self.result = self.frozen.apply(s)
        self.view.set_result(res, s.pixel_threshold, self.controls.opacity.value())
        self.table.set_defects(res.defects)
        ng = res.verdict is Verdict.NG
        self.verdict.setText(f"{res.verdict}   score {res.score:.3f}   defects {len(res.defects)}")
        set_state(self.verdict, "tunerVerdict", "NG" if ng else "OK")  # resources/aoi-station.qss
        self.timing.setText(f"re-threshold {res.timings.get('postprocess', 0.0):.1f} ms (no re-inference)")
        return res
