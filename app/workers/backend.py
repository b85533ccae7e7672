"""Put a loaded model on the chosen inference backend, off the GUI thread (issue #27).

The first use of ONNX Runtime exports the model (a trace plus a parity check: seconds on a CPU); the
live model keeps inspecting meanwhile, and the window swaps the prepared bundle in between two frames.
An export runs on a copy of the torch model (the live one is in use by the inference thread); a current
export beside the model is loaded without one.
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace

from PySide6.QtCore import Signal

from app.workers.threads import LoopWorker
from inspection_core.errors import AoiError
from inspection_core.models.bundle import ModelBundle


class BackendWorker(LoopWorker):
    """One job: `bundle` → the same model on `backend` (a resolved name, not 'auto'); emits
    `done(source, prepared, seconds)` or `failed(source, message)` (the caller keeps `source` and says
    why)."""

    done = Signal(object, object, float)
    failed = Signal(object, str)

    def __init__(self, bundle: ModelBundle, backend: str) -> None:
        super().__init__()
        self.bundle = bundle
        self.backend = backend

    def run(self) -> None:
        from inspection_core.models.backends import export_needed, with_backend

        t0 = time.perf_counter()
        try:
            own = self.bundle
            if export_needed(own, self.backend):
                own = replace(own, model=copy.deepcopy(own.model))
            prepared = with_backend(own, self.backend)
        except AoiError as exc:  # says what failed in one line (cannot export, parity, not installed)
            self.failed.emit(self.bundle, str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure: the caller stays on torch and says why
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            self.failed.emit(self.bundle, f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
        else:
            self.done.emit(self.bundle, prepared, time.perf_counter() - t0)
        finally:
            self.finished.emit()
