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
    with zipfile.ZipFile(archive) as zf:
        meta = zf.read(f"model/{META}")

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
        if n == "recipe.json":  # a consistent archive of an unknown model
            return _fix_sums(b, META, unknown_model(f"model/{META}", meta))
        return b

    def newer_model_format(n: str, b: bytes) -> bytes:
        if n == f"model/{META}":
            d = json.loads(b)
            d["format_version"] = 99
            return json.dumps(d).encode()
        if n == "recipe.json":
            return _fix_sums(b, META, newer_model_format(f"model/{META}", meta))
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


# --- archives: manifest, sizes, entries -----------------------------------------------------------


def _good_archive(store: RecipeStore, model_dir: Path, tmp_path: Path) -> Path:
    store.save(_recipe(model_dir))
    return store.export("Tile A", tmp_path / "good.aoirecipe")


def _edit_recipe_json(edit):  # noqa: ANN001, ANN202
    def f(n: str, b: bytes) -> bytes:
        if n != "recipe.json":
            return b
        d = json.loads(b)
        edit(d)
        return json.dumps(d).encode()

    return f


def _assert_refused(target: RecipeStore, archive: Path, message: str) -> None:
    before = _snapshot(target.root) if target.root.exists() else {}
    with pytest.raises(RecipeError, match=message) as exc:
        target.import_(archive)
    assert "\n" not in str(exc.value)
    after = _snapshot(target.root) if target.root.exists() else {}
    assert after == before and target.names() == []


def test_archive_without_manifest_or_with_unlisted_files_is_refused(store, model_dir, tmp_path) -> None:  # noqa: ANN001
    archive = _good_archive(store, model_dir, tmp_path)
    target = RecipeStore(tmp_path / "target")
    no_manifest = _rewrite(
        archive, tmp_path / "nomanifest.zip", _edit_recipe_json(lambda d: d.pop("archive"))
    )
    _assert_refused(target, no_manifest, "no checksum manifest")
    empty = _rewrite(
        archive, tmp_path / "empty.zip", _edit_recipe_json(lambda d: d["archive"]["sha256"].clear())
    )
    _assert_refused(target, empty, "manifest is empty")

    def pad(into: str) -> Path:
        out = tmp_path / f"pad_{into.replace('/', '_')}.zip"
        with zipfile.ZipFile(archive) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                zout.writestr(info.filename, zin.read(info.filename))
            zout.writestr(into, bytes(1 << 20))  # padding: compresses to almost nothing
        return out

    _assert_refused(target, pad("model/padding.bin"), "'model/padding.bin' is not in its checksum manifest")
    _assert_refused(target, pad("padding.bin"), "'padding.bin' is not in its checksum manifest")
    unsafe = _rewrite(
        archive,
        tmp_path / "unsafe_manifest.zip",
        _edit_recipe_json(lambda d: d["archive"]["sha256"].update({"../x": "0" * 64})),
    )
    _assert_refused(target, unsafe, "unsafe path")
    assert target.import_(archive).version == 1  # the good archive still imports


