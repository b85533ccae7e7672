"""The window on a GenICam device through Harvesters (Viky, the simulator the genicam wheel ships)."""

from __future__ import annotations

import pytest

from app import sources
from app.main_window import MainWindow
from inspection_core.models.bundle import ModelBundle

pytestmark = [pytest.mark.gui, pytest.mark.camera]


@pytest.fixture(scope="module")
def viky_spec() -> str:
    vikys = [s for s in sources.list_sources() if s.kind == "genicam" and "Viky" in (s.model + s.label)]
    if not vikys:
        pytest.skip("no Viky device found (genicam wheel's viky.cti not loadable here)")
    return vikys[0].spec


def test_inspects_viky_frames_and_closes_cleanly(qtbot, tiny_bundle: ModelBundle, viky_spec: str) -> None:
    w = MainWindow(device="cpu")
    w.set_bundle(tiny_bundle)
    w.show()
    assert w.source_panel.source_combo.findData(viky_spec) >= 0  # the picker lists the device
    w.start(viky_spec)
    qtbot.waitUntil(lambda: w.state.counters.inspected >= 10, timeout=60_000)
    assert w.state.camera_state == "running"
    w.stop()
    snap = w.state.snapshot()
    assert snap.ok + snap.ng == snap.inspected >= 10
    assert "Viky" in w.state.source_label
    cur = w.state.current
    assert (
        cur is not None
        and cur.image8.dtype.name == "uint8"
        and cur.image8.shape[:2] == cur.frame.image.shape[:2]
    )
    w.close()
