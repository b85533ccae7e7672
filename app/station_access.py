"""Put roles, the audit trail and the feedback loop into the operator's MainWindow (issue #25, items 4, 7).

- `window.access` (AccessControl): the role bar in the status bar, an "Audit" dock (hidden until asked);
- Tune's Apply/Restore, Train's Deploy/switch and the camera controller's writes ask `access.allow`
  first (their `guard`); the window itself asks before ROI editing and model switching, confirms Stop;
- every change to live inspection is audited by `window.set_inspector` (`access.live_changed`);
- "Add to good samples + refit" in either validation gallery goes to `FeedbackLoop`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

from app.access import AccessControl
from app.feedback import FeedbackLoop
from app.panels.audit_panel import AuditPanel, RoleBar

if TYPE_CHECKING:
    from app.main_window import MainWindow


@dataclass
class StationAccess:
    access: AccessControl
    role_bar: RoleBar
    audit_panel: AuditPanel
    audit_dock: QDockWidget
    feedback: FeedbackLoop


def install_access(window: MainWindow) -> StationAccess:
    access = AccessControl(recipe_of=lambda: window.recipe, parent=window)
    access.notified.connect(window.state.notify)
    bar = RoleBar(access)
    window.statusBar().addPermanentWidget(bar)
    panel = AuditPanel(access)
    dock = QDockWidget("Audit trail", window)
    dock.setObjectName("audit_dock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    dock.hide()

    def show_audit() -> None:
        panel.refresh()
        dock.show()
        dock.raise_()

    bar.audit_button.clicked.connect(show_audit)
    window.closed.connect(access.audit.close)
    ws = window.workspaces
    ws.tune.guard = access.allow
    ws.train.guard = access.allow
    feedback = FeedbackLoop(
        ws.train,
        guard=access.allow,
        product_of=lambda: window.recipe.name if window.recipe is not None else None,
        record=access.record,
    )

    def to_good(paths: list) -> None:
        if feedback.send_to_good(paths):
            ws.train_dock.show()
            ws.train_dock.raise_()

    for gallery in (ws.tune.validation.gallery, ws.train.result_view.gallery):
        gallery.toGoodRequested.connect(to_good)
    camera = getattr(window, "camera", None)  # the camera panel and feature tree write through it
    if camera is not None:
        camera.controller.guard = access.allow
        camera.controller.changed.connect(
            lambda name, old, new: access.record("change camera setting", name, old, new)
        )
    return StationAccess(access, bar, panel, dock, feedback)
