"""Put the Tune and Train workspaces into the operator's MainWindow, using only its public hooks.

- docks "Tune" and "Train" (tabified, hidden until asked for) and a toolbar: Freeze → Tune, Tune, Train;
- "Freeze → Tune" (key T) predicts the frame now shown once more (same model, its own Inspector, so
  the inference thread is not disturbed) and hands the raw prediction to the tuning workspace;
- "Capture good" (key G) takes the frame now shown; every shown frame feeds auto-capture;
- Deploy / recipe switch / Apply thresholds hand an Inspector to `MainWindow.set_inspector`, which
  swaps the inference worker's Inspector between two frames while acquisition keeps running.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDockWidget, QToolBar

from app import paths
from app.layout import scrolled
from app.training.workspace import TrainingWorkspace
from app.tuning.session import TuningSession
from app.tuning.workspace import TuningWorkspace
from inspection_core.errors import AoiError
from inspection_core.inspector import Inspector
from inspection_core.recipe import Recipe
from inspection_core.recipes.store import ENV_DIR, RecipeStore

if TYPE_CHECKING:
    from app.main_window import MainWindow


@dataclass
class Workspaces:
    tune: TuningWorkspace
    train: TrainingWorkspace
    tune_dock: QDockWidget
    train_dock: QDockWidget
    toolbar: QToolBar
    freeze: Callable[[], bool]  # "Freeze → Tune"

    def shutdown(self) -> None:
        self.tune.shutdown()
        self.train.shutdown()


def install_workspaces(window: MainWindow, store: RecipeStore | None = None) -> Workspaces:
    """Add the workspaces to `window` and wire them to its live side through its public API (state,
    inspector, set_inspector, settings, device, shortcuts, closed).

    Recipes live in $AOI_RECIPES_DIR, else <station home>/recipes (the `aoi recipe` CLI's default too).
    """
    state = window.state
    store = store or RecipeStore(os.environ.get(ENV_DIR) or paths.station_home() / "recipes")

    def latest_frame():  # noqa: ANN202 - Frame | None
        return state.latest_frame()  # inspected or raw: capture works before any model (#25)

    def go_live(recipe: Recipe, inspector: Inspector) -> None:
        # the recipe's thresholds, ROI, preprocessing; every view follows the window's LiveLine
        window.set_inspector(inspector, recipe)

    train = TrainingWorkspace(store, latest_frame, go_live, window.device, dialogs=False)
    tune = TuningWorkspace(TuningSession(window.settings), lambda: window.inspector, dialogs=False)
    for ws in (train, tune):
        ws.notified.connect(state.notify)
    state.currentChanged.connect(lambda item: train.capture.on_frame(item.frame, item.result))
    state.rawChanged.connect(lambda raw: train.capture.on_frame(raw.frame, None))  # no model yet

    def applied(settings) -> None:  # noqa: ANN001 - PostprocessSettings from Apply / Restore
        """Apply/Restore saved a new version of the live recipe (or, on a bare model, kept the settings
        in memory): the inspector and the version go live in one step."""
        live, saved = window.inspector, tune.session.recipe
        if live is None:
            return
        same_recipe = saved is not None and window.recipe is not None and saved.name == window.recipe.name
        window.set_inspector(live.with_settings(settings), saved if same_recipe else None)

    def live_changed(line) -> None:  # noqa: ANN001 - LiveLine
        """Tune edits the live recipe and nothing else; the recipe bar shows what is live."""
        train.show_live(line)
        session = tune.session
        if line.recipe is None:
            if session.recipe is not None:  # a bare model is live: Apply must not write into a recipe
                session.detach(window.settings)
        elif session.recipe is None or (session.recipe.name, session.recipe.version) != line.recipe_key:
            session.store = store
            session.set_recipe(line.recipe)

    tune.applied.connect(applied)
    state.liveChanged.connect(live_changed)

    docks = []
    for title, widget in (("Tune", tune), ("Train", train)):
        dock = QDockWidget(title, window)
        dock.setObjectName(f"{title.lower()}_dock")
        dock.setWidget(scrolled(widget))  # content scrolls; it never widens the window (#25)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        dock.hide()
        docks.append(dock)
    tune_dock, train_dock = docks
    window.tabifyDockWidget(tune_dock, train_dock)

    def freeze() -> bool:
        item, live = state.current, window.inspector
        if item is None or live is None:
            state.notify("warning", "nothing to freeze yet: start the camera with a model loaded")
            return False
        bundle = live.bundle
        try:
            insp = live.with_settings(window.settings)  # its own Inspector: the live one is the worker's
            (raw,) = insp.predict_raw([item.frame.image])
        except AoiError as exc:
            state.notify("error", f"freeze failed: {exc}")
            return False
        if tune.session.recipe is None and not tune.session.dirty:
            tune.session.set_base(window.settings)
        tune.freeze_prediction(bundle, raw, item.frame.image, item.frame.frame_id)
        tune_dock.show()
        tune_dock.raise_()
        return True

    bar = QToolBar("Workspaces", window)
    bar.setObjectName("workspaces_toolbar")
    bar.addAction("Freeze → Tune  [T]", freeze)
    bar.addAction(tune_dock.toggleViewAction())
    bar.addAction(train_dock.toggleViewAction())
    bar.addAction("Capture good  [G]", lambda: train.capture.capture("good"))
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    for key, fn in (("T", freeze), ("G", lambda: train.capture.capture("good"))):
        sc = QShortcut(QKeySequence(key), window)
        sc.setContext(Qt.ShortcutContext.WindowShortcut)
        sc.activated.connect(fn)
        if hasattr(window, "shortcuts"):
            window.shortcuts[key] = sc
    out = Workspaces(tune, train, tune_dock, train_dock, bar, freeze)
    window.closed.connect(out.shutdown)
    return out
