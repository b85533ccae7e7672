"""Recipes: versions, history, atomic saves (also under SIGKILL), archives and their failure modes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from _tiny_data import texture, train_tiny

from inspection_core.inspector import Inspector, Preprocessing
from inspection_core.models.bundle import META
from inspection_core.postprocess import PostprocessSettings, Roi, RoiShape
from inspection_core.recipes import (
    CameraSettings,
    Recipe,
    RecipeError,
    RecipeStore,
    recipe_after_training,
)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:  # noqa: ANN001
    torch.set_num_threads(1)
    return train_tiny().save(tmp_path_factory.mktemp("model") / "m")


@pytest.fixture()
def store(tmp_path) -> RecipeStore:  # noqa: ANN001
    return RecipeStore(tmp_path / "recipes")


def _recipe(model_dir: Path, name: str = "Tile A") -> Recipe:
    return Recipe(
        name=name,
        model_dir=str(model_dir),
        camera=CameraSettings(exposure_us=1200.0, gain_db=3.0, pixel_format="Mono8", width=640, offset_x=16),
        preprocessing=Preprocessing(tile=False),
        postprocess=PostprocessSettings(
            min_defect_area=12, pixel_size_mm=0.05, roi=Roi((RoiShape.rect(2, 2, 60, 60),))
        ),
        notes="first article",
    )


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_save_creates_versions_and_old_ones_stay_loadable(store, model_dir) -> None:  # noqa: ANN001
    r1 = store.save(_recipe(model_dir))
    assert r1.version == 1 and r1.model_dir == "models/m0001"
    r2 = store.save(r1.apply_thresholds(0.6, 0.55, note="tuned"))
    r3 = store.save(r2.with_(notes="second shift"))
    assert store.versions("Tile A") == [1, 2, 3] and r3.version == 3
    assert store.load("Tile A") == r3 and store.load("Tile A", 1) == r1
    assert store.load("Tile A", 1).postprocess.image_threshold == 0.5
    assert store.load("Tile A").postprocess.image_threshold == 0.6
    old = store.load("Tile A", 1)
    assert (
        old.camera == _recipe(model_dir).camera and old.postprocess.roi == _recipe(model_dir).postprocess.roi
    )
    # one model copy serves all versions that use it
    assert sorted(p.name for p in (store.root / "Tile A" / "models").iterdir()) == ["m0001"]
    assert [s.name for s in store.list()] == ["Tile A"] and store.list()[0].model == "patchcore"
    with pytest.raises(RecipeError, match="no version 9"):
        store.load("Tile A", 9)
    with pytest.raises(RecipeError, match="no recipe named"):
        store.load("Other")


def test_threshold_history_apply_and_restore(model_dir) -> None:  # noqa: ANN001
    r = _recipe(model_dir).apply_thresholds(0.6, 0.7, note="f1").apply_thresholds(image_threshold=0.8)
    assert (r.postprocess.image_threshold, r.postprocess.pixel_threshold) == (0.8, 0.7)
    assert [(h.image_threshold, h.pixel_threshold) for h in r.history] == [(0.5, 0.5), (0.6, 0.7)]
    back = r.restore_thresholds(0)
    assert (back.postprocess.image_threshold, back.postprocess.pixel_threshold) == (0.5, 0.5)
    assert back.history[-1].image_threshold == 0.8  # restoring is undoable
    assert back.postprocess.min_defect_area == 12 and back.postprocess.roi == r.postprocess.roi
    with pytest.raises(RecipeError, match="no threshold history entry"):
        _recipe(model_dir).restore_thresholds()


def test_store_keeps_its_own_model_copy(store, model_dir, tmp_path) -> None:  # noqa: ANN001
    import shutil

    user_dir = tmp_path / "user_model"
    shutil.copytree(model_dir, user_dir)
    r = store.save(_recipe(user_dir))
    shutil.rmtree(user_dir)  # the user reuses/deletes their --out folder
    insp = store.load(r.name).build_inspector("cpu")
    assert isinstance(insp, Inspector) and insp.settings.min_defect_area == 12
    res = insp.inspect(texture(np.random.default_rng(9)))
    assert res.verdict in ("OK", "NG") and res.anomaly_map.shape == (64, 64)


def test_bad_names_and_missing_models(store, model_dir, tmp_path) -> None:  # noqa: ANN001
    for bad in ("", "../escape", ".hidden", "a/b", "x" * 65):
        with pytest.raises(RecipeError, match="bad recipe name"):
            Recipe(name=bad, model_dir=str(model_dir))
    from inspection_core.errors import ModelFileError

    with pytest.raises(ModelFileError):
        store.save(_recipe(tmp_path / "nope"))
    assert store.names() == [] and not (store.root / "Tile A").exists()


def test_failure_between_write_and_rename_leaves_old_version(store, model_dir, monkeypatch) -> None:  # noqa: ANN001
    r1 = store.save(_recipe(model_dir))
    before = _snapshot(store.root)

    def fail(*_a, **_k) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", fail)
    with pytest.raises(RecipeError, match="No space left"):
        store.save(r1.apply_thresholds(0.9))
    monkeypatch.undo()
    assert _snapshot(store.root) == before  # no temp file, no new version
    assert store.load("Tile A") == r1


def test_kill_during_save_leaves_old_version_intact(store, model_dir) -> None:  # noqa: ANN001
    r1 = store.save(_recipe(model_dir))
    # a child process saves a new version and is SIGKILLed after writing the temp file, before linking it
    script = textwrap.dedent(
        f"""
        import os, signal
        from inspection_core.recipes import RecipeStore
        store = RecipeStore({str(store.root)!r})
        r = store.load("Tile A").apply_thresholds(0.9, note="never lands")
        os.link = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        store.save(r)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    leftovers = [p.name for p in (store.root / "Tile A").iterdir() if p.name.startswith(".tmp-")]
    assert leftovers, "the child should have died mid-save, leaving its temp file"
    assert store.versions("Tile A") == [1] and store.load("Tile A") == r1
    assert [s.latest_version for s in store.list()] == [1]
    r2 = store.save(r1.apply_thresholds(0.7))  # the store stays usable
    assert r2.version == 2 and store.load("Tile A").postprocess.image_threshold == 0.7


