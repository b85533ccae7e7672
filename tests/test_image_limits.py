"""Every image read has a pixel limit checked from the header before decoding, and the batch commands
skip a bad image with one line and go on."""

from __future__ import annotations

import json
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from _tiny_data import texture, train_tiny, write_mvtec

from inspection_core.cli import main
from inspection_core.data import imread, imwrite
from inspection_core.data.imageio import DEFAULT_MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_ENV, max_image_pixels
from inspection_core.errors import DataError
from inspection_core.models import save_bundle


def forged_png(path: Path, width: int, height: int) -> Path:
    """A few hundred bytes that declare width×height 8-bit grey pixels (a decompression bomb's header,
    without its payload: decoding it would allocate width×height bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1) * 4)  # four rows of the declared many
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_a_huge_declared_image_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = forged_png(tmp_path / "bomb.png", 30000, 30000)
    assert bomb.stat().st_size < 1000
    t0 = time.perf_counter()
    with pytest.raises(DataError, match=r"too large: .*bomb.png declares over 179 MP, over the 100 MP limit"):
        imread(bomb)
    assert time.perf_counter() - t0 < 1.0  # nothing decoded (900 MB would take seconds)
    with warnings.catch_warnings(), pytest.raises(DataError, match="declares 12000x12000 = 144.0 MP"):
        warnings.simplefilter("ignore")  # Pillow's bomb warning: it tells the size, which is over ours
        imread(forged_png(tmp_path / "b2.png", 12000, 12000))


def test_the_limit_comes_from_the_argument_or_the_environment(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    img = imwrite(tmp_path / "a.png", np.zeros((40, 50), np.uint8))
    assert max_image_pixels() == DEFAULT_MAX_IMAGE_PIXELS
    assert imread(img).shape == (40, 50)
    assert imread(img, max_pixels=2000).shape == (40, 50)  # exactly at the limit
    with pytest.raises(DataError, match="40 = 0.0 MP, over the 0.001999 MP limit"):
        imread(img, max_pixels=1999)
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "1000")
    with pytest.raises(DataError, match=MAX_IMAGE_PIXELS_ENV):
        imread(img)
    assert imread(img, max_pixels=5000).shape == (40, 50)  # the argument wins
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "lots")
    with pytest.raises(DataError, match="give a positive number of pixels"):
        imread(img)


def test_a_large_image_of_few_bytes_made_by_pillow_is_refused(tmp_path: Path) -> None:
    from PIL import Image

    big = tmp_path / "big.png"
    Image.new("1", (4000, 3000)).save(big)  # 12 MP of one colour: a few kB
    with pytest.raises(DataError, match="4000x3000 = 12.0 MP"):
        imread(big, max_pixels=10_000_000)
    assert imread(big, max_pixels=12_000_000).shape == (3000, 4000)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_bundle(train_tiny(), tmp_path_factory.mktemp("limits") / "model")


def test_predict_skips_bad_images_and_goes_on(model_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    rng = np.random.default_rng(3)
    good = [imwrite(tmp_path / f"good{i}.png", texture(rng)) for i in range(2)]
    small = imwrite(tmp_path / "small.png", np.zeros((4, 4), np.uint8))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a png")
    bomb = forged_png(tmp_path / "bomb.png", 30000, 30000)
    paths = [good[0], small, corrupt, bomb, good[1]]
    out = tmp_path / "out"
    code = main(
        ["predict", "--model-dir", str(model_dir), *map(str, paths), "--out", str(out), "--device", "cpu"]
    )
    cap = capsys.readouterr()
    assert code == 2
    skipped = [line for line in cap.err.splitlines() if line.startswith("aoi: skipped")]
    assert (
        len(skipped) == 3
        and "too small" in skipped[0]
        and "cannot read" in skipped[1]
        and "too large" in skipped[2]
    )
    assert cap.out.strip().splitlines()[-1] == "2 of 5 images inspected, 3 skipped (see the messages above)"
    for p in good:  # the images after the bad ones were inspected too
        assert json.loads((out / f"{p.stem}.json").read_text())["verdict"] in ("OK", "NG")
    assert not (out / "bomb.json").exists()


def test_eval_skips_a_corrupt_test_image_and_counts_it(model_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    data = write_mvtec(tmp_path / "data", n_train=2, n_good=3, n_bad=3)
    (data / "test" / "good" / "003.png").write_bytes(b"\x89PNG truncated")
    js = tmp_path / "eval.json"
    args = ["eval", "--model-dir", str(model_dir), "--data", str(data), "--device", "cpu", "--json", str(js)]
    assert main(args) == 2
    cap = capsys.readouterr()
    assert "aoi: skipped" in cap.err and "003.png" in cap.err
    assert "skipped      1 unreadable" in cap.out
    rep = json.loads(js.read_text())
    assert rep["n_images"] == 6 and rep["skipped"] == [str(data / "test" / "good" / "003.png")]
