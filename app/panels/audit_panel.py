"""The audit trail on screen (who, when, what, old → new, recipe) and the role bar (log in / out, PINs)."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.access import AccessControl
from inspection_core.errors import AoiError
from inspection_core.records.audit import AuditEntry
from inspection_core.runtime.roles import FIRST_RUN_HELP, Role

COLUMNS = ("time", "user", "role", "action", "what", "old → new", "recipe", "note")


class RoleBar(QWidget):
    """'Role: engineer (ana)  [Log out]  [Set PIN…]  [Audit trail]' — for the status bar."""

    def __init__(self, access: AccessControl, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.access = access
        self.label = QLabel()
        self.login_button = QPushButton()
        self.pin_button = QPushButton("Set PIN…")
        self.audit_button = QPushButton("Audit trail")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in (self.label, self.login_button, self.pin_button, self.audit_button):
            lay.addWidget(w)
        self.login_button.clicked.connect(self._login_clicked)
        self.pin_button.clicked.connect(access.ask_set_pin)
        access.roleChanged.connect(lambda _r: self.refresh())
        access.recorded.connect(lambda _e: self.refresh())  # e.g. the first PIN set: roles now on
        self.refresh()

    def refresh(self) -> None:
        a = self.access
        on = a.enforced
        who = f" ({a.user})" if a.user else ""
        self.label.setText(f"Role: {a.role.label}{who}" + ("" if on else " — roles off: no PIN set"))
        self.label.setToolTip("" if on else FIRST_RUN_HELP)
        self.login_button.setText("Log out" if a.role > Role.OPERATOR else "Log in…")
        self.login_button.setEnabled(on)
        self.pin_button.setVisible(a.role is Role.ADMINISTRATOR)

    def _login_clicked(self) -> None:
        if self.access.role > Role.OPERATOR:
            self.access.logout()
        else:
            self.access.allow("", Role.ENGINEER)
        self.refresh()


class AuditPanel(QWidget):
    """Newest first; refreshed when a row is written in this session, or on Refresh."""

    def __init__(self, access: AccessControl, limit: int = 500, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.access = access
        self.limit = limit
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("filter: user, action, what, recipe…")
        self.refresh_button = QPushButton("Refresh")
        self.where = QLabel(f"<small>{access.audit.where}</small>")
        self.where.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.refresh_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.where)
        self.entries: list[AuditEntry] = []
        self.refresh_button.clicked.connect(self.refresh)
        self.filter.textChanged.connect(lambda _t: self._show())
        access.recorded.connect(lambda _e: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        try:
            self.entries = self.access.audit.entries(self.limit)
        except AoiError as exc:
            self.access.notified.emit("error", str(exc))
            self.entries = []
        self._show()

    @staticmethod
    def cells(e: AuditEntry) -> tuple[str, ...]:
        when = datetime.fromtimestamp(e.time_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
        recipe = (e.recipe or "") + (f" v{e.recipe_version}" if e.recipe_version else "")
        return (when, e.user, e.role, e.action, e.target, e.change_text(), recipe, e.note)

    def _show(self) -> None:
        needle = self.filter.text().strip().lower()
        rows = [self.cells(e) for e in self.entries]
        if needle:
            rows = [r for r in rows if any(needle in c.lower() for c in r)]
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(i, j, item)

    def row_texts(self) -> list[tuple[str, ...]]:
        """What the table shows, row by row (for tests and copy)."""
        return [
            tuple(self.table.item(i, j).text() for j in range(self.table.columnCount()))
            for i in range(self.table.rowCount())
        ]
