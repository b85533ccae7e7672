"""The full GenICam feature tree (every visible node of the device), searchable, read and written by
access mode: RW nodes take a value, WO commands execute, RO and NA nodes are shown with the reason
they cannot be changed. Bound to a `CameraController` (a snapshot per refresh)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.camera.controller import CameraController
from inspection_core.camera.features import Feature

ACCESS_FILTERS = (
    ("all", "all access modes"),
    ("RW", "read-write"),
    ("RO", "read-only"),
    ("WO", "write-only"),
)
VISIBILITY = ("Beginner", "Expert", "Guru")


def _text(f: Feature) -> str:
    if f.type == "Category":
        return ""
    if f.type == "Command":
        return "(command)"
    if f.value is None:
        return {"WO": "(write-only)", "NA": "(not available)", "NI": "(not implemented)"}.get(f.access, "")
    if isinstance(f.value, float):
        return f"{f.value:g} {f.unit}".strip()
    return f"{f.value} {f.unit}".strip()


class FeatureTree(QWidget):
    def __init__(self, controller: CameraController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.search = QLineEdit()
        self.search.setPlaceholderText("search features (name, display name or description)")
        self.search.setClearButtonEnabled(True)
        self.access = QComboBox()
        for key, label in ACCESS_FILTERS:
            self.access.addItem(label, key)
        self.level = QComboBox()
        self.level.addItems(VISIBILITY)
        self.level.setCurrentText("Guru")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Feature", "Value", "Access", "Type"])
        self.tree.setColumnWidth(0, 220)
        self.tree.setAlternatingRowColors(True)
        self.name = QLabel("")
        self.name.setWordWrap(True)
        self.detail = QLabel("")
        self.detail.setWordWrap(True)
        self.detail.setObjectName("featureReason")
        self.value = QLineEdit()
        self.choices = QComboBox()
        self.write_button = QPushButton("Write")
        grid = QGridLayout()
        grid.addWidget(self.search, 0, 0, 1, 2)
        grid.addWidget(self.access, 1, 0)
        grid.addWidget(self.level, 1, 1)
        editor = QGridLayout()
        editor.addWidget(self.name, 0, 0, 1, 3)
        editor.addWidget(self.value, 1, 0)
        editor.addWidget(self.choices, 1, 1)
        editor.addWidget(self.write_button, 1, 2)
        editor.addWidget(self.detail, 2, 0, 1, 3)
        lay = QVBoxLayout(self)
        lay.addLayout(grid)
        lay.addWidget(self.tree, 1)
        lay.addLayout(editor)
        self.items: dict[str, QTreeWidgetItem] = {}
        self.selected: Feature | None = None
        self.search.textChanged.connect(self._filter)
        self.access.currentIndexChanged.connect(self._filter)
        self.level.currentIndexChanged.connect(self._filter)
        self.tree.currentItemChanged.connect(lambda cur, _prev: self._select(cur))
        self.write_button.clicked.connect(self.write_selected)
        self.value.returnPressed.connect(self.write_selected)
        controller.treeChanged.connect(self._populate)
        self._populate(controller.tree)

    # --- tree ----------------------------------------------------------------------------------
    def _populate(self, root: Feature | None) -> None:
        keep = self.selected.name if self.selected is not None else None
        self.tree.clear()
        self.items = {}
        if root is None:
            self._select(None)
            self.name.setText(self.controller.not_open_reason)
            return

        def add(parent: QTreeWidgetItem | QTreeWidget, f: Feature) -> None:
            item = QTreeWidgetItem(
                parent, [f.label, _text(f), "" if f.type == "Category" else f.access, f.type]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, f)
            item.setToolTip(0, f"{f.name}: {f.description}" if f.description else f.name)
            if f.reason:
                item.setToolTip(1, f.reason)
            if f.type != "Category":
                self.items[f.name] = item
                if not f.writable:
                    for col in range(4):
                        item.setForeground(col, self.palette().placeholderText())
            for c in f.children:
                add(item, c)

        for c in root.children:
            add(self.tree, c)
        self.tree.expandAll()
        self._filter()
        if keep in self.items:
            self.tree.setCurrentItem(self.items[keep])
        else:
            self._select(None)

    def _filter(self) -> None:
        text = self.search.text().strip().lower()
        mode = self.access.currentData()
        level = VISIBILITY.index(self.level.currentText())

        def visit(item: QTreeWidgetItem) -> bool:
            f: Feature = item.data(0, Qt.ItemDataRole.UserRole)
            kids = [visit(item.child(i)) for i in range(item.childCount())]
            if f.type == "Category":
                show = any(kids)
            else:
                hay = f"{f.name} {f.display_name} {f.description}".lower()
                show = (
                    (not text or text in hay)
                    and (mode == "all" or f.access == mode)
                    and VISIBILITY.index(f.visibility) <= level
                    if f.visibility in VISIBILITY
                    else False
                )
            item.setHidden(not show)
            return show

        for i in range(self.tree.topLevelItemCount()):
            visit(self.tree.topLevelItem(i))

    def visible_names(self) -> list[str]:
        return [n for n, it in self.items.items() if not it.isHidden()]

    # --- selection and writing -----------------------------------------------------------------
    def select(self, name: str) -> None:
        self.tree.setCurrentItem(self.items[name])

    def _select(self, item: QTreeWidgetItem | None) -> None:
        f: Feature | None = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if f is not None and f.type == "Category":
            f = None
        self.selected = f
        enum = f is not None and (f.type == "Boolean" or (f.type == "Enumeration" and bool(f.choices)))
        self.choices.setVisible(enum)
        self.value.setVisible(not enum and (f is None or f.type != "Command"))
        if f is None:
            self.name.setText("select a feature")
            self.detail.setText("")
            self.write_button.setEnabled(False)
            self.value.setEnabled(False)
            return
        rng = (
            f"  range {f.min:g}..{f.max:g} {f.unit}"
            if isinstance(f.min, int | float) and f.max is not None
            else ""
        )
        self.name.setText(f"{f.label} ({f.name}) — {f.type}, {f.access}{rng}")
        self.detail.setText(f.reason or f.description)
        self.write_button.setText("Execute" if f.type == "Command" else "Write")
        self.write_button.setEnabled(f.writable)
        self.write_button.setToolTip(f.reason)
        self.value.setEnabled(f.writable)
        self.choices.setEnabled(f.writable)
        self.value.setText("" if f.value is None else str(f.value))
        if enum:
            self.choices.clear()
            self.choices.addItems(["True", "False"] if f.type == "Boolean" else list(f.choices))
            self.choices.setCurrentText(str(f.value))

    def write_selected(self) -> None:
        f = self.selected
        if f is None or not f.writable:
            return
        value: Any
        if f.type == "Command":
            value = None
        elif f.type == "Enumeration" and f.choices:
            value = self.choices.currentText()
        elif f.type == "Boolean":
            value = self.choices.currentText() == "True"
        elif f.type == "Integer":
            try:
                value = int(self.value.text().strip())
            except ValueError:
                self.controller.failed.emit(f"{f.name} needs a whole number, got {self.value.text()!r}")
                return
        elif f.type == "Float":
            try:
                value = float(self.value.text().strip())
            except ValueError:
                self.controller.failed.emit(f"{f.name} needs a number, got {self.value.text()!r}")
                return
        else:
            value = self.value.text()
        self.controller.write(f.name, value)
