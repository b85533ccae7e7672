"""Who may change what on the station, and the record of every change (issue #25, item 7).

`AccessControl` holds the session's role (operator by default). Changing what live inspection does —
thresholds, ROI, recipes, models, camera settings — needs the engineer role: `allow(what)` asks for the
PIN when the role is lower and says no otherwise. Every change that reaches live inspection is written
to the audit trail (`inspection_core.records.audit`) by `live_changed`, which the window calls from its
one entry point (`set_inspector`), so no path can change the line without a row: who, when, what,
old → new and the recipe version. Other changes (camera settings, samples, PINs) call `record`.

Until the station has a PIN the roles are off (anyone may change settings) and the station says so and
how to set one: a new station must stay usable, and a PIN nobody knows would lock it. Once a PIN is set
they are enforced. The engineer is logged out after `idle_logout_s` without a permitted action.
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from inspection_core.errors import AoiError
from inspection_core.records.audit import AuditEntry, AuditLog
from inspection_core.runtime.roles import FIRST_RUN_HELP, MIN_PIN, Role, RoleStore

MAX_FAILURES = 5  # wrong PINs in a row before logins pause
LOCKOUT_S = 30.0


def confirm(parent: QWidget | None, title: str, text: str, yes: str = "OK") -> bool:
    """A modal question with `yes` and Cancel (Cancel is the default: Enter does not confirm)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton, parent)
    ok = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setObjectName("confirm")
    box.exec()
    answer = box.clickedButton() is ok
    box.deleteLater()
    return answer


class LoginDialog(QDialog):
    """Role + name + PIN. On a station without a PIN it explains how to set the first one."""

    def __init__(self, what: str, roles: RoleStore, need: Role, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("login")
        self.setWindowTitle("Log in")
        self.role = QComboBox()
        for r in (Role.ENGINEER, Role.ADMINISTRATOR):
            if r >= need:
                self.role.addItem(r.label, r)
        self.user = QLineEdit(getpass.getuser())
        self.pin = QLineEdit()
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setPlaceholderText("PIN or password")
        self.message = QLabel(f"To {what} you need the {need.label} role." if what else "")
        self.message.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Role", self.role)
        form.addRow("Name", self.user)
        form.addRow("PIN", self.pin)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.message)
        if not roles.any_pin():
            help_ = QLabel(FIRST_RUN_HELP)
            help_.setWordWrap(True)
            lay.addWidget(help_)
        lay.addLayout(form)
        lay.addWidget(self.buttons)
        self.setMinimumWidth(420)


