"""Window layout rules: the live view keeps at least half the width, whatever workspace is open.

Workspaces (Tune, Train) and the operator panel sit in scroll areas, so their content never sets the
window's minimum size: a form or gallery wider than the screen scrolls instead of growing the window
past a 1366×768 or 1920×1080 screen (issue #25: the Train dock alone once needed 2100×1029).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea, QStyle, QWidget

LIVE_SHARE = 0.5  # the live view's least share of the window width while side panels are open
PANEL_MIN_WIDTH = 260  # a scrolled panel is never squeezed narrower than this
ADOPT_MAX_WIDTH, ADOPT_MAX_HEIGHT = 360, 280  # a dock's content bigger than this scrolls
QWIDGETSIZE_MAX = (1 << 24) - 1  # Qt's "no maximum"


class _FitWidthScroll(QScrollArea):
    """Scrolls vertically only and is never narrower than its content's minimum width, which it
    follows as the content changes (a counter's text growing must not clip its neighbour's label)."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        hint = super().minimumSizeHint()
        content = self.widget()
        if content is not None:
            bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
            hint.setWidth(max(hint.width(), content.minimumSizeHint().width() + bar + 2))
        return hint

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()  # the dock re-asks minimumSizeHint
        return super().eventFilter(obj, event)


def scrolled(
    widget: QWidget, min_width: int = PANEL_MIN_WIDTH, min_height: int = 120, fit_width: bool = False
) -> QScrollArea:
    """`widget` in a frameless scroll area that takes its width and scrolls past its minimum size.
    fit_width: never narrower than the widget (scrolls vertically only; a narrow panel like the
    operator's)."""
    area = _FitWidthScroll() if fit_width else QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(widget)
    if fit_width:
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        widget.installEventFilter(area)
        min_width = 0
    area.setMinimumSize(min_width, min_height)
    return area


class LiveShareKeeper(QObject):
    """Shrinks the docked side panels whenever the live view (`central`) would fall under LIVE_SHARE
    of the window width: on resize and on a dock shown, hidden, floated or docked. A workspace dock
    watched with `grow=True` opens as wide as that rule allows (a usable form, not a 260-px strip).

    Every closable dock, including those added later by other parts of the app, is adopted: its
    content goes into a scroll area when its minimum size would push the window past a 1366×768
    screen, and a side dock opens wide (grow)."""

    def __init__(self, window: QMainWindow, central: QWidget, share: float = LIVE_SHARE) -> None:
        super().__init__(window)
        self.window, self.central, self.share = window, central, share
        self._grow: set[QDockWidget] = set()
        self._watched: set[QDockWidget] = set()
        self._opening: set[QDockWidget] = set()  # grow docks just shown: widen them at the next fit
        self._timer = QTimer(self)  # one fit per burst of events, after Qt's own layout pass
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.fit)
        self._adopt: set[QDockWidget] = set(window.findChildren(QDockWidget))
        window.installEventFilter(self)
        central.installEventFilter(self)  # any cause of a narrower live view (a dock's content grew)
        self._timer.start()

    def watch(self, dock: QDockWidget, grow: bool = False) -> None:
        if grow:
            self._grow.add(dock)
        if dock in self._watched:
            return
        self._watched.add(dock)
        # bound methods of this QObject: Qt disconnects them when it goes, no call into a dead keeper
        dock.visibilityChanged.connect(self._changed)
        dock.topLevelChanged.connect(self._later)
        dock.dockLocationChanged.connect(self._later)

    def _changed(self, visible: bool) -> None:
        dock = self.sender()
        if visible and dock in self._grow:
            self._opening.add(dock)  # type: ignore[arg-type]
        self._timer.start()

    def _later(self, *_args: object) -> None:
        self._timer.start()

    def adopt(self, dock: QDockWidget) -> None:
        """Scroll a closable dock's content when it is too big for a small screen; watch the dock."""
        closable = bool(dock.features() & QDockWidget.DockWidgetFeature.DockWidgetClosable)
        content = dock.widget()
        if closable and content is not None and not isinstance(content, QScrollArea):
            hint = content.minimumSizeHint()
            if hint.width() > ADOPT_MAX_WIDTH or hint.height() > ADOPT_MAX_HEIGHT:
                dock.setWidget(scrolled(content))
        sides = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea)
        self.watch(dock, grow=closable and self.window.dockWidgetArea(dock) in sides)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj in (self.window, self.central) and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self._timer.start()
        elif obj is self.window and event.type() == QEvent.Type.ChildAdded:
            child = event.child()  # type: ignore[attr-defined]
            if isinstance(child, QDockWidget):
                self._adopt.add(child)  # at the next fit: its content is set by then
                self._timer.start()
        return False

    def side_docks(self) -> list[QDockWidget]:
        """Docked, shown panels left or right of the live view (a floating dock is its own window)."""
        sides = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea)
        return [
            d
            for d in self.window.findChildren(QDockWidget)
            if d.isVisible() and not d.isFloating() and self.window.dockWidgetArea(d) in sides
        ]

    def _cap(self, want: int) -> None:
        """A workspace dock is never wider than the room beside the live view's share, so its content
        growing (a frozen frame, a gallery) cannot squeeze the live view; floating, it has no cap."""
        sides = self.side_docks()
        fixed = sum(d.width() for d in sides if d not in self._grow)
        cap = max(PANEL_MIN_WIDTH, self.window.width() - want - fixed - 16)
        for d in self._grow:
            d.setMaximumWidth(QWIDGETSIZE_MAX if d.isFloating() else cap)

    def fit(self) -> None:
        """Take the width the live view lacks from the widest side panels first."""
        adopt, self._adopt = self._adopt, set()
        for dock in adopt:
            self.adopt(dock)
        want = int(self.window.width() * self.share)
        self._cap(want)
        opening = [d for d in self.side_docks() if d in self._opening]
        self._opening.clear()
        if opening:
            others = sum(d.width() for d in self.side_docks() if d not in self._grow)
            room = self.window.width() - want - others - 16  # 16: the dock separators
            self.window.resizeDocks(
                opening, [max(room, PANEL_MIN_WIDTH)] * len(opening), Qt.Orientation.Horizontal
            )
            self._timer.start()  # then check the share once Qt has laid the docks out
            return
        lack = want - self.central.width()
        if lack <= 0:
            return
        docks = sorted(self.side_docks(), key=lambda d: -d.width())
        sizes = [d.width() for d in docks]
        for i, d in enumerate(docks):
            give = min(lack, max(0, sizes[i] - d.minimumSizeHint().width()))
            sizes[i] -= give
            lack -= give
            if lack <= 0:
                break
        if docks:
            self.window.resizeDocks(docks, sizes, Qt.Orientation.Horizontal)
