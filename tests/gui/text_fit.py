"""Text that does not fit its widget: labels, buttons and tab titles that a screen would clip."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QAbstractButton, QLabel, QTabBar, QWidget

BUTTON_PADDING = 8  # a push button's frame and margins take at least this much of its width


def clipped_texts(root: QWidget) -> list[str]:
    """Every visible label, button or tab title under `root` whose one-line text is wider than the
    room its widget gives it (fontMetrics width > widget width); word-wrapped labels and icons only are
    skipped. Returns readable descriptions (empty: nothing clipped)."""
    out = []
    for w in [root, *root.findChildren(QWidget)]:
        if not w.isVisibleTo(root.window()) or not w.isVisible() or w.width() <= 0:
            continue
        fm = w.fontMetrics()
        if isinstance(w, QLabel) and not w.wordWrap() and w.text():
            for line in _plain(w).splitlines():
                need = fm.horizontalAdvance(line)
                if need > w.contentsRect().width():
                    out.append(f"label {line!r}: {need} px > {w.contentsRect().width()} px")
        elif isinstance(w, QAbstractButton) and w.text():
            text = w.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
            need = fm.horizontalAdvance(text) + BUTTON_PADDING
            if need > w.width():
                out.append(f"{type(w).__name__} {text!r}: {need} px > {w.width()} px")
        elif isinstance(w, QTabBar):
            for i in range(w.count()):
                need = fm.horizontalAdvance(w.tabText(i).replace("&", ""))
                if need > w.tabRect(i).width():
                    out.append(f"tab {w.tabText(i)!r}: {need} px > {w.tabRect(i).width()} px")
    return out


def _plain(label: QLabel) -> str:
    """The text a label shows: rich text (e.g. "<b>Shift</b>") measured without its tags."""
    text = label.text()
    fmt = label.textFormat()
    if fmt == Qt.TextFormat.RichText or (fmt == Qt.TextFormat.AutoText and GuiQt.mightBeRichText(text)):
        doc = QTextDocument()
        doc.setHtml(text)
        return doc.toPlainText()
    return text
