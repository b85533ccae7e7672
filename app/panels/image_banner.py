"""The banner that says stored images are paused (disk nearly full, or the image store cannot
write) while inspection and the records of verdicts go on; hidden while images are being saved."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

STYLE = "QLabel { background: #9a6700; color: white; font-weight: bold; padding: 6px; }"


class ImageBanner(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageBanner")
        self.setWordWrap(True)
        self.setStyleSheet(STYLE)
        self.paused = False
        self.reason = ""
        self.hide()

    def set_paused(self, paused: bool, reason: str = "") -> None:
        self.paused, self.reason = paused, reason
        if paused:
            self.setText(
                f"IMAGES NOT SAVED — {reason or 'the image store cannot write'}. "
                "Inspection and the records of verdicts continue."
            )
        self.setVisible(paused)
