"""ONNX export and the onnxruntime backend: ONNX Runtime's maps, scores and verdicts equal torch's.

Tolerance (models.export.PARITY_ATOL / PARITY_RTOL): |onnx - torch| <= 1e-4 + 1e-4 * |torch| for raw
maps and scores, float32 on the CPU. Tiny models on generated textures; nothing is downloaded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inspection_core.cli import main
from inspection_core.inspector import Inspector
from inspection_core.models import create_model, load_bundle
from inspection_core.models.backends import with_backend
from inspection_core.models.bundle import ModelBundle
from inspection_core.models.export import (
    NOT_EXPORTABLE,
    PARITY_ATOL,
    PARITY_RTOL,
    ExportError,
    OnnxPredictor,
    current_onnx,
    default_batch,
    export_onnx,
    onnx_path,
)
from inspection_core.postprocess.normalization import Normalization
from inspection_core.runtime import FitContext

sys.path.insert(0, str(Path(__file__).parent))
from _tiny_data import defective, texture, train_tiny  # noqa: E402
from test_model_contract import TINY, images  # noqa: E402

pytest.importorskip("onnxruntime")


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.allclose(a, b, atol=PARITY_ATOL, rtol=PARITY_RTOL)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default PatchCore (tiny), calibrated on held-out good textures and saved."""
    out = tmp_path_factory.mktemp("pc") / "model"
    train_tiny().save(out)
    return out


def _demo_set(n: int = 6) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [texture(rng) for _ in range(n)] + [defective(rng)[0] for _ in range(n)]


def test_patchcore_backends_agree_on_maps_scores_and_verdicts(saved: Path) -> None:
    torch_insp = Inspector(load_bundle(saved), backend="torch")
    onnx_insp = Inspector(load_bundle(saved), backend="onnxruntime")
    assert (torch_insp.backend, onnx_insp.backend) == ("torch", "onnxruntime")
    frames = _demo_set()
    raw_t, raw_o = torch_insp.predict_raw(frames), onnx_insp.predict_raw(frames)
    for a, b in zip(raw_t, raw_o, strict=True):
        assert _close(b.raw_map, a.raw_map)
        assert abs(b.raw_score - a.raw_score) <= PARITY_ATOL + PARITY_RTOL * abs(a.raw_score)
    verdicts_t = [torch_insp.inspect(f).verdict for f in frames]
    verdicts_o = [onnx_insp.inspect(f).verdict for f in frames]
    assert verdicts_t == verdicts_o
    assert len(set(verdicts_t)) == 2  # the set has both verdicts, so agreeing on it means something


@pytest.mark.parametrize(
    "options",
    [
        {"wide_sigma": 8.0},  # the wide blur once used round() on a traced shape
        {"score_from": "map", "map_blocks": ()},
    ],
    ids=["wide_sigma", "score_from_map"],
)
def test_patchcore_options_export_with_parity(options: dict) -> None:
    torch.manual_seed(0)
    model = create_model("patchcore", **{**TINY["patchcore"], **options})
    model.fit(images("patchcore", 4), FitContext(seed=1))
    runner = OnnxPredictor(export_onnx(ModelBundle(model, Normalization.identity())))
    x = images("patchcore", 5, seed=3)  # another batch size than the trace's
    with torch.no_grad():
        t_map, t_score = model.predict(x)
    o_map, o_score = runner.predict(x)
    assert _close(o_map.numpy(), t_map.numpy()) and _close(o_score.numpy(), t_score.numpy())


def test_sclvi_exports_at_a_fixed_batch_with_parity() -> None:
    torch.manual_seed(0)
    model = create_model("sclvi", **TINY["sclvi"])
    model.fit(images("sclvi", 4), FitContext(seed=1))
    bundle = with_backend(ModelBundle(model, Normalization.identity()), "onnxruntime")
    assert bundle.runner.batch == default_batch("sclvi") == 1
    x = images("sclvi", 3, seed=3)
    with torch.no_grad():
        t_map, t_score = model.predict(x)
    o_map, o_score = bundle.predict(x)
    assert _close(o_map.numpy(), t_map.numpy()) and _close(o_score.numpy(), t_score.numpy())