class PinDialog(QDialog):
    """The administrator sets a role's PIN (typed twice)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("set_pin")
        self.setWindowTitle("Set a PIN")
        self.role = QComboBox()
        for r in (Role.ENGINEER, Role.ADMINISTRATOR):
            self.role.addItem(r.label, r)
        self.pin, self.again = QLineEdit(), QLineEdit()
        for e in (self.pin, self.again):
            e.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout(self)
        form.addRow(QLabel(f"At least {MIN_PIN} characters; stored only as a salted hash."))
        form.addRow("Role", self.role)
        form.addRow("New PIN", self.pin)
        form.addRow("Again", self.again)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class AccessControl(QObject):
    roleChanged = Signal(object)  # Role
    recorded = Signal(object)  # AuditEntry just written
    notified = Signal(str, str)  # level, message

    def __init__(
        self,
        roles: RoleStore | None = None,
        audit: AuditLog | None = None,
        recipe_of: Callable[[], Any] | None = None,
        parent: QObject | None = None,
        dialogs: bool = True,
        idle_logout_s: float = 900.0,
    ) -> None:
        super().__init__(parent)
        self.roles = roles or RoleStore()
        self.audit = audit or AuditLog()
        self._recipe_of = recipe_of or (lambda: None)
        self.dialogs = dialogs
        self.role = Role.OPERATOR
        self.user = ""
        self.confirm_stop = True
        self._pending = ""  # what the last permitted action was, for the audit row it causes
        self._failures = 0
        self._locked_until = 0.0
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.setInterval(int(idle_logout_s * 1000))
        self._idle.timeout.connect(lambda: self.logout("logged out after inactivity"))

    # --- roles -------------------------------------------------------------------------------
    @property
    def enforced(self) -> bool:
        """Roles are enforced once the station has a PIN (see the module docstring)."""
        try:
            return self.roles.any_pin()
        except AoiError as exc:  # a damaged roles file fails closed: nobody may change settings
            self.notified.emit("error", str(exc))
            return True

    @property
    def who(self) -> str:
        return self.user or self.role.label

    def parent_widget(self) -> QWidget | None:
        p = self.parent()
        return p if isinstance(p, QWidget) else None

    def allow(self, what: str, need: Role = Role.ENGINEER) -> bool:
        """May the current user `what`? Asks for a PIN (dialogs on) when the role is too low."""
        if self.role >= need or not self.enforced:
            self._set_pending(what)
            if self.role > Role.OPERATOR:
                self._idle.start()
            return True
        if self.dialogs:
            dlg = LoginDialog(what, self.roles, need, self.parent_widget())
            accepted = dlg.exec() == QDialog.DialogCode.Accepted
            role, user, pin = dlg.role.currentData(), dlg.user.text().strip(), dlg.pin.text()
            dlg.deleteLater()
            if accepted and self.login(role, pin, user) and self.role >= need:
                self._set_pending(what)
                return True
        if what:
            self.notified.emit("warning", f"not allowed: to {what} log in as {need.label}")
        return False

    def _set_pending(self, what: str) -> None:
        """Name the live change this permission causes: it happens in this call chain (Apply, Deploy,
        switch), so the name is forgotten once control returns to the event loop."""
        self._pending = what
        QTimer.singleShot(0, self._clear_pending)

    def _clear_pending(self) -> None:
        self._pending = ""

    def login(self, role: Role, pin: str, user: str = "") -> bool:
        now = time.monotonic()
        if now < self._locked_until:
            self.notified.emit("error", f"too many wrong PINs: wait {self._locked_until - now:.0f} s")
            return False
        try:
            ok = self.roles.verify(role, pin)
        except AoiError as exc:
            self.notified.emit("error", str(exc))
            return False
        if not ok:
            self._failures += 1
            self.record("login failed", role.label, user=user or "?", as_role=Role.OPERATOR)
            if self._failures >= MAX_FAILURES:
                self._locked_until, self._failures = now + LOCKOUT_S, 0
            self.notified.emit("warning", f"wrong PIN for {role.label}")
            return False
        self._failures = 0
        self.role, self.user = role, user
        self._idle.start()
        self.record("log in", role.label)
        self.roleChanged.emit(role)
        self.notified.emit("info", f"logged in as {role.label}" + (f" ({user})" if user else ""))
        return True

    def logout(self, why: str = "logged out") -> None:
        if self.role is Role.OPERATOR:
            return
        self.record("log out", self.role.label, note=why)
        self.role, self.user = Role.OPERATOR, ""
        self._idle.stop()
        self.roleChanged.emit(self.role)
        self.notified.emit("info", f"{why}: operator")

    def set_pin(self, role: Role, pin: str) -> bool:
        """The administrator sets a PIN (the first one is set with `aoi roles set-pin administrator`)."""
        if self.enforced and self.role < Role.ADMINISTRATOR:
            self.notified.emit("warning", "only the administrator sets PINs")
            return False
        try:
            self.roles.set_pin(role, pin)
        except AoiError as exc:
            self.notified.emit("error", str(exc))
            return False
        self.record("set PIN", role.label)
        self.notified.emit("info", f"{role.label} PIN set")
        return True

    def ask_set_pin(self) -> bool:
        dlg = PinDialog(self.parent_widget())
        accepted = dlg.exec() == QDialog.DialogCode.Accepted
        role, pin, again = dlg.role.currentData(), dlg.pin.text(), dlg.again.text()
        dlg.deleteLater()
        if not accepted:
            return False
        if pin != again:
            self.notified.emit("warning", "the two PINs differ: nothing changed")
            return False
        return self.set_pin(role, pin)

    def ask_stop(self) -> bool:
        """The operator may stop; Stop asks first (a stopped line inspects nothing)."""
        if not self.confirm_stop or not self.dialogs:
            return True
        return confirm(
            self.parent_widget(),
            "Stop inspection?",
            "Stop the camera and inspection? Parts passing now will not be inspected.",
            "Stop",
        )

    # --- audit -------------------------------------------------------------------------------
    def record(
        self,
        action: str,
        target: str = "",
        old: Any = None,
        new: Any = None,
        note: str = "",
        user: str | None = None,
        as_role: Role | None = None,
    ) -> AuditEntry | None:
        """Write one audit row (recipe and version: the live recipe's); a failure is said, not raised."""
        recipe = self._recipe_of()
        role = self.role if as_role is None else as_role
        try:
            entry = self.audit.record(
                action,
                target,
                old,
                new,
                user=self.who if user is None else user,
                role=role.label,
                recipe=getattr(recipe, "name", None),
                recipe_version=getattr(recipe, "version", None) or None,
                note=note,
            )
        except AoiError as exc:
            self.notified.emit("error", f"audit trail: {exc}")
            return None
        self.recorded.emit(entry)
        return entry

    def live_changed(self, old_inspector: Any, old_recipe: Any, new_inspector: Any, new_recipe: Any) -> int:
        """Audit what changed in live inspection (recipe, model, each setting): returns rows written."""
        pending = self._pending  # kept until a row uses it: a nested call with no change leaves it
        n = 0

        def tag(r: Any) -> str | None:
            return f"{r.name} v{r.version}" if r is not None and getattr(r, "version", None) else None

        if tag(old_recipe) != tag(new_recipe) and tag(new_recipe) is not None:
            n += (
                self.record(pending or "switch recipe", "recipe", tag(old_recipe), tag(new_recipe))
                is not None
            )
        old_model = None if old_inspector is None else old_inspector.bundle
        if old_model is not new_inspector.bundle:
            name = new_inspector.bundle.name
            old_name = None if old_model is None else old_model.name
            n += self.record(pending or "load model", "model", old_name, name) is not None
        before = {} if old_inspector is None else old_inspector.settings.to_dict()
        after = new_inspector.settings.to_dict()
        if old_inspector is not None:
            for key in sorted(set(before) | set(after)):
                if before.get(key) != after.get(key):
                    action = pending or ("edit the ROI" if key == "roi" else "change settings")
                    n += self.record(action, key, before.get(key), after.get(key)) is not None
        if n:
            self._pending = ""
        return n
