"""Recipe picker: switch live inspection to any saved recipe in one click; import/export archives.

Import/export errors (unknown, corrupt or newer model; bad archive) are RecipeErrors from the core and
are shown as one clear message; a failed import changes nothing (the store guarantees that).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QGridLayout, QLabel, QPushButton, QWidget

from app.state import LiveLine
from inspection_core.errors import AoiError
from inspection_core.recipe import Recipe
from inspection_core.recipes.store import RecipeStore


class RecipeBar(QWidget):
    switchRequested = Signal(object)  # Recipe
    notified = Signal(str, str)

    def __init__(self, store: RecipeStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.combo = QComboBox()
        self.combo.setMinimumWidth(160)
        self.switch_button = QPushButton("Deploy selected")
        self.import_button = QPushButton("Import…")
        self.export_button = QPushButton("Export…")
        self.active = QLabel("live: –")
        self.entries: list[tuple[str, int]] = []
        # two rows: fits a workspace panel half a 1366-px screen wide (issue #25)
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Recipe"), 0, 0)
        lay.addWidget(self.combo, 0, 1, 1, 2)
        lay.addWidget(self.active, 0, 3)
        for i, w in enumerate((self.switch_button, self.import_button, self.export_button)):
            lay.addWidget(w, 1, i + 1)
        lay.setColumnStretch(1, 1)
        self.switch_button.clicked.connect(self.switch_selected)
        self.import_button.clicked.connect(self._pick_import)
        self.export_button.clicked.connect(self._pick_export)
        self.refresh()

    def refresh(self, select: tuple[str, int] | None = None) -> None:
        """List every version of every recipe, newest first within a product."""
        self.combo.clear()
        self.entries = [(n, v) for n in self.store.names() for v in reversed(self.store.versions(n))]
        for name, v in self.entries:
            self.combo.addItem(f"{name}  v{v}")
        if select is not None and select in self.entries:
            self.combo.setCurrentIndex(self.entries.index(select))
        enabled = self.combo.count() > 0
        self.switch_button.setEnabled(enabled)
        self.export_button.setEnabled(enabled)

    def selected(self) -> tuple[str, int] | None:
        i = self.combo.currentIndex()
        return self.entries[i] if 0 <= i < len(self.entries) else None

    def select(self, name: str, version: int) -> bool:
        if (name, version) not in self.entries:
            return False
        self.combo.setCurrentIndex(self.entries.index((name, version)))
        return True

    def set_active(self, recipe: Recipe) -> None:
        self.active.setText(f"live: {recipe.name} v{recipe.version}")

    def show_live(self, line: LiveLine) -> None:
        """What is live now: the recipe and version (listed and selected), or a bare model."""
        if line.recipe is None:
            self.active.setText("live: no recipe")
            self.active.setToolTip(f"a bare model is live: {line.model}")
            return
        self.refresh((line.recipe.name, line.recipe.version))  # Apply may have saved a new version
        self.set_active(line.recipe)
        self.active.setToolTip(line.label())

    def switch_selected(self) -> Recipe | None:
        sel = self.selected()
        if sel is None:
            return None
        try:
            recipe = self.store.load(*sel)
        except AoiError as exc:
            self.notified.emit("error", str(exc))
            return None
        self.switchRequested.emit(recipe)
        return recipe

    def import_file(self, file: str | Path) -> Recipe | None:
        try:
            recipe = self.store.import_(file)
        except AoiError as exc:
            self.notified.emit("error", f"import failed, nothing changed: {exc}")
            return None
        self.refresh((recipe.name, recipe.version))
        self.notified.emit("info", f"imported recipe {recipe.name} v{recipe.version}")
        return recipe

    def export_selected(self, file: str | Path) -> Path | None:
        sel = self.selected()
        if sel is None:
            return None
        try:
            out = self.store.export(sel[0], file, sel[1])
        except (AoiError, OSError) as exc:
            self.notified.emit("error", f"export failed: {exc}")
            return None
        self.notified.emit("info", f"exported {sel[0]} v{sel[1]} to {out}")
        return out

    def _pick_import(self) -> None:
        f, _ = QFileDialog.getOpenFileName(
            self, "Import recipe archive", "", "Recipe archives (*.aoirecipe *.zip);;All (*)"
        )
        if f:
            self.import_file(f)

    def _pick_export(self) -> None:
        sel = self.selected()
        default = f"{sel[0]}-v{sel[1]}.aoirecipe" if sel else "recipe.aoirecipe"
        f, _ = QFileDialog.getSaveFileName(
            self, "Export recipe archive", default, "Recipe archives (*.aoirecipe)"
        )
        if f:
            self.export_selected(f)
