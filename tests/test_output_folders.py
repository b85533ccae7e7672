"""A model's output folder is never destroyed: `save_bundle` and `aoi train --out` write only to a new
or empty folder or over an earlier model folder of ours, replace it atomically, and clean up after a
killed save."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from pathlib import Path

import pytest
from _tiny_data import train_tiny, write_mvtec

from inspection_core.cli import main
from inspection_core.errors import ModelFileError
from inspection_core.models import load_bundle, save_bundle
from inspection_core.models.bundle import META, WEIGHTS, check_output_folder


@pytest.fixture(scope="module")
def bundle():  # noqa: ANN201 - ModelBundle
    return train_tiny()


def _files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_saves_to_a_new_or_empty_folder(bundle, tmp_path: Path) -> None:  # noqa: ANN001
    new = save_bundle(bundle, tmp_path / "a" / "new")
    assert load_bundle(new).name == "patchcore"
    (tmp_path / "empty").mkdir()
    empty = save_bundle(bundle, tmp_path / "empty")
    assert sorted(p.name for p in empty.iterdir()) == [META, WEIGHTS]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "empty"]  # no temp folder left


def test_refuses_a_folder_with_other_files_and_keeps_them(bundle, tmp_path: Path) -> None:  # noqa: ANN001
    data = tmp_path / "images"
    data.mkdir()
    (data / "part.png").write_bytes(b"precious")
    (data / "sub").mkdir()
    (data / "sub" / "notes.txt").write_text("keep me")
    before = _files(data)
    with pytest.raises(ModelFileError, match="not a model folder"):
        save_bundle(bundle, data)
    assert _files(data) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelFileError, match="not a folder"):
        save_bundle(bundle, tmp_path / "file")


def test_replaces_an_earlier_model_folder_atomically(bundle, tmp_path: Path) -> None:  # noqa: ANN001
    d = save_bundle(bundle, tmp_path / "m")
    first = (d / META).read_text()
    other = type(bundle)(bundle.model, bundle.normalization, {**bundle.info, "note": "second"})
    save_bundle(other, d)
    assert load_bundle(d).info["note"] == "second" and (d / META).read_text() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # the old copy is gone too
    (d / META).write_text("{ broken")  # only our own two files: nothing else to lose, so replaced
    save_bundle(bundle, d)
    assert load_bundle(d).name == "patchcore"
    (d / META).write_text("{ broken")
    (d / "notes.txt").write_text("mine")  # but with a file of someone else's: refused
    with pytest.raises(ModelFileError, match="not a model folder"):
        save_bundle(bundle, d)
    assert (d / "notes.txt").read_text() == "mine"


def test_a_failed_save_keeps_the_previous_model(bundle, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    d = save_bundle(bundle, tmp_path / "m")
    before = _files(d)

    def disk_full(*a: object, **k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("inspection_core.models.bundle.save_file", disk_full)
    with pytest.raises(ModelFileError, match="No space left"):
        save_bundle(bundle, d)
    assert _files(d) == before and load_bundle(d).name == "patchcore"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_leftovers_of_a_killed_save_are_cleaned_at_the_next_save(bundle, tmp_path: Path) -> None:  # noqa: ANN001
    good = save_bundle(bundle, tmp_path / "good")
    # a kill while writing: a temp folder; a kill between the two renames of a replace: only the old copy
    (tmp_path / ".m.tmp-abcd1234").mkdir()
    (tmp_path / ".m.tmp-abcd1234" / WEIGHTS).write_bytes(b"half")
    shutil.copytree(good, tmp_path / ".lost.old")
    shutil.copytree(good, tmp_path / ".good.old")  # good is in place: this copy is stale
    # not ours, or in use: left alone
    (tmp_path / ".config").mkdir()
    (tmp_path / ".notes.old").mkdir()  # not a model folder
    busy = tmp_path / ".x.tmp-busy5678"
    busy.mkdir()
    fd = os.open(busy, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another save is writing it
    try:
        save_bundle(bundle, tmp_path / "m")
    finally:
        os.close(fd)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".config", ".notes.old", ".x.tmp-busy5678", "good", "lost", "m"]
    assert load_bundle(tmp_path / "lost").name == "patchcore"  # put back, not deleted


def test_check_output_folder_refuses_the_current_folder(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelFileError, match="current folder"):
        check_output_folder(".")
    with pytest.raises(ModelFileError, match="current folder"):
        check_output_folder("..")
    assert check_output_folder("new") == tmp_path / "new"


def test_train_refuses_a_bad_out_before_training(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    data = write_mvtec(tmp_path / "data", n_train=3, n_good=1, n_bad=1)
    before = _files(data)
    tiny = ["--image-size", "64", "--coreset-size", "50", "--device", "cpu"]
    assert main(["train", "--data", str(data), "--out", str(data), *tiny]) == 2
    err = capsys.readouterr().err
    assert "is not a model folder" in err and "training" not in err and len(err.strip().splitlines()) == 1
    assert _files(data) == before
    monkeypatch.chdir(data)
    assert main(["train", "--data", ".", "--out", ".", *tiny]) == 2
    assert "current folder" in capsys.readouterr().err
    assert _files(data) == before
    # an earlier model folder is fine: trained and replaced
    out = tmp_path / "model"
    save_bundle(train_tiny(), out)
    old = (out / META).read_text()
    assert main(["train", "--data", str(data), "--out", str(out), *tiny]) == 0
    assert (out / META).read_text() != old and load_bundle(out).model.config.coreset_size == 50
    assert sorted(os.listdir(tmp_path)) == ["data", "model"]
