"""Help → About: which aoi-station this is, in lines an operator can copy into a bug report.

The same lines as `aoi --version` (version, git revision or the bundle's build stamp, torch and the
device, Python), plus the Qt the window runs on, the inference backends (the one running, in the
window) and where the station keeps its files.
"""

from __future__ import annotations

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import paths, resources
from inspection_core.runtime.version import bundle_dir, version_lines

LICENCES = "THIRD-PARTY-LICENSES.txt"


def about_lines(backend: str = "") -> list[str]:
    """What the dialog shows and copies: `aoi --version`'s lines, Qt, the inference backends (`backend`:
    the one running the live model), the station home, the licences."""
    from inspection_core.models.backends import available_backends

    lines = version_lines()
    platform = f", platform {QGuiApplication.platformName()}" if QGuiApplication.instance() else ""
    lines.append(f"Qt {qVersion()} (PySide6 {PySide6.__version__}{platform})")
    running = f"{backend} running; " if backend else ""
    lines.append(f"inference backend {running}installed: {', '.join(available_backends())}")
    lines.append(f"station home {paths.station_home()}")
    bundle = bundle_dir()
    if bundle is not None and (bundle / LICENCES).is_file():
        lines.append(f"third-party licences {bundle / LICENCES}")
    return lines


class AboutDialog(QDialog):
    """The version lines in a read-only box, with a button that copies them."""

    def __init__(self, parent: QWidget | None = None, backend: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("About aoi-station")
        self.setWindowIcon(resources.app_icon())
        lay = QVBoxLayout(self)
        title = QLabel("<b>aoi-station</b> — live optical inspection of textured surfaces")
        lay.addWidget(title)
        self.text = QPlainTextEdit("\n".join(about_lines(backend)))
        self.text.setReadOnly(True)
        self.text.setMinimumWidth(560)
        lay.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def copy(self) -> None:
        """Put the lines on the clipboard, for a bug report."""
        QGuiApplication.clipboard().setText(self.text.toPlainText())