def test_archive_link_entries_and_duplicates_are_refused(store, model_dir, tmp_path) -> None:  # noqa: ANN001
    import stat

    archive = _good_archive(store, model_dir, tmp_path)
    target = RecipeStore(tmp_path / "target")
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(archive) as zin, zipfile.ZipFile(link, "w") as zout:
        for info in zin.infolist():
            if info.filename == f"model/{META}":
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zout.writestr(info, "/etc/passwd")
            else:
                zout.writestr(info.filename, zin.read(info.filename))
    _assert_refused(target, link, "link or special file")
    dup = tmp_path / "dup.zip"
    with zipfile.ZipFile(archive) as zin, zipfile.ZipFile(dup, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
        with pytest.warns(UserWarning, match="Duplicate name"):
            zout.writestr(f"model/{META}", b"{}")
    _assert_refused(target, dup, "twice")


def test_oversized_recipe_json_is_refused_before_parsing(store, model_dir, tmp_path) -> None:  # noqa: ANN001
    archive = _good_archive(store, model_dir, tmp_path)
    target = RecipeStore(tmp_path / "target")
    big = _rewrite(
        archive, tmp_path / "big.zip", _edit_recipe_json(lambda d: d.update(notes="x" * (2 << 20)))
    )
    _assert_refused(target, big, "recipe.json declares 2 MB")
    # a version file in the store that grew past the limit is not read into memory either
    store.path("Tile A", 1).write_text(json.dumps({"notes": "x" * (2 << 20)}))
    with pytest.raises(RecipeError, match="larger than 1024 kB"):
        store.load("Tile A")


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused_at_import_and_load(store, model_dir, tmp_path, bad) -> None:  # noqa: ANN001
    archive = _good_archive(store, model_dir, tmp_path)
    target = RecipeStore(tmp_path / "target")

    def with_bad(n: str, b: bytes) -> bytes:
        if n != "recipe.json":
            return b
        return b.replace(b'"image_threshold": 0.5', f'"image_threshold": {bad}'.encode(), 1)

    nan_archive = _rewrite(archive, tmp_path / "nan.zip", with_bad)
    assert f'"image_threshold": {bad}'.encode() in zipfile.ZipFile(nan_archive).read("recipe.json")
    _assert_refused(target, nan_archive, "non-finite")
    p = store.path("Tile A", 1)
    p.write_text(p.read_text().replace('"image_threshold": 0.5', f'"image_threshold": {bad}', 1))
    with pytest.raises(RecipeError, match="non-finite") as exc:
        store.load("Tile A")
    assert "\n" not in str(exc.value)
    assert store.list()[0].model == "?"  # listed with its problem, not a traceback


def test_non_finite_thresholds_are_refused_when_created(model_dir) -> None:  # noqa: ANN001
    r = _recipe(model_dir)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(
            RecipeError, match=r"recipe 'Tile A': postprocess\.image_threshold must be a finite"
        ):
            r.apply_thresholds(image_threshold=bad)
        with pytest.raises(RecipeError, match=r"camera\.exposure_us"):
            r.with_(camera=CameraSettings(exposure_us=bad))
        with pytest.raises(RecipeError, match=r"camera\.extra\.Gamma is not a finite number"):
            r.with_(camera=CameraSettings(extra={"Gamma": bad}))
    entry = r.apply_thresholds(0.6).history[0]
    with pytest.raises(RecipeError, match=r"history\.0\.pixel_threshold"):
        r.with_(history=(entry.__class__(0.5, float("nan"), 0, "t"),))


def test_names_with_a_trailing_newline_are_refused(store, model_dir) -> None:  # noqa: ANN001
    for bad in ("Tile A\n", "Tile\nA", "Tile A\r", "Tile\x00A"):
        with pytest.raises(RecipeError, match="bad recipe name"):
            Recipe(name=bad, model_dir=str(model_dir))
    with pytest.raises(RecipeError, match="bad recipe name"):
        store.product_dir("Tile A\n")


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("preprocessing", "overlap", 1.0),
        ("preprocessing", "scale", 0.0),
        ("preprocessing", "max_batch", 0),
        ("preprocessing", "tile", "yes"),
        ("postprocess", "smoothing_sigma", 1e9),
        ("postprocess", "smoothing_sigma", -1.0),
        ("postprocess", "morphology_radius", 1.5),
        ("postprocess", "min_defect_area", -3),
        ("postprocess", "pixel_size_mm", 0.0),
        ("postprocess", "pixel_size_mm", -0.05),
        ("postprocess", "image_threshold", "high"),
        ("camera", "width", 0),
        ("camera", "exposure_us", -5.0),
    ],
)
def test_out_of_range_settings_are_refused_at_load_and_import(
    store, model_dir, tmp_path, section, field, value
) -> None:  # noqa: ANN001
    archive = _good_archive(store, model_dir, tmp_path)
    target = RecipeStore(tmp_path / "target")

    def edit(d: dict) -> None:
        d[section][field] = value

    _assert_refused(target, _rewrite(archive, tmp_path / "bad.zip", _edit_recipe_json(edit)), field)
    p = store.path("Tile A", 1)
    d = json.loads(p.read_text())
    edit(d)
    p.write_text(json.dumps(d))
    with pytest.raises(RecipeError, match=field) as exc:
        store.load("Tile A")
    assert "\n" not in str(exc.value) and str(p) in str(exc.value)


def test_recipe_level_checks_at_creation(model_dir) -> None:  # noqa: ANN001
    r = _recipe(model_dir)
    for cam, field in (
        (CameraSettings(width=0), "camera.width"),
        (CameraSettings(exposure_us=-1.0), "camera.exposure_us"),
        (CameraSettings(offset_x=2.5), "camera.offset_x"),  # type: ignore[arg-type]
        (CameraSettings(pixel_format=8), "camera.pixel_format"),  # type: ignore[arg-type]
    ):
        with pytest.raises(RecipeError, match=field.replace(".", r"\.")):
            r.with_(camera=cam)
    with pytest.raises(RecipeError, match="has no model folder"):
        r.with_(model_dir="")
    assert r.with_(camera=CameraSettings(gain_db=-3.0)).camera.gain_db == -3.0


