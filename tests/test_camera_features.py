"""The feature tree and the standard settings: Viky's real node map, the simulated web, the control queue."""

from __future__ import annotations

import threading

import pytest

from inspection_core.camera import open_source
from inspection_core.camera.control import NOT_OPEN, SourceControl
from inspection_core.camera.features import apply_settings, standard_features
from inspection_core.camera.genicam import viky_cti
from inspection_core.errors import CameraError

pytestmark = pytest.mark.camera
needs_viky = pytest.mark.skipif(viky_cti() is None, reason="the genicam wheel's viky.cti is not installed")


@needs_viky
def test_viky_tree_access_modes_standard_settings_and_writes() -> None:
    src = open_source("genicam:VikyTL_DEV_blue")
    try:
        tree = src.feature_tree()
        cats = [c.name for c in tree.children]
        assert "ImageFormatControl" in cats and "AcquisitionControl" in cats
        width = tree.find("Width")
        assert width is not None and width.access == "RW" and width.type == "Integer"
        assert (width.min, width.max) == (100, 800) and width.reason == ""
        assert tree.find("PayloadSize").access == "RO"  # type: ignore[union-attr]
        assert tree.find("AcquisitionStart").access == "WO"  # type: ignore[union-attr]
        na = tree.find("ChunkNrBounces")
        assert na is not None and na.access == "NA" and "not available" in na.reason
        assert tree.find("TLParamsLocked") is None  # invisible nodes are left out
        std = standard_features(tree, "Viky")
        assert std["pixel_format"].choices == ("RGBa8", "Mono8")
        assert (
            std["exposure_us"].access == "NI"
            and std["exposure_us"].reason == "Viky has no ExposureTime feature"
        )
        assert std["gain_db"].access == "NI" and "Gain" in std["gain_db"].reason
        assert std["trigger_mode"].access == "NI" and std["offset_x"].access == "NI"
        # write by name: an integer (snapped into range), a command, and a clear error for a bad value
        assert src.write_feature("BouncingBallSize", 33) == 33
        assert src.feature_tree().find("BouncingBallSize").value == 33  # type: ignore[union-attr]
        src.write_feature("FancyBallOperation", None)
        with pytest.raises(CameraError, match="out of range 100..800"):
            src.write_feature("Width", 5000)
        with pytest.raises(CameraError, match="no feature Nope"):
            src.write_feature("Nope", 1)
        # a recipe's settings: applied where the device has them, one line for each it lacks
        applied, problems = apply_settings(
            src, {"pixel_format": "Mono8", "width": 320, "exposure_us": 800.0, "offset_x": 0, "gain_db": None}
        )
        assert applied == {"pixel_format": "Mono8", "width": 320}
        assert len(problems) == 1 and "exposure_us=800.0 not applied" in problems[0]
        assert src.settings()["width"] == 320
    finally:
        src.close()


def test_simulated_web_tree_from_its_settings() -> None:
    src = open_source("simulated:64x48", fps=0)
    tree = src.feature_tree()
    std = standard_features(tree, src.info.label)
    assert std["exposure_us"].access == "RW" and std["exposure_us"].max == 1e6
    assert std["width"].value == 64 and std["pixel_format"].choices == ("Mono8", "RGB8")
    assert std["trigger_mode"].access == "NI" and "has no TriggerMode" in std["trigger_mode"].reason
    assert tree.find("texture").access == "RO"  # type: ignore[union-attr]
    assert src.write_feature("gain_db", 6.0) == 6.0
    with pytest.raises(CameraError, match="no software trigger"):
        src.trigger()
    src.close()


def test_control_runs_calls_on_the_owning_thread_and_fails_when_closed() -> None:
    control = SourceControl()
    with pytest.raises(CameraError, match="not open"):
        control.submit(lambda s: s.settings()).result(0)
    src = open_source("simulated:64x48", fps=0)
    control.attach(src)
    ran_on: list[str] = []

    def call(s):  # noqa: ANN001, ANN202
        ran_on.append(threading.current_thread().name)
        return s.configure(exposure_us=500.0)

    fut = control.submit(call)
    pending = control.submit(lambda s: s.settings())
    assert not fut.done()
    t = threading.Thread(target=lambda: control.run_pending() and None, name="owner")
    t.start()
    t.join()
    assert fut.result(0) == {"exposure_us": 500.0} and ran_on == ["owner"]
    assert pending.result(0)["exposure_us"] == 500.0
    left = control.submit(lambda s: 1)
    control.detach()
    with pytest.raises(CameraError, match=NOT_OPEN.split(":")[0]):
        left.result(0)
    src.close()
