"""The installed Qt binding must not leak references to True/None (a leak aborts the app within minutes).

PySide6 6.12.0 on Python 3.11 steals one reference to `True` per `Signal.emit()` and one to `None`
per call of a void Qt method; once `True`'s count reaches zero CPython aborts with
`Fatal Python error: bool_dealloc`. The probe runs in a child process (this file run as a script):
on a leaking binding the stolen references would otherwise take the test session down with it.
It stops a probe as soon as the leak is visible, so the child itself exits cleanly and reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

try:
    import pytest

    pytestmark = pytest.mark.gui
except ImportError:  # packaging/install.sh calls the test function on a station-only install
    pass
CALLS = 5000  # per probe: > the ~600 references True has at start, so a leak could never hide
BATCH = 50  # small: on a leaking binding the probes stop before True runs out
TOLERANCE = 5  # the interpreter's own bookkeeping may move a count by a few


def _probes() -> dict[str, Callable[[], object]]:
    from PySide6.QtCore import QObject, Qt, QTimer, Signal
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication([])

    class Emitter(QObject):
        obj = Signal(object)
        flag = Signal(bool)
        bare = Signal()
        queued = Signal(object)

    em = Emitter()
    sink: list[object] = []
    em.obj.connect(sink.append)
    em.flag.connect(sink.append)
    em.bare.connect(lambda: sink.append(None))
    em.queued.connect(sink.append, Qt.ConnectionType.QueuedConnection)
    timer, label = QTimer(), QLabel()

    def queued() -> None:
        em.queued.emit(1)
        app.processEvents()

    def drain(fn: Callable[[], object]) -> Callable[[], object]:
        def call() -> object:
            fn()
            sink.clear()
            return None

        return call

    return {
        "Signal(object).emit": drain(lambda: em.obj.emit(1)),
        "Signal(bool).emit": drain(lambda: em.flag.emit(False)),
        "Signal().emit": drain(em.bare.emit),
        "queued Signal(object).emit": drain(queued),
        "QTimer.stop (void)": drain(timer.stop),
        "QLabel.setText (void)": drain(lambda: label.setText("x")),
    }


def measure(calls: int = CALLS) -> dict[str, dict[str, int]]:
    """Per probe: change of sys.getrefcount(True) and (None) after up to `calls` calls."""
    out: dict[str, dict[str, int]] = {}
    for name, fn in _probes().items():
        fn()  # first call: lazy caches are filled, not counted
        t0, n0 = sys.getrefcount(True), sys.getrefcount(None)
        done = 0
        while done < calls:
            for _ in range(BATCH):
                fn()
            done += BATCH
            dt, dn = sys.getrefcount(True) - t0, sys.getrefcount(None) - n0
            if abs(dt) > 2 * TOLERANCE or abs(dn) > 2 * TOLERANCE:
                break  # leaking: stop before the count reaches zero
        out[name] = {"calls": done, "true": dt, "none": dn}
    return out


def test_signals_and_void_calls_keep_true_and_none_refcounts() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, __file__], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0 and proc.stdout.strip(), (
        f"refcount probe died (rc {proc.returncode}): {proc.stderr[-1500:]}"
    )
    deltas = json.loads(proc.stdout.strip().splitlines()[-1])
    from PySide6 import __version__ as pyside

    leaks = {k: v for k, v in deltas.items() if abs(v["true"]) > TOLERANCE or abs(v["none"]) > TOLERANCE}
    assert not leaks, (
        f"PySide6 {pyside} on Python {sys.version.split()[0]} leaks references (True/None deltas): "
        f"{leaks} — install a pair that does not (packaging/install.sh)"
    )
    assert all(v["calls"] == CALLS for v in deltas.values())


if __name__ == "__main__":
    print(json.dumps(measure()), flush=True)
    os._exit(0)  # skip finalisation: after a leak, tearing down Qt objects would abort the probe
