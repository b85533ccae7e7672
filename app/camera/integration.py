"""Put the camera set-up into the MainWindow: a "Camera" dock (settings panel + feature tree + replay
controls) bound to the window's `SourceControl`, and the two hooks the acquisition worker calls.

- `prepare(source)` runs on the acquisition thread right after the source opens: the live recipe's
  camera settings are written (one warning per setting the device lacks or refuses), and a replay
  gets the replay panel's pacing, looping and every-frame options before its first frame.
- `apply_recipe(recipe)`: a deploy or recipe switch re-applies its camera settings to the running camera.
- "Save settings in the live recipe" writes a new version of the live recipe with the camera's settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QFrame, QScrollArea, QTabWidget, QWidget

from app import paths
from app.camera.camera_panel import CameraPanel
from app.camera.controller import CameraController
from app.camera.feature_tree import FeatureTree
from app.panels.replay_panel import ReplayPanel
from inspection_core.camera.base import FrameSource
from inspection_core.camera.features import STANDARD_KEYS, apply_settings
from inspection_core.errors import AoiError
from inspection_core.recipe import CameraSettings, Recipe
from inspection_core.recipes.store import RecipeStore

if TYPE_CHECKING:
    from app.main_window import MainWindow


def scrolled(widget: QWidget) -> QScrollArea:
    """A panel that scrolls instead of widening the window (the live view keeps its share)."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(widget)
    area.setMinimumWidth(260)
    return area


@dataclass
class CameraSetup:
    window: MainWindow
    controller: CameraController
    panel: CameraPanel
    tree: FeatureTree
    replay: ReplayPanel
    dock: QDockWidget
    tabs: QTabWidget

    def prepare(self, source: FrameSource) -> list[str]:
        """Acquisition thread, source open and not started: replay options, then the recipe's settings."""
        if source.info.kind == "replay":
            return self.replay.options.apply(source)
        recipe = self.window.recipe
        if recipe is None:
            return []
        _applied, problems = apply_settings(source, recipe.camera.to_configure())
        return problems

    def apply_recipe(self, recipe: Recipe) -> None:
        """A recipe went live: write its camera settings to the running camera (if one runs)."""
        settings = recipe.camera.to_configure()
        if not self.window.state.running or not settings:
            return

        def done(result: tuple[dict[str, Any], list[str]]) -> None:
            applied, problems = result
            for p in problems:
                self.window.state.notify("warning", p)
            if applied:
                self.window.state.notify("info", f"camera set for {recipe.name} v{recipe.version}: {applied}")
            self.controller.refresh()

        self.controller.call(
            lambda s: apply_settings(s, settings) if s.info.kind != "replay" else ({}, []), done
        )

    def save_to_recipe(self) -> None:
        """Write the camera's current settings into a new version of the live recipe (the engineer's:
        the controller's `guard`, once roles are on); audited with the settings before and after."""
        recipe = self.window.recipe
        if recipe is None:
            self.window.state.notify(
                "warning", "no live recipe to save the camera settings in: deploy or load one first"
            )
            return
        if not self.controller.guard("save the camera settings in the live recipe"):
            return

        def save(values: dict[str, Any]) -> None:
            live = self.window.recipe
            if live is None or live.name != recipe.name:
                return
            keep = {k: values[k] for k in STANDARD_KEYS if k in values and k != "trigger_software"}
            camera = CameraSettings.from_dict({**live.camera.to_dict(), **keep})
            try:
                saved = RecipeStore(paths.recipes_dir()).save(live.with_(camera=camera))
            except (AoiError, OSError) as exc:
                self.window.state.notify("error", f"camera settings not saved: {exc}")
                return
            access = getattr(self.window, "access", None)  # the audit trail (#25), where there is one
            if access is not None:
                access.record(
                    "save camera settings",
                    f"{saved.name} v{saved.version}",
                    live.camera.to_configure(),
                    camera.to_configure(),
                )
            if self.window.inspector is not None:  # the new version goes live like any other: one line
                self.window.set_inspector(self.window.inspector, saved)
            else:
                self.window.recipe = saved
            self.window.state.notify(
                "info", f"camera settings saved in {saved.name} v{saved.version}: {camera.to_configure()}"
            )

        self.controller.settings(save)


def install_camera(window: MainWindow) -> CameraSetup:
    controller = CameraController(window.camera_control, window.state, parent=window)
    panel = CameraPanel(controller)
    tree = FeatureTree(controller)
    replay = ReplayPanel(window.state, controller)
    tabs = QTabWidget()
    tabs.addTab(scrolled(panel), "Settings")
    tabs.addTab(tree, "All features")
    tabs.addTab(scrolled(replay), "Replay")
    dock = QDockWidget("Camera", window)
    dock.setObjectName("camera_dock")
    dock.setWidget(tabs)
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    train_dock = getattr(getattr(window, "workspaces", None), "train_dock", None)
    if train_dock is not None:  # a tab beside Train: the live view keeps its height on a 768-px screen
        window.tabifyDockWidget(train_dock, dock)
    dock.hide()
    toolbar = getattr(getattr(window, "workspaces", None), "toolbar", None)
    if toolbar is not None:
        toolbar.addAction(dock.toggleViewAction())
    setup = CameraSetup(window, controller, panel, tree, replay, dock, tabs)
    panel.saveRequested.connect(setup.save_to_recipe)
    controller.failed.connect(lambda m: window.state.notify("warning", f"camera: {m}"))

    def replay_started(tree: object) -> None:  # a replay shows its file name and step buttons at once
        if tree is not None and controller.kind == "replay":
            dock.show()
            tabs.setCurrentWidget(tabs.widget(2))

    controller.treeChanged.connect(replay_started)
    return setup
