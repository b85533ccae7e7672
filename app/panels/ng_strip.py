"""Thumbnails of the last NG frames; clicking one shows it again with its overlay.

The thumbnails are rendered by the inference worker (app.display_data), not here.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from app.display_data import InspectedFrame
from app.state import SessionState

THUMB = 96


def to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    qimg = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)
    return qimg.copy()  # own the pixels: `rgb` may go away


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
            QIcon(QPixmap.fromImage(to_qimage(item.thumbnail))),
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
