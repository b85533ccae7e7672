"""OpenVINO IR export and the openvino backend: OpenVINO's maps, scores and verdicts equal torch's.

Tolerance: the ONNX export's (models.export.PARITY_ATOL / PARITY_RTOL), |openvino - torch| <= 1e-4 +
1e-4 * |torch| for raw maps and scores, float32 weights and f32 inference on the CPU. Tiny models on
generated textures; nothing is downloaded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inspection_core.cli import main
from inspection_core.errors import AoiError
from inspection_core.inspector import Inspector
from inspection_core.models import create_model, load_bundle
from inspection_core.models.backends import available_backends, resolve_backend, with_backend
from inspection_core.models.bundle import ModelBundle
from inspection_core.models.export import NOT_EXPORTABLE, ExportError, default_batch
from inspection_core.postprocess.normalization import Normalization
from inspection_core.runtime import FitContext

sys.path.insert(0, str(Path(__file__).parent))
from _tiny_data import train_tiny  # noqa: E402
from test_export import _close, _demo_set  # noqa: E402
from test_model_contract import TINY, images  # noqa: E402

ov = pytest.importorskip("openvino", reason="the openvino package is not installed (aoi-station[openvino])")

from inspection_core.models.openvino_backend import (  # noqa: E402
    OpenVinoPredictor,
    current_openvino,
    export_openvino,
    openvino_paths,
    rt_metadata,
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default PatchCore (tiny), calibrated on held-out good textures and saved."""
    out = tmp_path_factory.mktemp("pc_ov") / "model"
    train_tiny().save(out)
    return out


def _parity(model: torch.nn.Module, runner: OpenVinoPredictor, x: torch.Tensor) -> bool:
    with torch.no_grad():
        t_map, t_score = model.predict(x)
    o_map, o_score = runner.predict(x)
    return _close(o_map.numpy(), t_map.numpy()) and _close(o_score.numpy(), t_score.numpy())


def test_patchcore_openvino_agrees_with_torch_on_maps_scores_and_verdicts(saved: Path) -> None:
    torch_insp = Inspector(load_bundle(saved), backend="torch")
    ov_insp = Inspector(load_bundle(saved), backend="openvino")
    assert ov_insp.backend == "openvino"
    frames = _demo_set()
    raw_t, raw_o = torch_insp.predict_raw(frames), ov_insp.predict_raw(frames)
    for a, b in zip(raw_t, raw_o, strict=True):
        assert _close(b.raw_map, a.raw_map)
        assert _close(np.float32(b.raw_score), np.float32(a.raw_score))
    verdicts_t = [torch_insp.inspect(f).verdict for f in frames]
    verdicts_o = [ov_insp.inspect(f).verdict for f in frames]
    assert verdicts_t == verdicts_o
    assert len(set(verdicts_t)) == 2  # the set has both verdicts, so agreeing on it means something


def test_patchcore_option_exports_with_parity() -> None:
    torch.manual_seed(0)
    model = create_model("patchcore", **{**TINY["patchcore"], "wide_sigma": 8.0})
    model.fit(images("patchcore", 4), FitContext(seed=1))
    runner = OpenVinoPredictor(export_openvino(ModelBundle(model, Normalization.identity())))
    assert runner.batch is None
    assert _parity(model, runner, images("patchcore", 5, seed=3))  # another batch size than the trace's


def test_sclvi_runs_at_its_fixed_batch_with_parity() -> None:
    torch.manual_seed(0)
    model = create_model("sclvi", **TINY["sclvi"])
    model.fit(images("sclvi", 4), FitContext(seed=1))
    bundle = with_backend(ModelBundle(model, Normalization.identity()), "openvino")
    assert bundle.backend == "openvino" and bundle.runner.batch == default_batch("sclvi") == 1
    assert _parity(model, bundle.runner, images("sclvi", 3, seed=3))


@pytest.mark.parametrize("name", sorted(NOT_EXPORTABLE))
def test_models_that_cannot_export_say_why(name: str) -> None:
    bundle = ModelBundle(create_model(name, **TINY[name]), Normalization.identity())
    with pytest.raises(ExportError, match=f"model '{name}' cannot be exported to OpenVINO: .+"):
        export_openvino(bundle)
    with pytest.raises(ExportError, match="backend openvino: .+ cannot be exported"):
        with_backend(bundle, "openvino")


