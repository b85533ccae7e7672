"""The one place worker errors reach the operator, plus the lost-camera banner with Reconnect."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget

from app.state import SessionState

COLORS = {"info": "#0969da", "warning": "#9a6700", "error": "#cf222e"}


class NotificationArea(QWidget):
    reconnectRequested = Signal()

    def __init__(self, state: SessionState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.banner = QWidget()
        self.banner.setObjectName("cameraBanner")  # its look: resources/aoi-station.qss
        self.banner_label = QLabel("")
        self.reconnect_button = QPushButton("Reconnect")
        self.reconnect_button.clicked.connect(self.reconnectRequested)
        b = QHBoxLayout(self.banner)
        b.addWidget(self.banner_label, 1)
        b.addWidget(self.reconnect_button)
        self.banner.setVisible(False)
        self.list = QListWidget()
        self.list.setMinimumHeight(64)  # beside the NG strip: as tall as it (issue #25)
        self.list.setWordWrap(True)  # a long message wraps instead of being cut at the list's edge
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.list.clear)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.banner)
        row = QHBoxLayout()
        row.addWidget(self.list, 1)
        row.addWidget(self.clear_button)
        lay.addLayout(row)
        state.notified.connect(self.add)
        state.cameraStateChanged.connect(self._on_camera_state)

    def add(self, level: str, message: str) -> None:
        self.list.insertItem(0, f"{time.strftime('%H:%M:%S')}  {level.upper()}: {message}")
        self.list.item(0).setForeground(_color(level))
        self.list.item(0).setToolTip(message)
        while self.list.count() > 100:
            self.list.takeItem(self.list.count() - 1)

    def _on_camera_state(self, state: str) -> None:
        if state == "lost":
            self.banner_label.setText(f"Camera lost: {self.state.source_label}")
            self.reconnect_button.setEnabled(True)
            self.banner.setVisible(True)
        elif state == "reconnecting":
            self.banner_label.setText(f"Reconnecting to {self.state.source_label} …")
            self.reconnect_button.setEnabled(False)
            self.banner.setVisible(True)
        else:
            self.banner.setVisible(False)

    def messages(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]


def _color(level: str):  # noqa: ANN202 - QColor
    from PySide6.QtGui import QColor

    return QColor(COLORS.get(level, "#dddddd"))
