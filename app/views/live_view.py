"""Live view: frame, heatmap, defect outlines and boxes, ROI — all pyqtgraph items, levels fixed.

Nothing here computes per-frame statistics: the inference worker already prepared uint8 images and
polylines (app.display_data), so a redraw is a few `setImage`/`setData` calls.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QWidget

from app.display_data import InspectedFrame
from app.state import OverlaySettings, SessionState
from app.views.heat_lut import heat_lut
from inspection_core.postprocess.roi import Roi, RoiShape

OUTLINE_PEN = pg.mkPen((255, 50, 50), width=2)
BOX_PEN = pg.mkPen((255, 220, 0), width=1.5)
MAX_LABELS = 24


def _roi_path(shapes: tuple[RoiShape, ...]) -> QPainterPath:
    path = QPainterPath()
    for s in shapes:
        if s.kind == "rect":
            (x0, y0), (x1, y1) = s.points
            path.addRect(QRectF(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)))
        else:
            path.moveTo(*s.points[0])
            for p in s.points[1:]:
                path.lineTo(*p)
            path.closeSubpath()
    return path


class LiveView(pg.GraphicsView):
    """Binds to SessionState.currentChanged / overlayChanged / thresholdsChanged / roiChanged."""

    roiDrawn = Signal(object)  # Roi, when the operator finishes drawing a rectangle

    def __init__(self, state: SessionState, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="#202020")
        self.state = state
        self.vb = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.setCentralItem(self.vb)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item.setZValue(1)
        self.box_item = pg.PlotCurveItem(pen=BOX_PEN, connect="finite", antialias=False)
        self.box_item.setZValue(2)
        self.outline_item = pg.PlotCurveItem(pen=OUTLINE_PEN, connect="finite", antialias=False)
        self.outline_item.setZValue(3)
        self.roi_include = QGraphicsPathItem()
        self.roi_ignore = QGraphicsPathItem()
        for item, color in ((self.roi_include, (0, 220, 255)), (self.roi_ignore, (255, 0, 255))):
            pen = QPen(QColor(*color), 2, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(4)
        for it in (
            self.image_item,
            self.heat_item,
            self.box_item,
            self.outline_item,
            self.roi_include,
            self.roi_ignore,
        ):
            self.vb.addItem(it)
        self.labels: list[pg.TextItem] = []
        self._shape: tuple[int, int] | None = None
        self._editor: pg.RectROI | None = None
        self.frames_drawn = 0
        self.paints = 0  # paint events of the view (benchmarks check every frame was painted)
        self._on_thresholds(state.image_threshold, state.pixel_threshold)
        self.apply_overlay(state.overlay)
        self.set_roi(state.roi)
        state.currentChanged.connect(self.show_item)
        state.rawChanged.connect(self.show_raw)
        state.overlayChanged.connect(self.apply_overlay)
        state.thresholdsChanged.connect(self._on_thresholds)
        state.roiChanged.connect(self.set_roi)

    # --- drawing -------------------------------------------------------------------------------
    def show_item(self, item: InspectedFrame) -> None:
        img = item.image8
        h, w = img.shape[:2]
        self.image_item.setImage(img, autoLevels=False, levels=(0, 255))
        self.heat_item.setImage(item.heat8, autoLevels=False, levels=(0, 255))
        self.heat_item.setRect(QRectF(0, 0, w, h))
        self._set_curve(self.outline_item, item.outline_xy)
        self._set_curve(self.box_item, item.box_xy)
        self._set_labels(item.labels)
        if self._shape != (h, w):
            self._shape = (h, w)
            self.fit()
        self.frames_drawn += 1

    def show_raw(self, raw) -> None:  # noqa: ANN001 - app.raw_frame.RawFrame
        """A frame without inspection (no model yet): the image only, no overlay from an older result."""
        img = raw.image8
        h, w = img.shape[:2]
        self.image_item.setImage(img, autoLevels=False, levels=(0, 255))
        self.heat_item.clear()
        self._set_curve(self.outline_item, np.zeros((0, 2), np.float32))
        self._set_curve(self.box_item, np.zeros((0, 2), np.float32))
        self._set_labels(())
        if self._shape != (h, w):
            self._shape = (h, w)
            self.fit()
        self.frames_drawn += 1

    @staticmethod
    def _set_curve(curve: pg.PlotCurveItem, xy: np.ndarray) -> None:
        if len(xy):
            curve.setData(xy[:, 0], xy[:, 1])
        else:
            curve.setData([], [])

    def _set_labels(self, labels: tuple[tuple[float, float, str], ...]) -> None:
        labels = labels[:MAX_LABELS]
        while len(self.labels) < len(labels):
            t = pg.TextItem(color=(255, 220, 0), anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 140))
            t.setZValue(5)
            self.vb.addItem(t)
            self.labels.append(t)
        show = self.state.overlay.boxes and not self.state.overlay.raw_only
        for i, t in enumerate(self.labels):
            if i < len(labels):
                x, y, text = labels[i]
                t.setText(text)
                t.setPos(x, y)
                t.setVisible(show)
            else:
                t.setVisible(False)

    def apply_overlay(self, o: OverlaySettings) -> None:
        on = not o.raw_only
        self.heat_item.setVisible(on and o.heatmap)
        self.heat_item.setOpacity(float(np.clip(o.opacity, 0.0, 1.0)))
        self.outline_item.setVisible(on and o.outlines)
        self.box_item.setVisible(on and o.boxes)
        n = len(self.state.current.labels) if self.state.current is not None else 0
        for i, t in enumerate(self.labels):
            t.setVisible(on and o.boxes and i < n)
        self.roi_include.setVisible(on and o.roi)
        self.roi_ignore.setVisible(on and o.roi)

    def _on_thresholds(self, _image: float, pixel: float) -> None:
        self.heat_item.setLookupTable(heat_lut(pixel))

    def set_roi(self, roi: Roi) -> None:
        self.roi_include.setPath(_roi_path(tuple(s for s in roi.shapes if not s.ignore)))
        self.roi_ignore.setPath(_roi_path(tuple(s for s in roi.shapes if s.ignore)))

    def paintEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        self.paints += 1
        super().paintEvent(event)

    # --- navigation ----------------------------------------------------------------------------
    def fit(self) -> None:
        """Whole frame in the window."""
        if self._shape is not None:
            h, w = self._shape
            self.vb.setRange(QRectF(0, 0, w, h), padding=0)

    def one_to_one(self) -> None:
        """One frame pixel per screen pixel, centred where the view is now."""
        c = self.vb.viewRect().center()
        w, h = max(1.0, self.vb.width()), max(1.0, self.vb.height())
        self.vb.setRange(
            xRange=(c.x() - w / 2, c.x() + w / 2), yRange=(c.y() - h / 2, c.y() + h / 2), padding=0
        )

    def pixel_scale(self) -> float:
        """Screen pixels per frame pixel (1.0 after one_to_one)."""
        r = self.vb.viewRect()
        return float(self.vb.width() / r.width()) if r.width() > 0 else 0.0

    # --- ROI drawing ---------------------------------------------------------------------------
    def begin_roi(self) -> None:
        """Put an editable rectangle over the middle half of the frame."""
        if self._shape is None or self._editor is not None:
            return
        h, w = self._shape
        self._editor = pg.RectROI((w / 4, h / 4), (w / 2, h / 2), pen=pg.mkPen((0, 220, 255), width=2))
        self._editor.setZValue(6)
        self.vb.addItem(self._editor)

    def finish_roi(self) -> Roi | None:
        """Turn the edited rectangle into an ROI (emitted as roiDrawn); None if none was being drawn."""
        if self._editor is None:
            return None
        x, y = self._editor.pos()
        sw, sh = self._editor.size()
        self.vb.removeItem(self._editor)
        self._editor = None
        roi = Roi((RoiShape.rect(x, y, x + sw, y + sh),))
        self.roiDrawn.emit(roi)
        return roi

    @property
    def editing_roi(self) -> bool:
        return self._editor is not None
