"""Non-modal message boxes: an error never blocks the live view, and tests can find and close them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def show_message(parent: QWidget, level: str, text: str) -> QMessageBox:
    icon = {"error": QMessageBox.Icon.Critical, "warning": QMessageBox.Icon.Warning}.get(
        level, QMessageBox.Icon.Information
    )
    box = QMessageBox(icon, "aoi-station", text, QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName(f"message_{level}")
    box.open()  # window-modal at most, returns at once
    return box
