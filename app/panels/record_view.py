"""One inspection record, opened from the Records panel: the saved frame with its overlay, what the
row says (time, recipe, model and the backend that ran it, verdict, score, thresholds) and its defect
list."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspection_core.records import InspectionRecord

DEFECT_COLUMNS = ("#", "bbox x0, y0, x1, y1", "area px", "area mm²", "peak score")


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    """A QPixmap of an HxW or HxWx3 uint8 array (GUI thread only)."""
    a = np.ascontiguousarray(rgb)
    h, w = a.shape[:2]
    if a.ndim == 2:
        img = QImage(a.data, w, h, a.strides[0], QImage.Format.Format_Grayscale8)
    else:
        img = QImage(a.data, w, h, a.strides[0], QImage.Format.Format_RGB888)
    return QPixmap.fromImage(img.copy())  # copy: the pixmap must not point into the numpy buffer


def _num(v: float | None, spec: str) -> str:
    return "—" if v is None else format(v, spec)


class RecordView(QWidget):
    """Empty until `show_record`; `set_image` arrives later (loaded off the GUI thread)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.record: InspectionRecord | None = None
        self._pixmap: QPixmap | None = None
        self.image = QLabel("open a record (double-click a row) to see its frame and defects")
        self.image.setObjectName("recordImage")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setWordWrap(True)
        self.image.setMinimumSize(160, 120)
        self.image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.info = QLabel("")
        self.info.setObjectName("recordInfo")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.defects = QTableWidget(0, len(DEFECT_COLUMNS))
        self.defects.setObjectName("recordDefects")
        self.defects.setHorizontalHeaderLabels(DEFECT_COLUMNS)
        self.defects.verticalHeader().hide()
        self.defects.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.defects.horizontalHeader().setStretchLastSection(True)
        self.defects.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        lower = QWidget()
        ll = QVBoxLayout(lower)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.info)
        ll.addWidget(self.defects, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.image)
        split.addWidget(lower)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

    def show_record(self, r: InspectionRecord) -> None:
        self.record = r
        self._pixmap = None
        self.image.setPixmap(QPixmap())
        if r.image_path:
            self.image.setText("loading the saved frame…")
        else:
            why = r.note or "no image was saved for this part (every NG part's is; OK parts are sampled)"
            self.image.setText(why)
        recipe = r.recipe + (f" v{r.recipe_version}" if r.recipe_version else "") or "—"
        alarm = f"<br><b>ALARM</b>: {r.alarm}" if r.alarm else ""
        self.info.setText(
            f"<b>{r.verdict}</b> · record {r.id} · {(r.time_local or '')[:23]} (UTC {(r.time_utc or '')[:23]})<br>"
            f"station {r.station or '—'} · source {r.source or '—'} · frame {r.frame_id}<br>"
            f"recipe {recipe} · model {r.model or '—'} · backend {r.backend or '—'}<br>"
            f"score {_num(r.score, '.3f')} / threshold {_num(r.image_threshold, '.2f')} "
            f"(margin {_num(r.margin, '+.3f')}) · pixel threshold {_num(r.pixel_threshold, '.2f')}"
            f"{alarm}"
        )
        self.defects.setRowCount(len(r.defects))
        for i, d in enumerate(r.defects):
            bbox = d.get("bbox") or []
            mm2 = d.get("area_mm2")
            cells = (
                str(d.get("id", i + 1)),
                ", ".join(str(v) for v in bbox),
                str(d.get("area_px", "")),
                "—" if mm2 is None else f"{mm2:.3f}",
                _num(d.get("max_score"), ".3f"),
            )
            for j, text in enumerate(cells):
                self.defects.setItem(i, j, QTableWidgetItem(text))

    def set_image(self, rgb: np.ndarray | None, error: str = "") -> None:
        """The saved overlay (or raw) frame of the record now shown, or why it cannot be shown."""
        if rgb is None:
            self._pixmap = None
            self.image.setPixmap(QPixmap())
            self.image.setText(error or "the saved image could not be read")
            return
        self._pixmap = to_pixmap(rgb)
        self._fit()

    def _fit(self) -> None:
        if self._pixmap is not None and not self._pixmap.isNull():
            self.image.setPixmap(
                self._pixmap.scaled(
                    self.image.size(),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit()