def test_corrupt_version_file_is_a_clear_error(store, model_dir) -> None:  # noqa: ANN001
    store.save(_recipe(model_dir))
    store.path("Tile A", 1).write_text('{"format": "aoi-station-recipe", "format_ver')
    with pytest.raises(RecipeError, match="corrupt"):
        store.load("Tile A")


def test_export_import_round_trip(store, model_dir, tmp_path) -> None:  # noqa: ANN001
    r = store.save(_recipe(model_dir).apply_thresholds(0.6, note="tuned"))
    archive = store.export("Tile A", tmp_path / "tile_a.aoirecipe")
    other = RecipeStore(tmp_path / "station2")
    imported = other.import_(archive)
    assert imported.version == 1 and imported.name == "Tile A"
    for field in ("camera", "preprocessing", "postprocess", "notes", "history"):
        assert getattr(imported, field) == getattr(r, field), field
    img = texture(np.random.default_rng(3))
    a = store.load("Tile A").build_inspector("cpu").inspect(img)
    b = other.load("Tile A").build_inspector("cpu").inspect(img)
    assert a.raw_score == pytest.approx(b.raw_score) and a.verdict == b.verdict
    assert other.import_(archive, name="Tile B").name == "Tile B"
    assert other.import_(archive).version == 2  # same product again → new version, old kept
    assert [p.name for p in other.root.iterdir() if p.name.startswith(".")] == []  # temp folders cleaned


def _rewrite(archive: Path, out: Path, edit) -> Path:  # noqa: ANN001
    """Copy an archive, letting `edit(name, bytes) -> bytes | None` change or drop members."""
    with zipfile.ZipFile(archive) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = edit(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)
    return out


def _fix_sums(data: bytes, name: str, new: bytes) -> bytes:
    import hashlib

    d = json.loads(data)
    d["archive"]["sha256"][name] = hashlib.sha256(new).hexdigest()
    return json.dumps(d).encode()


