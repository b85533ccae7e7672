"""The GUI's handle on the open camera: feature snapshots in, writes out, all through `SourceControl`.

Widgets never call the source: the acquisition thread owns it. A call is submitted, runs between two
reads, and its Future's result comes back here as a queued signal on the GUI thread. After every
write the tree is read again (one feature often changes others: Width → PayloadSize, TriggerMode →
TriggerSource's availability).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.state import SessionState
from inspection_core.camera.base import FrameSource
from inspection_core.camera.control import NOT_OPEN, SourceControl
from inspection_core.camera.features import Feature, standard_features


class CameraController(QObject):
    treeChanged = Signal(object)  # Feature (the root) or None when no camera is open
    written = Signal(str, object)  # feature name, value read back (None for a command)
    failed = Signal(str)  # one line: why a read or write did not happen
    changed = Signal(str, object, object)  # feature name, old value, value read back: the audit trail
    _done = Signal(object, object)  # (callback, Future) from the acquisition thread

    def __init__(self, control: SourceControl, state: SessionState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.control = control
        self.state = state
        self.tree: Feature | None = None
        self.standard: dict[str, Feature] = {}
        self.owner = ""
        self.kind = ""  # the source's kind: genicam | simulated | replay
        self.pending = 0  # calls submitted and not answered yet (tests wait on 0)
        self.guard: Callable[[str], bool] = lambda _what: True  # the window's AccessControl.allow
        self._done.connect(self._deliver)  # queued: emitted from the acquisition thread
        state.cameraStateChanged.connect(self._camera_state)

    # --- calls ---------------------------------------------------------------------------------
    def call(self, fn: Callable[[FrameSource], Any], then: Callable[[Any], None]) -> None:
        """Run `fn(source)` on the acquisition thread; `then(result)` on the GUI thread (failures go
        to `failed`)."""
        self.pending += 1
        fut = self.control.submit(fn)
        fut.add_done_callback(lambda f: self._done.emit(then, f))

    def _deliver(self, then: Callable[[Any], None], fut: Future) -> None:
        self.pending -= 1
        exc = fut.exception()
        if exc is not None:
            self.failed.emit(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return
        then(fut.result())

    def refresh(self) -> None:
        """Read the whole tree again (a snapshot, taken on the acquisition thread)."""

        def snapshot(s: FrameSource) -> tuple[Feature, str, str]:
            owner = s.info.model or s.info.label
            return s.feature_tree(), owner, s.info.kind

        self.call(snapshot, self._set_tree)

    def write(self, name: str, value: Any) -> None:
        """Write one feature by its tree name (a command executes); the tree is re-read after. Changing
        the camera is the engineer's (`guard`); a refused write re-reads the tree, so editors show the
        camera's value again."""
        if not self.guard(f"change the camera setting {name}"):
            self.refresh()
            return
        known = self.tree.find(name) if self.tree is not None else None
        old = known.value if known is not None else None

        def done(v: Any) -> None:
            self.written.emit(name, v)
            self.changed.emit(name, old, v)
            self.refresh()

        self.call(lambda s: s.write_feature(name, value), done)

    def write_setting(self, key: str, value: Any) -> None:
        """Write one of the panel's standard settings (by our key: exposure_us, pixel_format, …)."""
        f = self.standard.get(key)
        if f is None or f.access == "NI":
            self.failed.emit(f.reason if f is not None else f"no camera setting {key}")
            return
        self.write(f.name, value)

    def trigger(self) -> None:
        self.call(lambda s: s.trigger(), lambda _v: self.written.emit("TriggerSoftware", None))

    def settings(self, then: Callable[[dict[str, Any]], None]) -> None:
        """The standard settings' current values (what a recipe saves)."""
        self.call(lambda s: s.settings(), then)

    # --- state ---------------------------------------------------------------------------------
    def _set_tree(self, snap: tuple[Feature, str, str] | None) -> None:
        if snap is None:
            self.tree, self.standard, self.owner, self.kind = None, {}, "", ""
        else:
            self.tree, self.owner, self.kind = snap
            self.standard = standard_features(self.tree, self.owner)
        self.treeChanged.emit(self.tree)

    def _camera_state(self, s: str) -> None:
        if s == "running":
            self.refresh()
        elif s in ("stopped", "lost", "idle"):
            self._set_tree(None)

    @property
    def not_open_reason(self) -> str:
        return NOT_OPEN
