"""The frozen frame: image, heatmap, defect outlines, the selected defect, and ROI shapes (drawable).

ROI editing uses pyqtgraph's own handles: `begin_rect` / `begin_polygon` put an editable shape over the
frame (a polygon's handles are dragged, and clicking an edge adds a point); `finish_shape` turns it into
a RoiShape. Nothing here thresholds anything — it only draws what the FrameTuner hands it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QWidget

from app.display_data import heat_to_u8, outlines
from app.views.heat_lut import heat_lut
from app.views.live_view import _roi_path
from inspection_core.postprocess.roi import Roi, RoiShape
from inspection_core.types import Defect, InspectionResult

INCLUDE_COLOR, IGNORE_COLOR = (0, 220, 255), (255, 0, 255)


class FrozenFrameView(pg.GraphicsView):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="#202020")
        self.vb = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.setCentralItem(self.vb)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item.setZValue(1)
        self.outline_item = pg.PlotCurveItem(pen=pg.mkPen((255, 50, 50), width=2), connect="finite")
        self.outline_item.setZValue(3)
        self.highlight_item = pg.PlotCurveItem(pen=pg.mkPen((255, 255, 0), width=3))
        self.highlight_item.setZValue(4)
        self.roi_include, self.roi_ignore = QGraphicsPathItem(), QGraphicsPathItem()
        for item, color in ((self.roi_include, INCLUDE_COLOR), (self.roi_ignore, IGNORE_COLOR)):
            pen = QPen(QColor(*color), 2, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(5)
        for it in (self.image_item, self.heat_item, self.outline_item, self.highlight_item):
            self.vb.addItem(it)
        self.vb.addItem(self.roi_include)
        self.vb.addItem(self.roi_ignore)
        self.shape: tuple[int, int] | None = None
        self._heat_source: np.ndarray | None = None
        self.editor: pg.ROI | None = None
        self._editor_kind = ""
        self._editor_ignore = False

    # --- drawing ---------------------------------------------------------------------------
    def set_image(self, image8: np.ndarray) -> None:
        h, w = image8.shape[:2]
        self.image_item.setImage(image8, autoLevels=False, levels=(0, 255))
        if self.shape != (h, w):
            self.shape = (h, w)
            self.vb.setRange(QRectF(0, 0, w, h), padding=0)

    def set_result(self, result: InspectionResult, pixel_threshold: float, opacity: float) -> None:
        h, w = result.anomaly_map.shape[:2]
        if result.anomaly_map is not self._heat_source:  # the map changes with smoothing/ROI only
            self._heat_source = result.anomaly_map
            self.heat_item.setImage(heat_to_u8(result.anomaly_map), autoLevels=False, levels=(0, 255))
            self.heat_item.setRect(QRectF(0, 0, w, h))
        self.heat_item.setLookupTable(heat_lut(pixel_threshold))
        self.heat_item.setOpacity(float(np.clip(opacity, 0.0, 1.0)))
        xy = outlines(result.mask)
        self.outline_item.setData(xy[:, 0], xy[:, 1]) if len(xy) else self.outline_item.setData([], [])

    def highlight(self, defect: Defect | None) -> None:
        if defect is None:
            self.highlight_item.setData([], [])
            return
        x0, y0, x1, y1 = defect.bbox
        self.highlight_item.setData([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0])

    def set_roi(self, roi: Roi) -> None:
        self.roi_include.setPath(_roi_path(tuple(s for s in roi.shapes if not s.ignore)))
        self.roi_ignore.setPath(_roi_path(tuple(s for s in roi.shapes if s.ignore)))

    # --- ROI editing -----------------------------------------------------------------------
    def begin_shape(self, kind: str, ignore: bool = False) -> None:
        """Show an editable rect or polygon over the middle of the frame (replaces one in progress)."""
        if self.shape is None:
            return
        self.cancel_shape()
        h, w = self.shape
        pen = pg.mkPen(IGNORE_COLOR if ignore else INCLUDE_COLOR, width=2)
        if kind == "rect":
            self.editor = pg.RectROI((w / 4, h / 4), (w / 2, h / 2), pen=pen)
        else:
            cx, cy, r = w / 2, h / 2, min(w, h) / 4
            ang = np.linspace(0, 2 * np.pi, 6)[:-1] - np.pi / 2
            pts = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in ang]
            self.editor = pg.PolyLineROI(pts, closed=True, pen=pen)
        self.editor.setZValue(6)
        self._editor_kind, self._editor_ignore = kind, ignore
        self.vb.addItem(self.editor)

    def editor_shape(self) -> RoiShape | None:
        """The shape being edited, in frame pixels."""
        ed = self.editor
        if ed is None:
            return None
        pos = ed.pos()
        if self._editor_kind == "rect":
            sw, sh = ed.size()
            return RoiShape.rect(pos.x(), pos.y(), pos.x() + sw, pos.y() + sh, self._editor_ignore)
        pts = [(p.x() + pos.x(), p.y() + pos.y()) for _, p in ed.getLocalHandlePositions()]
        return RoiShape.polygon(pts, self._editor_ignore)

    def finish_shape(self) -> RoiShape | None:
        shape = self.editor_shape()
        self.cancel_shape()
        return shape

    def cancel_shape(self) -> None:
        if self.editor is not None:
            self.vb.removeItem(self.editor)
            self.editor = None
