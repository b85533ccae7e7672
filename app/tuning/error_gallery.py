"""Gallery of false rejects and false accepts at the current threshold; a click opens the overlay.

Thumbnails are drawn from the validation cache (small raw maps) and the image file, so opening one
never re-runs the model. Selected false rejects can be offered to the good set ("Add to good samples"):
the operator feedback loop, wired by `app.feedback` to the Train workspace's capture set and a refit.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.display_data import to_display8
from app.views.heat_lut import heat_lut
from inspection_core.calibration.validation import ValidationItem, ValidationRun
from inspection_core.data.imageio import imread
from inspection_core.errors import AoiError

THUMB = 96
MAX_ITEMS = 60


def _qimage_gray(a: np.ndarray) -> QImage:
    a = np.ascontiguousarray(a)
    img = QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format.Format_Grayscale8)
    return img.copy()  # own the pixels: the array may go away


def load_display(item: ValidationItem) -> np.ndarray:
    try:
        img = to_display8(imread(item.path))
    except AoiError:
        img = np.zeros(item.frame_shape, np.uint8)
    return img if img.ndim == 2 else img.mean(axis=2).astype(np.uint8)


class OverlayDialog(QDialog):
    """One validation image with its heatmap at the run's thresholds (non-modal)."""

    def __init__(self, run: ValidationRun, item: ValidationItem, pixel_threshold: float, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        kind = "good" if item.label == 0 else item.defect_type
        self.setWindowTitle(f"{item.path.name} — {kind}, score {item.score:.3f}")
        view = pg.GraphicsLayoutWidget()
        vb = view.addViewBox(lockAspect=True, invertY=True)
        img = load_display(item)
        h, w = img.shape[:2]
        vb.addItem(pg.ImageItem(img, axisOrder="row-major", levels=(0, 255)))
        heat = pg.ImageItem(np.clip(run.normalization.map(item.raw_map) * 255, 0, 255).astype(np.uint8),
                            axisOrder="row-major", levels=(0, 255))  # fmt: skip
        heat.setLookupTable(heat_lut(pixel_threshold))
        heat.setOpacity(0.6)
        heat.setRect(QRectF(0, 0, w, h))
        vb.addItem(heat)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"{item.path}\nscore {item.score:.3f} (threshold 0.5 = calibrated)"))
        lay.addWidget(view)
        self.resize(520, 560)


class ErrorGallery(QTabWidget):
    opened = Signal(object)  # OverlayDialog
    toGoodRequested = Signal(list)  # [Path]: false rejects the user says are good parts

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lists: dict[str, QListWidget] = {}
        for key, title in (("fr", "False rejects (good → NG)"), ("fa", "False accepts (defective → OK)")):
            lw = QListWidget()
            lw.setViewMode(QListWidget.ViewMode.IconMode)
            lw.setIconSize(QSize(THUMB, THUMB))
            lw.setResizeMode(QListWidget.ResizeMode.Adjust)
            lw.itemActivated.connect(self._activated)
            lw.itemDoubleClicked.connect(self._activated)
            lw.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
            self.lists[key] = lw
            self.addTab(lw, title)
        self.to_good_button = QPushButton("Add to good samples + refit")
        self.to_good_button.setToolTip(
            "the selected false rejects are good parts: add them to the product's good samples and "
            "train the model again (deploy it after checking its validation)"
        )
        self.to_good_button.setEnabled(False)
        self.to_good_button.clicked.connect(self.send_selected_to_good)
        self.lists["fr"].itemSelectionChanged.connect(self._selection_changed)
        self.currentChanged.connect(lambda _i: self._selection_changed())
        self.setCornerWidget(self.to_good_button)
        self.run: ValidationRun | None = None
        self.pixel_threshold = 0.5
        self._thumbs: dict[str, QIcon] = {}

    def set_errors(self, run: ValidationRun, image_threshold: float, pixel_threshold: float) -> None:
        if run is not self.run:
            self._thumbs.clear()
        self.run, self.pixel_threshold = run, pixel_threshold
        groups = {"fr": run.false_rejects(image_threshold), "fa": run.false_accepts(image_threshold)}
        for key, items in groups.items():
            lw = self.lists[key]
            lw.clear()
            for it in items[:MAX_ITEMS]:
                li = QListWidgetItem(self._thumb(it), f"{it.path.name}\n{it.score:.3f}")
                li.setData(Qt.ItemDataRole.UserRole, it)
                lw.addItem(li)
            self.setTabText(list(groups).index(key), self.tabText(list(groups).index(key)).split(" [")[0]
                            + f" [{len(items)}]")  # fmt: skip

    def _thumb(self, it: ValidationItem) -> QIcon:
        key = str(it.path)
        if key not in self._thumbs:
            img = load_display(it)
            pix = QPixmap.fromImage(_qimage_gray(img)).scaled(
                THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            self._thumbs[key] = QIcon(pix)
        return self._thumbs[key]

    def n_items(self, key: str) -> int:
        """Items shown for "fr" (false rejects) or "fa" (false accepts)."""
        return self.lists[key].count()

    def open_item(self, it: ValidationItem) -> OverlayDialog | None:
        if self.run is None:
            return None
        dlg = OverlayDialog(self.run, it, self.pixel_threshold, self)
        dlg.show()
        self.opened.emit(dlg)
        return dlg

    def _selection_changed(self) -> None:
        self.to_good_button.setEnabled(self.currentIndex() == 0 and bool(self.lists["fr"].selectedItems()))

    def send_selected_to_good(self) -> list:
        """Offer the selected false rejects' image files to the good set (`toGoodRequested`)."""
        paths = [li.data(Qt.ItemDataRole.UserRole).path for li in self.lists["fr"].selectedItems()]
        if paths:
            self.toGoodRequested.emit(paths)
        return paths

    def _activated(self, li: QListWidgetItem) -> None:
        self.open_item(li.data(Qt.ItemDataRole.UserRole))
