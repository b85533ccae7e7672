"""The inference backend in the operator's MainWindow (issue #27): which backend runs the live model,
chosen in "Station settings…" (engineer, saved in the station home) or by `python -m app --backend`.

Every model that goes live (`MainWindow.set_inspector`: a loaded model or recipe, a deploy, a switch)
comes as torch; when the choice resolves to another backend (`models.backends.resolve_backend`: 'auto' is
ONNX Runtime on a CPU where the model exports), a `BackendWorker` prepares it off the GUI thread (the
first use exports the model: seconds) while torch keeps inspecting, then the window swaps the prepared
model in between two frames. A failure leaves torch running and says why. The status bar and Help →
About show what runs; a recipe validated with another backend gets a note (not a block: the backends
agree to ~1e-4 of a raw score).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt

from app.panels.station_settings_dialog import StationSettingsDialog
from app.station_settings import (
    StationSettings,
    backend_choices,
    backend_label,
    load_settings,
    save_settings,
)
from app.workers.backend import BackendWorker
from app.workers.threads import WorkerThread
from inspection_core.errors import AoiError
from inspection_core.models.bundle import ModelBundle

if TYPE_CHECKING:
    from app.main_window import MainWindow
    from inspection_core.inspector import Inspector

AGREEMENT = "the backends agree to ~1e-4 of a raw score"


class BackendControl(QObject):
    """Keeps the live model on the chosen backend; `choice` is 'auto' or a backend name."""

    def __init__(self, window: MainWindow, choice: str) -> None:
        super().__init__(window)
        self.window = window
        self.choice = choice
        self.job: WorkerThread | None = None
        self.pending = ""  # the backend being prepared ("" when none)
        self._job_choice, self._job_target = choice, ""  # what the running job prepares for
        self._settled: tuple[ModelBundle, str] | None = None  # (bundle, choice) needing nothing more
        self._noted: tuple[str, int, str] | None = None  # the recipe note last given
        self.dialog: StationSettingsDialog | None = None
        self._closed = False  # the window is closing: no new job
        self.settings_action = None
        bar = getattr(getattr(window, "workspaces", None), "toolbar", None)
        if bar is not None:
            self.settings_action = bar.addAction("Station settings…", self.edit_settings)
        tune = getattr(getattr(window, "workspaces", None), "tune", None)
        if tune is not None:  # Tune's Apply records the backend its thresholds were chosen on
            tune.session.backend_of = lambda: self.running
        window.closed.connect(self.shutdown)

    @property
    def running(self) -> str:
        """What runs the live model now ("" when none is loaded)."""
        insp = self.window.inspector
        return insp.backend if insp is not None else ""

    # --- the live model -------------------------------------------------------------------------
    def live_changed(self, inspector: Inspector) -> None:
        """A model went live (`set_inspector`): put it on the chosen backend if it is not there yet."""
        bundle = inspector.bundle
        if self.job is not None:  # one job at a time: the live model is looked at again when it ends
            self._show()
            return
        if self._closed:
            return
        if self._is_settled(bundle):
            self._settle(bundle)
            return
        from inspection_core.models.backends import resolve_backend, with_backend

        try:
            target = resolve_backend(self.choice, bundle)
        except AoiError as exc:  # not installed, not exportable, not on this device: stay where it is
            self._failed(bundle, self.choice, str(exc))
            return
        if target == bundle.backend:
            self._settle(bundle)
        elif target == "torch":  # back from another backend: nothing to prepare
            self._swap(with_backend(bundle, "torch"))
        else:
            self._start(bundle, target)

    def _start(self, bundle: ModelBundle, target: str) -> None:
        self.pending = target
        message = f"preparing {backend_label(target)} backend for {bundle.name}…"
        self.window.statusBar().showMessage(message)
        self.window.state.notify("info", message)
        worker = BackendWorker(bundle, target)
        self._job_choice, self._job_target = self.choice, target
        # bound methods of this GUI-thread object, queued (a lambda would run in the worker's thread)
        worker.done.connect(self._done, Qt.ConnectionType.QueuedConnection)
        worker.failed.connect(self._job_failed, Qt.ConnectionType.QueuedConnection)
        worker.finished.connect(self._job_ended, Qt.ConnectionType.QueuedConnection)
        self.job = WorkerThread(worker, "backend")
        self._show()
        self.job.start()

    def _current(self, source: ModelBundle, choice: str) -> bool:
        """Is a job's answer still wanted: its model still live and the choice unchanged?"""
        return self.window.bundle is source and self.choice == choice

    def _done(self, source: ModelBundle, prepared: ModelBundle, seconds: float) -> None:
        self.pending = ""
        if not self._current(source, self._job_choice):  # superseded: _job_ended looks at what is live now
            return
        label = backend_label(prepared.backend)
        self.window.statusBar().showMessage(f"{label} backend ready ({seconds:.1f} s)", 10_000)
        self.window.state.notify("info", f"{prepared.name} now runs on {label} (prepared in {seconds:.1f} s)")
        self._swap(prepared)

    def _job_failed(self, source: ModelBundle, message: str) -> None:
        self._failed(source, self._job_target, message, self._job_choice)

    def _failed(self, source: ModelBundle, target: str, message: str, choice: str | None = None) -> None:
        self.pending = ""
        if not self._current(source, self.choice if choice is None else choice):
            return
        text = (
            f"{backend_label(target)} backend not used: {message} — inspecting with "
            f"{backend_label(source.backend)}"
        )
        self.window.statusBar().showMessage(text, 30_000)
        self.window.state.notify("warning", text)
        self._settle(source)  # not tried again for this model and choice

    def _job_ended(self) -> None:
        job, self.job = self.job, None
        if job is not None:
            job.stop_and_wait()  # it has emitted finished: the thread is ending
        self.pending = ""
        live = self.window.inspector
        if live is not None and not self._is_settled(live.bundle):
            self.live_changed(live)  # the model or the choice changed while the job ran
        else:
            self._show()

    def _is_settled(self, bundle: ModelBundle) -> bool:
        """Nothing more to do for this very bundle (identity: bundles of one model compare equal)."""
        return self._settled is not None and self._settled[0] is bundle and self._settled[1] == self.choice

    def _swap(self, bundle: ModelBundle) -> None:
        self.window.swap_backend(bundle)
        self._settle(bundle)

    def _settle(self, bundle: ModelBundle) -> None:
        self._settled = (bundle, self.choice)
        self._show()
        self._note_recipe()

    def _show(self) -> None:
        self.window.state.set_backend(self.running, self.pending)

    def _note_recipe(self) -> None:
        """Say once per recipe version when it was validated with another backend than the one running."""
        r, running = self.window.recipe, self.running
        if r is None or not r.backend or not running or r.backend == running:
            return
        key = (r.name, int(r.version), running)
        if key != self._noted:
            self._noted = key
            self.window.state.notify(
                "info",
                f"recipe {r.name} v{r.version} was validated with {backend_label(r.backend)}; it runs on "
                f"{backend_label(running)} here ({AGREEMENT})",
            )

    # --- the choice -----------------------------------------------------------------------------
    def set_choice(self, choice: str) -> None:
        """Use `choice` from now on, for the live model too (no saving, no audit: see apply_settings)."""
        if choice == self.choice:
            return
        self.choice = choice
        self._settled = None
        if self.window.inspector is not None:
            self.live_changed(self.window.inspector)

    def apply_settings(self, s: StationSettings) -> bool:
        """Save (station home), audit and apply to the live model; False (and a message) if refused."""
        before = load_settings()
        try:
            save_settings(s)
        except AoiError as exc:
            self.window.state.notify("error", str(exc))
            return False
        old = self.choice
        if s.backend != old:
            access = getattr(self.window, "access", None)
            if access is not None:
                access.record("change the inference backend", "backend", old, s.backend)
        elif s == before:
            return True
        self.window.state.notify("info", f"inference backend: {backend_label(s.backend)}")
        self.set_choice(s.backend)
        return True

    def edit_settings(self) -> None:
        """Open "Station settings" (the engineer's; non-blocking: OK applies)."""
        access = getattr(self.window, "access", None)
        if access is not None and not access.allow("change the inference backend"):
            return
        if self.dialog is not None:
            self.dialog.raise_()
            return
        current = StationSettings(backend=self.choice)
        dialog = StationSettingsDialog(current, backend_choices(), self.running, self.window)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.settings()))
        dialog.finished.connect(self._dialog_closed)
        self.dialog = dialog
        dialog.open()

    def _dialog_closed(self) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
            self.dialog = None

    def shutdown(self) -> None:
        """Wait for a preparing job (an export cannot be interrupted: seconds at most)."""
        self._closed = True
        if self.dialog is not None:
            self.dialog.reject()
        job, self.job = self.job, None
        if job is not None:
            job.stop_and_wait(
                2_000, lambda: self.window.statusBar().showMessage("finishing the backend export…")
            )


def install_backend(window: MainWindow, choice: str) -> BackendControl:
    return BackendControl(window, choice)