def _bad_archives(archive: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    def flip_weights(n: str, b: bytes) -> bytes:
        if n == "model/model.safetensors":
            return (
                b[: len(b) // 2]
                + bytes(x ^ 0xFF for x in b[len(b) // 2 : len(b) // 2 + 64])
                + b[len(b) // 2 + 64 :]
            )
        return b

    def unknown_model(n: str, b: bytes) -> bytes:
        if n == f"model/{META}":
            d = json.loads(b)
            d["model"] = "hyperdetector9000"
            return json.dumps(d).encode()
        if n == "recipe.json":
            d = json.loads(b)
            d["archive"]["sha256"].pop(META)  # a consistent archive of an unknown model
            return json.dumps(d).encode()
        return b

    def newer_model_format(n: str, b: bytes) -> bytes:
        if n == f"model/{META}":
            d = json.loads(b)
            d["format_version"] = 99
            return json.dumps(d).encode()
        if n == "recipe.json":
            d = json.loads(b)
            d["archive"]["sha256"].pop(META)
            return json.dumps(d).encode()
        return b

    def newer_recipe(n: str, b: bytes) -> bytes:
        if n == "recipe.json":
            d = json.loads(b)
            d["format_version"] = 2
            return json.dumps(d).encode()
        return b

    not_zip = tmp / "not_a_zip.aoirecipe"
    not_zip.write_bytes(b"PK\x03\x04 this is not really a zip")
    truncated = tmp / "truncated.aoirecipe"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    slip = tmp / "slip.aoirecipe"
    with zipfile.ZipFile(archive) as zin, zipfile.ZipFile(slip, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
        zout.writestr("../../evil.txt", b"x")
    return {
        "not a zip": (not_zip, "corrupt or not a zip"),
        "truncated": (truncated, "corrupt or not a zip"),
        "no recipe.json": (
            _rewrite(archive, tmp / "norecipe.zip", lambda n, b: None if n == "recipe.json" else b),
            "no recipe.json",
        ),
        "no model": (
            _rewrite(archive, tmp / "nomodel.zip", lambda n, b: None if n.startswith("model/") else b),
            "holds no model",
        ),
        "corrupt weights": (_rewrite(archive, tmp / "flip.zip", flip_weights), "checksum mismatch"),
        "unknown model": (_rewrite(archive, tmp / "unknown.zip", unknown_model), "unknown model"),
        "newer model format": (_rewrite(archive, tmp / "newmodel.zip", newer_model_format), "newer"),
        "newer recipe format": (_rewrite(archive, tmp / "newrecipe.zip", newer_recipe), "newer"),
        "zip slip": (slip, "unsafe path"),
    }


def test_bad_archives_give_clear_errors_and_change_nothing(store, model_dir, tmp_path) -> None:  # noqa: ANN001
    store.save(_recipe(model_dir))
    archive = store.export("Tile A", tmp_path / "good.aoirecipe")
    target = RecipeStore(tmp_path / "target")
    target.save(_recipe(model_dir, "Existing"))
    before = _snapshot(target.root)
    for case, (path, message) in _bad_archives(archive, tmp_path).items():
        with pytest.raises(RecipeError, match=message) as exc:
            target.import_(path)
        assert "\n" not in str(exc.value), case
        assert _snapshot(target.root) == before, case
        assert sorted(p.name for p in target.root.iterdir()) == ["Existing"], case
    with pytest.raises(RecipeError, match="file not found"):
        target.import_(tmp_path / "missing.zip")


def test_recipe_after_training_creates_then_updates(store, model_dir, tmp_path) -> None:  # noqa: ANN001
    r1 = recipe_after_training(store, "Tile A", model_dir)
    assert r1.version == 1 and r1.created["source"] == "aoi train"
    tuned = store.save(
        r1.apply_thresholds(0.7, 0.6).with_(postprocess=r1.postprocess.with_(min_defect_area=30))
    )
    tuned = store.save(tuned.apply_thresholds(0.7, 0.6))
    r3 = recipe_after_training(store, "Tile A", model_dir)
    assert r3.version == 4 and r3.postprocess.image_threshold == 0.5 and r3.postprocess.min_defect_area == 30
    assert r3.history[-1].image_threshold == 0.7 and "retrained" in r3.history[-1].note
    assert r3.model_dir == "models/m0002" and r3.created == r1.created