def test_rt_info_and_normalised_outputs_serve_a_plain_openvino_user(saved: Path, tmp_path: Path) -> None:
    bundle = load_bundle(saved)
    export_openvino(bundle, tmp_path / "pc.xml")
    model = ov.Core().read_model(str(tmp_path / "pc.xml"))  # the .bin found beside it
    norm = Normalization.from_dict(json.loads(model.get_rt_info(["aoi", "normalization"]).astype(str)))
    assert norm == bundle.normalization
    assert rt_metadata(model)["aoi.model"] == "patchcore"
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    out = compiled(images("patchcore", 2, seed=9).numpy())
    amap, score = out["anomaly_map"], out["score"]
    assert _close(out["anomaly_map_normalized"], norm.map(amap))
    assert _close(out["score_normalized"], norm.score(score))


def test_backend_caches_the_ir_beside_the_model_and_drops_a_stale_one(saved: Path) -> None:
    size = load_bundle(saved).model.image_size
    with_backend(load_bundle(saved), "openvino")
    xml, weights = openvino_paths(saved)
    assert current_openvino(saved, size) is not None and weights.is_file()
    stamp = xml.stat().st_mtime_ns
    with_backend(load_bundle(saved), "openvino")  # current: reused, not exported again
    assert xml.stat().st_mtime_ns == stamp
    assert current_openvino(saved, size, batch=1) is None  # another batch is another export
    meta = saved / "model.json"
    text = meta.read_text()
    try:
        meta.write_text(text.replace('"n_images"', ' "n_images"', 1))  # the model changed
        assert current_openvino(saved, size) is None
        assert with_backend(load_bundle(saved), "openvino").backend == "openvino"
        assert current_openvino(saved, size) is not None  # exported again from the changed model
    finally:
        meta.write_text(text)


def test_a_failed_write_leaves_no_graph_beside_other_weights(
    saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import inspection_core.runtime.atomic as atomic

    out = tmp_path / "pc.xml"
    bundle = load_bundle(saved)
    export_openvino(bundle, out)
    real = atomic.atomic_write_bytes

    def fail_on_weights(path: Path, data: bytes, error: type[Exception] = OSError) -> None:
        if Path(path).suffix == ".bin":
            raise error("disk full")
        real(path, data, error)

    monkeypatch.setattr(atomic, "atomic_write_bytes", fail_on_weights)
    with pytest.raises(AoiError, match="disk full"):
        export_openvino(bundle, out, batch=2)
    assert not out.exists()  # the old graph went first: nothing half-replaced can be run


def test_cli_export_writes_the_ir_and_refuses_a_wrong_name(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pc.xml"
    argv = ["export", "--model-dir", str(saved), "--format", "openvino"]
    assert main([*argv, "--out", str(out), "--batch", "2"]) == 0
    assert out.with_suffix(".bin").is_file() and OpenVinoPredictor(out).batch == 2
    assert "OpenVINO matches torch" in capsys.readouterr().out
    assert main([*argv, "--out", str(tmp_path / "pc.onnx")]) == 2
    assert "an OpenVINO IR is an .xml file" in capsys.readouterr().err


def test_cli_bench_rows_side_by_side(saved: Path, tmp_path: Path) -> None:
    js = tmp_path / "bench.json"
    argv = ["bench", "--model-dir", str(saved), "--device", "cpu", "--sizes", "64", "--batch", "1"]
    assert main([*argv, "--iters", "2", "--backend", "torch,onnxruntime,openvino", "--json", str(js)]) == 0
    report = json.loads(js.read_text())
    assert report["processes"] == "one per backend"  # each timed without the others' thread pools
    rows = report["results"]
    assert [r["backend"] for r in rows[::2]] == ["torch", "onnxruntime", "openvino"]  # model + frame each
    assert all(r["label"].startswith(r["backend"] + ": ") and r["median_ms"] > 0 for r in rows)


def test_listed_where_installed_and_a_clear_error_where_not(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = load_bundle(saved)
    assert "openvino" in available_backends()
    assert resolve_backend("auto", bundle) == "onnxruntime"  # auto stays ONNX Runtime on a CPU
    monkeypatch.setitem(sys.modules, "openvino", None)  # what an install without the extra sees
    assert "openvino" not in available_backends()
    with pytest.raises(AoiError, match=r"backend openvino is not installed \(pip install openvino"):
        resolve_backend("openvino", bundle)


def test_recipe_builds_an_openvino_inspector(saved: Path) -> None:
    from inspection_core.recipes import Recipe

    r = Recipe.from_dict(Recipe(name="tile", model_dir=str(saved), backend="openvino").to_dict())
    assert r.backend == "openvino"
    assert r.build_inspector("cpu", r.backend).backend == "openvino"