# --- store: concurrent first saves, leftovers, modes, import graph --------------------------------


def test_failed_first_save_keeps_another_process_save(tmp_path, model_dir) -> None:  # noqa: ANN001
    root = tmp_path / "recipes"
    a, b = RecipeStore(root), RecipeStore(root)
    real_write = a._write_next_version
    other: list[Recipe] = []

    def b_saves_then_a_fails(pdir: Path, recipe: Recipe) -> int:
        other.append(b.save(_recipe(model_dir)))  # the other station's save lands in between
        raise OSError(28, "No space left on device")

    a._write_next_version = b_saves_then_a_fails  # type: ignore[method-assign]
    with pytest.raises(RecipeError, match="No space left"):
        a.save(_recipe(model_dir))
    a._write_next_version = real_write  # type: ignore[method-assign]
    assert other[0].version == 1
    assert b.versions("Tile A") == [1] and a.load("Tile A") == other[0]
    assert sorted(p.name for p in (root / "Tile A" / "models").iterdir()) == [other[0].model_dir[7:]]
    assert a.load("Tile A").build_inspector("cpu") is not None
    # a failure that is alone still leaves nothing behind
    lone = _recipe(model_dir, "Tile B")
    a._write_next_version = lambda *_: (_ for _ in ()).throw(OSError(5, "I/O error"))  # type: ignore[method-assign]
    with pytest.raises(RecipeError, match="I/O error"):
        a.save(lone)
    assert not (root / "Tile B").exists()


_KILL_SCRIPT = """
import os, shutil, signal, sys
from inspection_core.recipes import RecipeStore
store = RecipeStore(sys.argv[1])
r = store.load("Tile A").apply_thresholds(0.9, note="never lands")
if sys.argv[2] == "link":
    os.link = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    store.save(r)
else:  # killed while copying a new model in
    real = shutil.copytree
    def copy_then_die(*a, **k):
        real(*a, **k)
        os.kill(os.getpid(), signal.SIGKILL)
    shutil.copytree = copy_then_die
    store.save(r.with_(model_dir=sys.argv[3], base_dir=None))
"""


