"""Thumbnails of the last NG frames; clicking one shows it again with its overlay."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from app.display_data import InspectedFrame
from app.state import SessionState

THUMB = 96


def thumbnail(item: InspectedFrame, side: int = THUMB, pixel_threshold: float = 0.5) -> QImage:
    """Small RGB image with the above-threshold heat and the defect outlines (~1 ms on the GUI thread).

    No text: at thumbnail size a verdict label would hide the defect; the caption carries the score.
    """
    img, res = item.image8, item.result
    h, w = img.shape[:2]
    f = side / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB) if small.ndim == 2 else small.copy()
    amap = cv2.resize(res.anomaly_map, size, interpolation=cv2.INTER_AREA)
    heat = cv2.applyColorMap(np.clip(amap * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    hot = amap >= pixel_threshold
    rgb[hot] = (0.4 * rgb[hot] + 0.6 * heat[hot]).astype(np.uint8)
    mask = cv2.resize(res.mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(rgb, contours, -1, (255, 40, 40), 1)
    rgb = np.ascontiguousarray(rgb)
    qimg = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)
    return qimg.copy()  # own the pixels: `rgb` goes away


class NgStrip(QListWidget):
    picked = Signal(object)  # InspectedFrame

    def __init__(self, state: SessionState, capacity: int = 12, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.capacity = capacity
        self.items: list[InspectedFrame] = []
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setFixedHeight(THUMB + 40)
        self.setGridSize(QSize(THUMB + 16, THUMB + 30))
        self.setMovement(QListWidget.Movement.Static)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.itemClicked.connect(self._clicked)
        state.ngAdded.connect(self.add)

    def add(self, item: InspectedFrame) -> None:
        """Newest first; the oldest thumbnail falls off at capacity."""
        self.items.insert(0, item)
        entry = QListWidgetItem(
            QIcon(QPixmap.fromImage(thumbnail(item, pixel_threshold=self.state.pixel_threshold))),
            f"#{item.result.frame_id} · {item.result.score:.2f}",
        )
        entry.setToolTip(f"frame {item.result.frame_id}: score {item.result.score:.3f}")
        self.insertItem(0, entry)
        while len(self.items) > self.capacity:
            self.items.pop()
            self.takeItem(self.count() - 1)

    def _clicked(self, entry: QListWidgetItem) -> None:
        row = self.row(entry)
        if 0 <= row < len(self.items):
            self.picked.emit(self.items[row])

    def clear_strip(self) -> None:
        self.items.clear()
        self.clear()
