"""The station's look and identity: icon, stylesheet and desktop entry from the `resources/` folder.

The files live once, in the repository's top-level `resources/`. A checkout or an editable install
reads them there; a wheel installs them as data files under `<prefix>/share/aoi-station/` (see
`[tool.setuptools.data-files]` in pyproject.toml), the place Linux keeps an application's shared data.
No copy inside the package, no symlink, no build hook: one folder to edit, found the same way by
every install.

Widgets never hold colours: they set an object name and a dynamic `state` property through
`set_state`, and `aoi-station.qss` says what each state looks like.
"""

from __future__ import annotations

import site
import sys
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QWidget

APP_ID = "aoi-station"
STYLESHEET = f"{APP_ID}.qss"
ICON_SVG = f"{APP_ID}.svg"
ICON_SIZES = (16, 32, 48, 64, 128, 256)
DESKTOP_ENTRY = f"{APP_ID}.desktop"


def _candidates() -> list[Path]:
    """Where the resources can be, first match wins: the checkout, then each install prefix."""
    checkout = Path(__file__).resolve().parents[1] / "resources"
    prefixes = [sys.prefix, getattr(site, "USER_BASE", None) or "", "/usr/local", "/usr"]
    return [checkout, *(Path(p) / "share" / APP_ID for p in prefixes if p)]


def resources_dir() -> Path:
    """The folder holding the stylesheet and the icons; the checkout's path when none is found."""
    for folder in _candidates():
        if (folder / STYLESHEET).is_file():
            return folder
    return _candidates()[0]


def resource_path(name: str) -> Path:
    """A file of the resources folder, e.g. `resource_path("aoi-station.desktop")`."""
    return resources_dir() / name


def load_stylesheet() -> str:
    """The application stylesheet's text; empty (Qt's default look) when the file is missing."""
    try:
        return resource_path(STYLESHEET).read_text(encoding="utf-8")
    except OSError:
        return ""


def app_icon() -> QIcon:
    """The window icon: every rendered PNG size, plus the SVG for any other size."""
    icon = QIcon()
    folder = resources_dir()
    for n in ICON_SIZES:
        png = folder / "icons" / f"{APP_ID}-{n}.png"
        if png.is_file():
            icon.addFile(str(png))
    svg = folder / ICON_SVG
    if svg.is_file():
        icon.addFile(str(svg))
    return icon


def set_windows_app_id() -> bool:
    """Windows groups taskbar buttons by AppUserModelID: without one of its own, a station started
    from a venv sits under pythonw.exe's button and icon. True when set (only on Windows)."""
    if sys.platform != "win32":
        return False
    try:
        import ctypes

        ctypes.windll.shell32.SetCurrentProcessExplicitAppUserModelID(APP_ID)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return False
    return True


def apply(app: QApplication) -> None:
    """Give a QApplication the station's stylesheet, window icon and desktop identity."""
    app.setStyleSheet(load_stylesheet())
    app.setWindowIcon(app_icon())
    app.setDesktopFileName(APP_ID)  # Wayland/X11 match the window to aoi-station.desktop
    set_windows_app_id()  # Windows: the taskbar button shows this icon, not Python's


def set_state(widget: QWidget, name: str, state: str) -> None:
    """Name a widget for the stylesheet and set its `state` property, re-polishing it on change.

    Qt evaluates `[state="NG"]` selectors when a widget is polished, not when a property changes,
    hence the unpolish/polish.
    """
    if widget.objectName() == name and widget.property("state") == state:
        return
    widget.setObjectName(name)
    widget.setProperty("state", state)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()
