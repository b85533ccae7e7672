"""`aoi models | train | eval | predict | bench` end to end on a tiny dataset, and their clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _tiny_data import write_mvtec

from inspection_core.cli import main
from inspection_core.data import imread, imwrite

TINY = ["--image-size", "64", "--coreset-size", "200", "--device", "cpu"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    data = write_mvtec(root / "data", n_train=10, n_good=4, n_bad=4)
    assert (
        main(["train", "--model", "patchcore", "--data", str(data), "--out", str(root / "model"), *TINY]) == 0
    )
    return data, root / "model"


def test_models_lists_registered_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--options"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("patchcore") and "(fast)" in out
    assert "--coreset-size" in out


def test_eval_prints_table_and_writes_json(trained, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    data, model = trained
    js = tmp_path / "eval.json"
    assert (
        main(["eval", "--model-dir", str(model), "--data", str(data), "--device", "cpu", "--json", str(js)])
        == 0
    )
    out = capsys.readouterr().out
    assert "image AUROC" in out and "AUPRO" in out
    rep = json.loads(js.read_text())
    for key in ("image_auroc", "pixel_auroc", "aupro", "f1_max", "n_images", "ms_per_image", "device"):
        assert key in rep
    assert rep["n_images"] == 8
    assert rep["image_auroc"] > 0.9  # planted blobs are easy


def test_predict_writes_overlay_mask_and_json(trained, tmp_path: Path) -> None:  # noqa: ANN001
    data, model = trained
    imgs = sorted((data / "test" / "crack").glob("*.png"))[:2]
    out = tmp_path / "pred"
    assert (
        main(["predict", "--model-dir", str(model), *map(str, imgs), "--out", str(out), "--device", "cpu"])
        == 0
    )
    for p in imgs:
        overlay = imread(out / f"{p.stem}_overlay.png")
        assert overlay.shape == (64, 64, 3)
        mask = imread(out / f"{p.stem}_mask.png")
        assert mask.shape == (64, 64) and mask.max() == 255
        js = json.loads((out / f"{p.stem}.json").read_text())
        assert js["verdict"] == "NG" and js["defects"]


def test_predict_warns_when_frames_reach_the_model_otherwise_than_at_calibration(  # noqa: ANN201
    trained,
    tmp_path: Path,
    capsys,  # noqa: ANN001
):
    data, model = trained
    img = str(sorted((data / "test" / "crack").glob("*.png"))[0])
    args = ["predict", "--model-dir", str(model), img, "--out", str(tmp_path / "p"), "--device", "cpu"]
    assert main(args) == 0
    assert "warning" not in capsys.readouterr().err  # aoi train calibrates on resized frames
    assert main([*args, "--tile", "--whole-frame"]) == 0
    err = capsys.readouterr().err
    assert "calibrated on resized frames" in err and "whole frame" in err


def test_bench_writes_json(trained, tmp_path: Path) -> None:  # noqa: ANN001
    data, model = trained
    js = tmp_path / "bench.json"
    args = [
        "bench",
        "--model-dir",
        str(model),
        "--device",
        "cpu",
        "--sizes",
        "64,200x150",
        "--batch",
        "1,4",
        "--iters",
        "3",
        "--frames-from",
        str(data),
        "--overlap",
        "0.5",
        "--json",
        str(js),
    ]
    assert main(args) == 0
    rep = json.loads(js.read_text())
    cases = [r["case"] for r in rep["results"]]
    # 2 model rows (no CUDA graphs on CPU) + 2 sizes x (synthetic, good mosaic) frame rows + one
    # inference-only row for the frame larger than the model input
    assert len(cases) == 7 and any("tiled" in c for c in cases)
    (to_map,) = [r for r in rep["results"] if "to map" in r["case"]]
    assert to_map["tiled"] and to_map["case"].startswith("frame 200x150 tiled to map")
    post = [r for r in rep["results"] if r["case"].startswith("frame 200x150 tiled +post")]
    assert post and to_map["median_ms"] > 0
    frames = [r for r in rep["results"] if "frame" in r and "to map" not in r["case"]]
    assert {r["frame"] for r in frames} == {"synthetic", "good mosaic"}
    assert all(0.0 <= r["mask_fraction"] <= 1.0 and "postprocess" in r["stages_ms"] for r in frames)
    assert {r["overlap"] for r in frames if r["tiled"]} == {0.5}
    assert all(r["median_ms"] > 0 for r in rep["results"])
    assert rep["command"].startswith("aoi bench")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--data", "{tmp}/missing", "--out", "{tmp}/m"], "folder not found"),
        (["train", "--data", "{tmp}/empty", "--out", "{tmp}/m"], "no training images"),
        (["train", "--model", "nope", "--data", "{tmp}/empty", "--out", "{tmp}/m"], "unknown model 'nope'"),
        (["train", "--data", "{tmp}/corrupt", "--out", "{tmp}/m", *TINY], "cannot read image"),
        (["train", "--data", "{tmp}/corrupt", "--out", "{tmp}/m", "--bogus", "1"], "no option --bogus"),
        (["eval", "--model-dir", "{tmp}/nomodel", "--data", "{tmp}/empty"], "model folder not found"),
    ],
)
def test_bad_inputs_give_one_clear_line(args: list[str], message: str, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    (tmp_path / "empty").mkdir()
    imwrite(tmp_path / "corrupt" / "a.png", np.zeros((64, 64), np.uint8))
    imwrite(tmp_path / "corrupt" / "b.png", np.zeros((64, 64), np.uint8))
    (tmp_path / "corrupt" / "c.png").write_bytes(b"not a png")
    code = main([a.replace("{tmp}", str(tmp_path)) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len([ln for ln in err.splitlines() if ln.startswith("aoi: error")]) == 1