def test_leftovers_of_killed_saves_are_cleaned_at_next_open(store, model_dir, tmp_path) -> None:  # noqa: ANN001
    r1 = store.save(_recipe(model_dir))
    pdir = store.root / "Tile A"

    def kill_child_during(how: str) -> None:
        proc = subprocess.run(
            [sys.executable, "-c", _KILL_SCRIPT, str(store.root), how, str(model_dir)],
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == -9, proc.stderr.decode()

    kill_child_during("link")
    tmp_json = [p for p in pdir.iterdir() if p.name.startswith(".tmp-")]
    assert len(tmp_json) == 1
    kill_child_during("copy")  # this child's store open already removed the first child's temp file
    assert not tmp_json[0].exists()
    tmp_model = [p for p in (pdir / "models").iterdir() if p.name.startswith(".tmp-model-")]
    assert len(tmp_model) == 1 and list(tmp_model[0].iterdir())
    # things that are not ours, or not provably abandoned, must stay
    keep = [
        pdir / "notes.txt",
        pdir / ".tmp-otherhost.12345.abcd.json",  # another station's save in progress on a share
        pdir / f".tmp-{tmp_json[0].name.split('-')[1].split('.')[0]}.{os.getpid()}.live.json",  # alive
    ]
    for p in keep:
        p.write_text("x")
    orphan = pdir / "models" / "m0042"  # a model no version uses, but fresh: a save may be linking it
    orphan.mkdir()
    (orphan / "x").write_text("x")
    import_dir = store.root / ".import-otherhost.1.zz"
    import_dir.mkdir()

    reopened = RecipeStore(store.root)
    assert not tmp_model[0].exists()
    assert all(p.exists() for p in keep) and orphan.exists() and import_dir.exists()
    assert reopened.load("Tile A") == r1 and reopened.versions("Tile A") == [1]
    assert reopened.names() == ["Tile A"]
    # once old enough, orphan models and foreign temp entries go too; used models never do
    removed = reopened.clean_leftovers(stale_after_s=-1)
    assert set(removed) == {orphan, keep[1], keep[2], import_dir}
    assert keep[0].exists() and (pdir / r1.model_dir).is_dir()
    assert reopened.load("Tile A").build_inspector("cpu") is not None


def test_saved_files_are_group_readable(store, model_dir, tmp_path) -> None:  # noqa: ANN001
    import shutil
    import stat

    user_dir = tmp_path / "user_model"
    shutil.copytree(model_dir, user_dir)
    for p in user_dir.iterdir():
        p.chmod(0o600)  # a model written through mkstemp is private
    old = os.umask(0o027)
    try:
        r = store.save(_recipe(user_dir))
        archive = store.export("Tile A", tmp_path / "a.aoirecipe")
        imported = RecipeStore(tmp_path / "other").import_(archive)
    finally:
        os.umask(old)

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    pdir = store.root / "Tile A"
    assert mode(store.path("Tile A", 1)) == 0o640
    assert mode(pdir / r.model_dir) == 0o750
    assert {mode(p) for p in (pdir / r.model_dir).iterdir()} == {0o640}
    assert mode(archive) == 0o640
    other = tmp_path / "other" / "Tile A"
    assert mode(other / "v0001.json") == 0o640 and mode(other / imported.model_dir) == 0o750
    assert {mode(p) for p in (other / imported.model_dir).rglob("*")} <= {0o640, 0o750}


def test_store_and_archive_import_each_other_one_way_only() -> None:
    import grimp

    graph = grimp.build_graph("inspection_core", cache_dir=None)
    assert (
        graph.find_shortest_chain(
            importer="inspection_core.recipes.archive", imported="inspection_core.recipes.store"
        )
        is None
    )
    assert graph.direct_import_exists(
        importer="inspection_core.recipes.store", imported="inspection_core.recipes.archive"
    )


def _with_member(archive: Path, out: Path, name: str, data: bytes) -> Path:
    with zipfile.ZipFile(archive) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
        zout.writestr(name, data)
    return out


def test_unsafe_entries_disguised_weights_and_declared_bombs_are_refused(store, model_dir, tmp_path) -> None:  # noqa: ANN001
    import pickle
    import struct

    archive = _good_archive(store, model_dir, tmp_path)
    target = RecipeStore(tmp_path / "target")
    for i, name in enumerate(("/etc/evil", "model\\..\\..\\evil", "model/../../evil", "C:/evil", "model//x")):
        _assert_refused(target, _with_member(archive, tmp_path / f"unsafe{i}.zip", name, b"x"), "unsafe path")
    weights = "model/model.safetensors"
    fake = pickle.dumps({"w": list(range(10))})  # a pickle named like the weights, manifest made to match

    def swap(n: str, b: bytes) -> bytes:
        if n == weights:
            return fake
        return _fix_sums(b, "model.safetensors", fake) if n == "recipe.json" else b

    _assert_refused(target, _rewrite(archive, tmp_path / "pickle.zip", swap), "weights file is corrupt")
    with zipfile.ZipFile(archive) as zf:
        real = zf.read(weights)
    truncated = real[: len(real) // 3]

    def cut(n: str, b: bytes) -> bytes:
        if n == weights:
            return truncated
        return _fix_sums(b, "model.safetensors", truncated) if n == "recipe.json" else b

    _assert_refused(target, _rewrite(archive, tmp_path / "cut.zip", cut), "weights file is corrupt")
    # a central directory that declares 2 x 2.25 GB (4.5 GB) uncompressed is refused before inflating
    bomb = bytearray(_with_member(archive, tmp_path / "bomb.zip", "model/b1", b"").read_bytes())
    for offset in [i for i in range(len(bomb)) if bomb[i : i + 4] == b"PK\x01\x02"][-2:]:
        bomb[offset + 24 : offset + 28] = struct.pack("<I", 2_250_000_000)
    (tmp_path / "bomb.zip").write_bytes(bytes(bomb))
    _assert_refused(target, tmp_path / "bomb.zip", "unpacks to 4291 MB")


def test_concurrent_saves_of_one_recipe_lose_nothing(tmp_path, model_dir) -> None:  # noqa: ANN001
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path / "recipes"

    def station(k: int) -> list[int]:
        s = RecipeStore(root)  # each worker opens the store itself, as another process would
        return [s.save(_recipe(model_dir).apply_thresholds(0.5 + k / 10 + i / 100)).version for i in range(6)]

    with ThreadPoolExecutor(4) as pool:
        got = [v for vs in pool.map(station, range(4)) for v in vs]
    store = RecipeStore(root)
    assert sorted(got) == list(range(1, 25)) and store.versions("Tile A") == list(range(1, 25))
    thresholds = {store.load("Tile A", v).postprocess.image_threshold for v in got}
    assert len(thresholds) == 24  # every save landed as its own version
    assert [p.name for p in (root / "Tile A").iterdir() if p.name.startswith(".")] == []
