"""`aoi train --recipe`, `aoi calibrate` and `aoi recipe …`, run in-process on tiny generated data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _tiny_data import train_tiny, write_mvtec

from inspection_core.cli import main
from inspection_core.recipes import RecipeStore


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:  # noqa: ANN001
    return write_mvtec(tmp_path_factory.mktemp("ds") / "tiles", n_train=8, n_good=4, n_bad=4)


def _run(capsys, *argv: str) -> tuple[int, str, str]:  # noqa: ANN001
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_calibrate_write_restore_export_import(tmp_path, dataset, capsys) -> None:  # noqa: ANN001
    rdir = str(tmp_path / "recipes")
    code, out, _ = _run(
        capsys, "train", "--data", str(dataset), "--out", str(tmp_path / "m"), "--image-size", "64",
        "--coreset-size", "200", "--device", "cpu", "--recipe", "Tile A", "--recipes-dir", rdir,
    )  # fmt: skip
    assert code == 0 and "recipe 'Tile A' version 1" in out
    store = RecipeStore(rdir)
    assert store.load("Tile A").postprocess.image_threshold == 0.5

    args = (
        "calibrate",
        "--recipe",
        "Tile A",
        "--recipes-dir",
        rdir,
        "--data",
        str(dataset),
        "--device",
        "cpu",
    )
    code, out, _ = _run(capsys, *args, "--strategy", "min-recall=1.0", "--json", str(tmp_path / "cal.json"))
    assert code == 0
    report = json.loads((tmp_path / "cal.json").read_text())
    t_img, t_pix = report["image"]["threshold"], report["pixel"]["threshold"]
    assert f"image threshold  {t_img:.4f}" in out and f"pixel threshold  {t_pix:.4f}" in out
    c = report["image"]["confusion"]
    assert c["tp"] == 4 and c["fn"] == 0  # min-recall=1 catches every defective part
    assert f"{'good':>14}{c['tn']:>12}{c['fp']:>12}" in out  # the printed confusion matrix
    assert store.versions("Tile A") == [1]  # nothing written without --write

    code, out, _ = _run(capsys, *args, "--strategy", "min-recall=1.0", "--write")
    assert code == 0 and "version 2" in out
    r2 = store.load("Tile A")
    assert r2.postprocess.image_threshold == pytest.approx(t_img)
    assert r2.postprocess.pixel_threshold == pytest.approx(t_pix)
    assert r2.history[-1].image_threshold == 0.5 and "min-recall" in r2.history[-1].note

    code, out, _ = _run(capsys, "recipe", "list", "--recipes-dir", rdir)
    assert code == 0 and "Tile A" in out and "patchcore" in out
    code, out, _ = _run(capsys, "recipe", "show", "Tile A", "--version", "1", "--recipes-dir", rdir)
    shown = json.loads(out)
    assert shown["version"] == 1 and shown["versions"] == [1, 2]

    code, out, _ = _run(capsys, "recipe", "restore", "Tile A", "--recipes-dir", rdir)
    assert code == 0 and "version 3" in out and store.load("Tile A").postprocess.image_threshold == 0.5

    archive = tmp_path / "tile_a.zip"
    assert _run(capsys, "recipe", "export", "Tile A", str(archive), "--recipes-dir", rdir)[0] == 0
    other = str(tmp_path / "station2")
    code, out, _ = _run(capsys, "recipe", "import", str(archive), "--recipes-dir", other)
    assert code == 0 and "imported 'Tile A' as version 1" in out
    assert RecipeStore(other).load("Tile A").history == store.load("Tile A").history

    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    code, out, err = _run(capsys, "recipe", "import", str(tmp_path / "junk.zip"), "--recipes-dir", other)
    assert code == 2 and err.startswith("aoi: error: cannot import junk.zip") and err.count("\n") == 1
    assert RecipeStore(other).versions("Tile A") == [1]


def test_calibrate_write_then_predict_uses_the_written_threshold(tmp_path, dataset, capsys) -> None:  # noqa: ANN001
    """One home for thresholds: --write needs a recipe, and `aoi predict --recipe` reads what it wrote."""
    model = train_tiny().save(tmp_path / "m")
    rdir = str(tmp_path / "recipes")
    base = ("calibrate", "--model-dir", str(model), "--data", str(dataset), "--device", "cpu")
    code, _, err = _run(capsys, *base, "--write")
    assert code == 2 and "--recipe" in err and err.count("\n") == 1
    j = tmp_path / "cal.json"
    strategy = "max-false-reject=0.25"
    assert (
        _run(
            capsys,
            *base,
            "--strategy",
            strategy,
            "--write",
            "--recipe",
            "P",
            "--recipes-dir",
            rdir,
            "--json",
            str(j),
        )[0]
        == 0
    )
    written = json.loads(j.read_text())
    assert written["written"] == {"recipe": "P", "version": 1}
    threshold = written["image"]["threshold"]
    assert threshold != pytest.approx(0.5)  # else the test could not tell the written value from the default
    predicted: dict[str, list[str]] = {"good": [], "crack": []}
    for kind in ("good", "crack"):  # one folder a run: the outputs are named by the images' stems
        images = sorted(str(f) for f in (dataset / "test" / kind).glob("*.png"))
        out = tmp_path / "pred" / kind
        argv = (
            "predict",
            "--recipe",
            "P",
            "--recipes-dir",
            rdir,
            *images,
            "--out",
            str(out),
            "--device",
            "cpu",
        )
        _run(capsys, *argv)
        for f in images:
            res = json.loads((out / f"{Path(f).stem}.json").read_text())
            assert res["image_threshold"] == pytest.approx(threshold)
            assert res["verdict"] == ("NG" if res["score"] >= threshold else "OK")
            predicted[kind].append(res["verdict"])
    # `aoi eval --recipe` reads the same threshold and counts the same image verdicts
    ev = tmp_path / "eval.json"
    code, out_text, _ = _run(
        capsys, "eval", "--recipe", "P", "--recipes-dir", rdir, "--data", str(dataset), "--device", "cpu",
        "--no-pixel", "--json", str(ev),
    )  # fmt: skip
    got = json.loads(ev.read_text())["recipe"]
    assert code == 0 and got["image_threshold"] == pytest.approx(threshold) and "P v1" in out_text
    assert got["false_rejects"] == predicted["good"].count("NG")
    assert got["false_accepts"] == predicted["crack"].count("OK")


def test_calibrate_errors_are_one_line(tmp_path, dataset, capsys) -> None:  # noqa: ANN001
    model = train_tiny().save(tmp_path / "m")
    code, _, err = _run(
        capsys, "calibrate", "--model-dir", str(model), "--data", str(dataset), "--strategy", "best"
    )
    assert code == 2 and "unknown strategy 'best'" in err
    code, _, err = _run(capsys, "calibrate", "--data", str(dataset))
    assert code == 2 and "--model-dir" in err
    code, _, err = _run(capsys, "calibrate", "--model-dir", str(model), "--data", str(tmp_path / "nothing"))
    assert code == 2 and "not found" in err
    rdir = str(tmp_path / "recipes")
    other = train_tiny(seed=5).save(tmp_path / "m2")
    assert main(["calibrate", "--model-dir", str(other), "--data", str(dataset), "--device", "cpu",
                 "--recipe", "P", "--recipes-dir", rdir, "--write"]) == 0  # fmt: skip
    capsys.readouterr()
    code, _, err = _run(
        capsys,
        "calibrate",
        "--model-dir",
        str(model),
        "--data",
        str(dataset),
        "--recipe",
        "P",
        "--recipes-dir",
        rdir,
    )
    assert code == 2 and "uses another model" in err


def test_recipe_import_and_show_refuse_bad_recipes_in_one_line(tmp_path, capsys) -> None:  # noqa: ANN001
    import zipfile

    rdir = str(tmp_path / "recipes")
    model = train_tiny().save(tmp_path / "m")
    store = RecipeStore(rdir)
    from inspection_core.recipes import Recipe

    store.save(Recipe(name="P", model_dir=str(model)))
    archive = tmp_path / "p.aoirecipe"
    assert _run(capsys, "recipe", "export", "P", str(archive), "--recipes-dir", rdir)[0] == 0
    stripped = tmp_path / "stripped.aoirecipe"
    with zipfile.ZipFile(archive) as zin, zipfile.ZipFile(stripped, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "recipe.json":
                d = json.loads(data)
                d.pop("archive")
                d["postprocess"]["image_threshold"] = float("nan")  # written by json as NaN
                data = json.dumps(d).encode()
            zout.writestr(info.filename, data)
    code, _, err = _run(capsys, "recipe", "import", str(stripped), "--name", "Q", "--recipes-dir", rdir)
    assert code == 2 and "non-finite number NaN" in err and len(err.strip().splitlines()) == 1
    assert store.names() == ["P"]
    v1 = store.path("P", 1)
    v1.write_text(v1.read_text().replace('"overlap": 0.25', '"overlap": 1.0'))
    code, _, err = _run(capsys, "recipe", "show", "P", "--recipes-dir", rdir)
    assert code == 2 and "overlap" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, "recipe", "import", str(archive), "--name", "Bad\n", "--recipes-dir", rdir)
    assert code == 2 and "bad recipe name" in err