@pytest.mark.parametrize("name", sorted(NOT_EXPORTABLE))
def test_models_that_cannot_export_say_why(name: str) -> None:
    bundle = ModelBundle(create_model(name, **TINY[name]), Normalization.identity())
    with pytest.raises(ExportError, match=f"model '{name}' cannot be exported to ONNX: .+"):
        export_onnx(bundle)
    assert with_backend(bundle, "auto").backend == "torch"  # auto falls back, never fails


def test_metadata_and_normalised_outputs_serve_a_plain_onnxruntime_user(saved: Path) -> None:
    import onnxruntime as ort

    bundle = load_bundle(saved)
    data = export_onnx(bundle)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    norm = Normalization.from_dict(json.loads(meta["aoi.normalization"]))
    assert norm == bundle.normalization and meta["aoi.model"] == "patchcore"
    x = images("patchcore", 2, seed=9).numpy()
    amap, score, amap_n, score_n = sess.run(None, {"image": x})
    assert _close(amap_n, norm.map(amap)) and _close(score_n, norm.score(score))


def test_backend_caches_the_export_beside_the_model_and_drops_a_stale_one(saved: Path) -> None:
    size = load_bundle(saved).model.image_size
    with_backend(load_bundle(saved), "onnxruntime")
    path = onnx_path(saved)
    assert current_onnx(saved, size) == path
    stamp = path.stat().st_mtime_ns
    with_backend(load_bundle(saved), "onnxruntime")  # current: reused, not exported again
    assert path.stat().st_mtime_ns == stamp
    meta = saved / "model.json"
    text = meta.read_text()
    try:
        meta.write_text(text.replace('"n_images"', ' "n_images"', 1))  # the model changed
        assert current_onnx(saved, size) is None
        assert with_backend(load_bundle(saved), "onnxruntime").backend == "onnxruntime"
        assert current_onnx(saved, size) == path  # exported again from the changed model
    finally:
        meta.write_text(text)


def test_cli_export_writes_the_file_and_refuses_what_cannot_export(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pc.onnx"
    assert main(["export", "--model-dir", str(saved), "--out", str(out), "--batch", "2"]) == 0
    assert OnnxPredictor(out).batch == 2
    assert main(["export", "--model-dir", str(saved), "--format", "tflite"]) == 2
    assert "unknown export format 'tflite'" in capsys.readouterr().err


def test_cli_bench_rows_side_by_side(saved: Path, tmp_path: Path) -> None:
    js = tmp_path / "bench.json"
    argv = ["bench", "--model-dir", str(saved), "--device", "cpu", "--sizes", "64", "--batch", "1"]
    assert (
        main([*argv, "--iters", "2", "--backend", "torch,onnxruntime", "--same-process", "--json", str(js)])
        == 0
    )
    report = json.loads(js.read_text())
    assert {r["backend"] for r in report["results"]} == {"torch", "onnxruntime"}
    assert all(r["label"].startswith(r["backend"] + ": ") and r["median_ms"] > 0 for r in report["results"])
    assert "processes" not in report


def test_cli_bench_child_failure_is_one_clear_line(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "--model-dir", str(saved), "--device", "cpu", "--sizes", "64", "--batch", "1"]
    assert main([*argv, "--iters", "1", "--backend", "onnxruntime,tensorrt"]) == 2
    assert "bench of backend tensorrt failed: " in capsys.readouterr().err


def test_recipe_records_its_validated_backend(saved: Path) -> None:
    from inspection_core.recipes import Recipe

    r = Recipe(name="tile", model_dir=str(saved), backend="onnxruntime")
    back = Recipe.from_dict(r.to_dict())
    assert back.backend == "onnxruntime"
    old = {k: v for k, v in r.to_dict().items() if k != "backend"}  # saved before backends existed
    assert Recipe.from_dict(old).backend == ""
    assert back.build_inspector("cpu", "onnxruntime").backend == "onnxruntime"


def test_an_export_from_another_aoi_station_version_is_made_again(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgraded station must run its own predict path, not a cached export of an older one."""
    import inspection_core

    size = load_bundle(saved).model.image_size
    with_backend(load_bundle(saved), "onnxruntime")
    assert current_onnx(saved, size) is not None
    monkeypatch.setattr(inspection_core, "__version__", inspection_core.__version__ + ".post1")
    assert current_onnx(saved, size) is None
    with_backend(load_bundle(saved), "onnxruntime")  # exported again by "this" version
    assert current_onnx(saved, size) is not None
