"""Training workspace: product name → capture → model/options → train (worker) → validation → Deploy.

Deploy saves a new recipe version (model copied into the store atomically) and hands the live side an
Inspector built from it; `deploy` (a callable, e.g. the main window's atomic inspector swap) does the
switch between two frames. Without one, only the `deployed` signal fires.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.state import LiveLine
from app.training.capture_panel import CapturePanel
from app.training.model_form import ModelForm
from app.training.recipe_bar import RecipeBar
from app.training.train_progress import TrainProgress
from app.tuning.messages import show_message
from app.tuning.session import TuningSession
from app.tuning.task_worker import make_task
from app.tuning.validation_panel import ValidationPanel
from app.workers.threads import WorkerThread
from inspection_core.errors import AoiError
from inspection_core.inspector import Inspector
from inspection_core.models.registry import get_model_info
from inspection_core.recipe import Recipe, check_name
from inspection_core.recipes.store import RecipeStore
from inspection_core.runtime.context import device_label, resolve_device
from inspection_core.training.fit import METHOD_CROSS_FIT, METHOD_HOLDOUT_REFIT
from inspection_core.training.product import ProductTraining, deploy_product, train_sample_set
from inspection_core.training.samples import MIN_GOOD, SampleSet
from inspection_core.types import Frame

Deployer = Callable[[Recipe, Inspector], None]


class TrainingWorkspace(QWidget):
    trained = Signal(object)  # ProductTraining
    deployed = Signal(object, object)  # Recipe, Inspector
    notified = Signal(str, str)  # level, message

    def __init__(
        self,
        store: RecipeStore,
        latest_frame: Callable[[], Frame | None] | None = None,
        deploy: Deployer | None = None,
        device: str | torch.device = "auto",
        parent: QWidget | None = None,
        dialogs: bool = True,
        min_good: int = MIN_GOOD,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self._deploy = deploy
        self.device = resolve_device(device)
        self.dialogs = dialogs
        self.min_good = min_good
        self.messages: list[tuple[str, str]] = []
        self.guard = lambda _what: True  # may this user change live inspection? (the window's AccessControl)
        self.task: WorkerThread | None = None
        self.result: ProductTraining | None = None
        self.live_recipe: Recipe | None = None
        self._has_loop = False  # the model in training has a loop that Finish now can end
        self._finish_requested = False
        self._kept: ProductTraining | None = None  # the model a resume started from, until it succeeds
        self._build(latest_frame)

    def _build(self, latest_frame: Callable[[], Frame | None] | None) -> None:
        self.product = QLineEdit()
        self.product.setPlaceholderText("product name, e.g. tile-42 (recipe and sample folder name)")
        self.capture = CapturePanel(None, latest_frame)
        self.form = ModelForm()
        self.train_button = QPushButton("Train")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("stop training and discard it")
        self.finish_button = QPushButton("Finish now")
        self.finish_button.setEnabled(False)
        self.finish_button.setToolTip(
            "end the training loop at its next step and keep the model as trained so far "
            "(validated and deployable; NDP-Net can resume its schedule later)"
        )
        self.resume_button = QPushButton("Resume")
        self.resume_button.setEnabled(False)
        self.resume_button.setToolTip("continue the schedule of the model that was finished early")
        self.progress = TrainProgress()
        self.progress.device.setText(f"device: {device_label(self.device)}")
        self.result_session = TuningSession()
        self.result_session.setParent(self)
        self.result_view = ValidationPanel(self.result_session, lambda: self._result_inspector())
        self.result_label = QLabel("train a model to see its validation here")
        self.result_label.setWordWrap(True)
        self.notes = QLineEdit()
        self.notes.setPlaceholderText("notes saved with the recipe")
        self.deploy_button = QPushButton("Deploy")
        self.deploy_button.setEnabled(False)
        self.recipes = RecipeBar(self.store)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)  # nested margins add up in a ~340-px panel (#25)
        row = QHBoxLayout()
        row.addWidget(QLabel("Product"))
        row.addWidget(self.product, 1)
        ll.addLayout(row)
        cap = QGroupBox("1  Capture samples")
        QVBoxLayout(cap).addWidget(self.capture)
        ll.addWidget(cap, 1)
        mid = QWidget()
        ml = QVBoxLayout(mid)
        ml.setContentsMargins(0, 0, 0, 0)
        model = QGroupBox("2  Model")
        QVBoxLayout(model).addWidget(self.form)
        ml.addWidget(model, 1)
        tr = QGroupBox("3  Train")
        tl = QVBoxLayout(tr)
        br = QGridLayout()  # 2×2: four buttons in a row made Train scroll sideways at 1366 px (#25)
        br.addWidget(self.train_button, 0, 0)
        br.addWidget(self.finish_button, 0, 1)
        br.addWidget(self.cancel_button, 1, 0)
        br.addWidget(self.resume_button, 1, 1)
        tl.addLayout(br)
        tl.addWidget(self.progress)
        ml.addWidget(tr)
        res = QGroupBox("4  Result and deploy")
        rl = QVBoxLayout(res)
        rl.addWidget(self.result_label)
        rl.addWidget(self.result_view, 1)
        dr = QHBoxLayout()
        dr.addWidget(self.notes, 1)
        dr.addWidget(self.deploy_button)
        rl.addLayout(dr)
        # steps stacked top to bottom: the workspace is a scrolled panel beside the live view, never
        # three columns wider than the screen (issue #25: the dock once needed 2100 px)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 4)
        lay.addWidget(self.recipes)  # what is live, on top of the scrolled steps
        for step in (left, mid, res):
            lay.addWidget(step)

        self.product.editingFinished.connect(self._product_changed)
        self.capture.countsChanged.connect(lambda _g, _b: self._update_buttons())
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button.clicked.connect(self.cancel_training)
        self.finish_button.clicked.connect(self.finish_now)
        self.resume_button.clicked.connect(self.resume_training)
        self.deploy_button.clicked.connect(self.deploy)
        self.recipes.switchRequested.connect(self.switch_to)
        for src in (self.capture, self.recipes, self.result_view):
            src.notified.connect(self.notify)
        self._update_buttons()

    # --- product / samples -----------------------------------------------------------------
    def set_product(self, name: str) -> bool:
        self.product.setText(name)
        return self._product_changed()

    def _product_changed(self) -> bool:
        name = self.product.text().strip()
        if not name:
            self.capture.set_sample_set(None)
            return False
        try:
            samples = SampleSet(self.store.product_dir(check_name(name)) / "samples")
        except AoiError as exc:
            self.notify("error", str(exc))
            self.capture.set_sample_set(None)
            return False
        if self.capture.samples is None or self.capture.samples.root != samples.root:
            self.capture.set_sample_set(samples)
        return True

    def _update_buttons(self) -> None:
        good, _bad = self.capture.counts()
        busy = self.task is not None and self.task.is_running()
        self.train_button.setEnabled(not busy and good >= self.min_good)
        self.train_button.setToolTip(
            "" if good >= self.min_good else f"capture at least {self.min_good} good samples"
        )
        self.cancel_button.setEnabled(busy)
        self.finish_button.setEnabled(busy and self._has_loop and not self._finish_requested)
        self.resume_button.setEnabled(not busy and self.resumable_result)
        self.deploy_button.setEnabled(not busy and self.result is not None)

    @property
    def resumable_result(self) -> bool:
        """The trained model ended early with its schedule saved (Finish now on NDP-Net)."""
        return self.result is not None and self.result.bundle.info.get("schedule_finished") is False

    # --- training --------------------------------------------------------------------------
    def start_training(self, resume: bool = False) -> bool:
        """Train the form's model on the captured samples; resume=True continues the schedule of the
        model that was finished early (its own model and options, the form's preprocessing)."""
        samples = self.capture.samples
        if samples is None or (self.task is not None and self.task.is_running()):
            return False
        if resume and not self.resumable_result:
            return False
        try:
            options, pre = self.form.options(), self.form.preprocessing()
        except AoiError as exc:
            self.notify("error", str(exc))
            return False
        previous = self.result.bundle if resume and self.result is not None else None
        name = previous.name if previous is not None else self.form.model_name
        self._kept = self.result if resume else None  # a failed or cancelled resume gives it back
        self.result = None
        self._has_loop = not get_model_info(name).fast
        self._finish_requested = False
        task = make_task(
            lambda ctx: train_sample_set(samples, name, options, pre, ctx, resume_from=previous),
            "training",
            self.device,
        )
        w = task.worker
        w.progress.connect(self.progress.on_progress)
        w.done.connect(self._trained)
        # bound methods only: PySide runs a lambda connected to a worker signal in the worker's thread
        w.error.connect(self._on_error)
        w.cancelled.connect(self._on_cancelled)
        w.finished.connect(self._update_buttons)
        self.task = task
        self.progress.reset(device_label(self.device))
        task.start()
        self._update_buttons()
        return True

    def resume_training(self) -> bool:
        return self.start_training(resume=True)

    def cancel_training(self) -> None:
        if self.task is not None:
            self.task.worker.request_stop()

    def finish_now(self) -> None:
        """End the training loop at its next step; the model is calibrated, validated and kept."""
        if self.task is not None and self.task.is_running() and self._has_loop:
            self._finish_requested = True
            self.task.worker.ctx.finish_now()
            self.finish_button.setEnabled(False)
            self.notify("info", "finishing training now: the model is kept as trained so far")

    def _on_error(self, message: str) -> None:
        self._failed(f"training failed: {message}")

    def _on_cancelled(self) -> None:
        self._failed("training cancelled: nothing was saved", "info")

    def _failed(self, message: str, level: str = "error") -> None:
        if self._kept is not None:  # never lose the model finished early because its resume failed
            self.result, self._kept = self._kept, None
            message = message.replace(": nothing was saved", "") + "; the model finished early is kept"
        self.progress.finish(message)
        self.notify(level, message)

    def _trained(self, result: ProductTraining) -> None:
        self.result, self._kept = result, None
        t = result.timings_s
        self.progress.finish(f"trained in {t.get('total', 0):.1f} s (fit {t.get('fit', 0):.1f} s)")
        self.result_session.set_settings(result.validation.settings)
        self.result_view.set_run(result.validation)
        run = result.validation
        early = ""
        if self.resumable_result:
            early = " Finished early: Resume continues its schedule."
        elif self._finish_requested:
            early = " Finished early, as asked."
        cal = result.calibration
        if cal.method == METHOD_CROSS_FIT:
            how = f"each scored by a model fitted on the other {cal.folds - 1} of {cal.folds} folds"
        elif cal.method == METHOD_HOLDOUT_REFIT:
            how = "scored by a model fitted without them; the final model has every sample"
        else:
            how = "held out of training"
        self.result_label.setText(
            f"{result.bundle.name}: trained on {cal.n_fit} good samples; validated on {run.n_good} good ({how}) "
            f"and {run.n_defective} defective sample(s). Thresholds 0.5 = calibrated.{early}\n{cal.advice()}"
        )
        self._update_buttons()
        if not cal.stable:
            self.notify("warning", cal.advice())
        self.trained.emit(result)

    def _result_inspector(self) -> Inspector | None:
        return self.result.inspector() if self.result is not None else None

    # --- deploy / switch -------------------------------------------------------------------
    def deploy(self) -> Recipe | None:
        """Save the trained model as a new recipe version and switch live inspection to it."""
        if self.result is None or not self._product_changed() or not self.guard("deploy a recipe"):
            return None
        try:
            recipe = deploy_product(self.store, self.product.text().strip(), self.result, self.notes.text())
        except AoiError as exc:
            self.notify("error", f"deploy failed: {exc}")
            return None
        inspector = Inspector(self.result.bundle, recipe.postprocess, recipe.preprocessing)
        self._go_live(recipe, inspector)
        self.recipes.refresh((recipe.name, recipe.version))
        return recipe

    def switch_to(self, recipe: Recipe) -> bool:
        """Switch live inspection to a saved recipe (one click in the recipe bar)."""
        if not self.guard(f"switch to recipe {recipe.name} v{recipe.version}"):
            return False
        try:
            inspector = recipe.build_inspector(self.device)
        except AoiError as exc:
            self.notify("error", f"cannot switch to {recipe.name} v{recipe.version}: {exc}")
            return False
        self._go_live(recipe, inspector)
        return True

    def show_live(self, line: LiveLine) -> None:
        """The station's live line (after a deploy, a switch, Apply or Restore in Tune, another model)."""
        self.live_recipe = line.recipe
        self.recipes.show_live(line)

    def _go_live(self, recipe: Recipe, inspector: Inspector) -> None:
        if self._deploy is not None:
            self._deploy(recipe, inspector)
        self.live_recipe = recipe
        self.recipes.set_active(recipe)
        self.deployed.emit(recipe, inspector)
        self.notify("info", f"live inspection now uses recipe {recipe.name} v{recipe.version}")

    # --- misc ------------------------------------------------------------------------------
    def notify(self, level: str, message: str) -> None:
        self.messages.append((level, message))
        self.notified.emit(level, message)
        if self.dialogs and level == "error":
            show_message(self, level, message)

    def shutdown(self) -> None:
        """Cancel and wait for training/validation threads (call before the widget goes away)."""
        if self.task is not None:
            self.task.stop_and_wait(60_000)  # never drop a running QThread: that aborts the app
            self.task = None
        self.result_view.shutdown()
