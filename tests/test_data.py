"""Images, MVTec-layout datasets, tiling/stitching and defect synthesis."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from inspection_core.data import (
    DefectSynthesizer,
    MVTecDataset,
    TileGrid,
    imread,
    imwrite,
    perlin_mask,
    to_rgb_float,
)
from inspection_core.data.synthesis import FILLS, parse_fills
from inspection_core.data.tiling import DeviceStitcher
from inspection_core.errors import AoiError, DataError


def test_imread_any_extension_gray_and_colour(tmp_path: Path) -> None:
    gray = (np.arange(40 * 30) % 251).astype(np.uint8).reshape(40, 30)
    rgb = np.stack([gray, gray[::-1], 255 - gray], axis=2)
    for ext in (".png", ".bmp", ".tif"):
        imwrite(tmp_path / f"g{ext}", gray)
        imwrite(tmp_path / f"c{ext}", rgb)
        assert np.array_equal(imread(tmp_path / f"g{ext}"), gray)
        assert np.array_equal(imread(tmp_path / f"c{ext}"), rgb)  # RGB order survives the round trip
    g16 = (np.arange(20 * 20, dtype=np.uint16) * 150).reshape(20, 20)
    imwrite(tmp_path / "d.png", g16)
    back = imread(tmp_path / "d.png")
    assert back.dtype == np.uint16 and np.array_equal(back, g16)


def test_imread_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        imread(tmp_path / "missing.png")
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match="corrupt"):
        imread(bad)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="corrupt"):
        imread(empty)


def test_to_rgb_float_converts_every_layout() -> None:
    for img in (
        np.full((10, 12), 255, np.uint8),
        np.full((10, 12, 3), 255, np.uint8),
        np.full((10, 12, 4), 255, np.uint8),
        np.full((10, 12), 65535, np.uint16),
    ):
        out = to_rgb_float(img, (8, 8))
        assert out.shape == (8, 8, 3) and out.dtype == np.float32
        assert np.allclose(out, 1.0)


def test_mvtec_layout(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    img = np.zeros((16, 16), np.uint8)
    for name in ("a.png", "b.jpg"):
        imwrite(root / "train" / "good" / name, img)
    imwrite(root / "test" / "good" / "g.bmp", img)
    imwrite(root / "test" / "crack" / "c1.png", img)
    imwrite(root / "test" / "crack" / "c2.png", img)
    imwrite(root / "ground_truth" / "crack" / "c1_mask.png", np.full((16, 16), 255, np.uint8))
    (root / "train" / "good" / "notes.txt").write_text("not an image")
    ds = MVTecDataset(root)
    assert [p.path.name for p in ds.train] == ["a.png", "b.jpg"]
    by_name = {s.path.name: s for s in ds.test}
    assert by_name["g.bmp"].label == 0 and by_name["c1.png"].label == 1
    assert by_name["c1.png"].mask_path is not None and by_name["c2.png"].mask_path is None
    assert by_name["c1.png"].load_mask((8, 8)).all()
    assert not by_name["c2.png"].load_mask((8, 8)).any()
    assert ds.has_masks


def test_plain_folder_is_all_good_and_empty_folder_is_an_error(tmp_path: Path) -> None:
    imwrite(tmp_path / "imgs" / "x.png", np.zeros((8, 8), np.uint8))
    assert len(MVTecDataset(tmp_path / "imgs").require_train()) == 1
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no training images"):
        MVTecDataset(tmp_path / "empty").require_train()
    with pytest.raises(DataError, match="not found"):
        MVTecDataset(tmp_path / "nope")


@pytest.mark.parametrize("shape", [(100, 100), (257, 391), (64, 64), (50, 300)])
def test_stitching_a_constant_map_is_constant(shape: tuple[int, int]) -> None:
    grid = TileGrid(shape, (64, 64), overlap=0.25)
    tiles = np.full((len(grid), 64, 64), 0.7, np.float32)
    out = grid.stitch(tiles)
    assert out.shape == shape
    assert np.allclose(out, 0.7, atol=1e-5)


def test_split_then_stitch_reproduces_a_smooth_map() -> None:
    yy, xx = np.mgrid[0:300, 0:420].astype(np.float32)
    frame = np.sin(xx / 40) + np.cos(yy / 30)
    grid = TileGrid(frame.shape, (128, 128), overlap=0.3)
    tiles = grid.split(frame)
    assert tiles.shape == (len(grid), 128, 128)
    assert np.allclose(grid.stitch(tiles), frame, atol=1e-5)
    # every pixel is covered
    covered = np.zeros(frame.shape, bool)
    for y, x in grid.positions:
        covered[y : y + 128, x : x + 128] = True
    assert covered.all()


@pytest.mark.parametrize(
    ("shape", "tile", "overlap"),
    [((150, 200), (64, 64), 0.25), ((100, 90), (128, 128), 0.1), ((300, 700), (128, 96), 0.5)],
)
def test_device_stitcher_matches_stitch_tiles(shape, tile, overlap) -> None:  # noqa: ANN001
    grid = TileGrid(shape, tile, overlap)
    maps = np.random.default_rng(1).random((len(grid), *tile), dtype=np.float32)
    out = DeviceStitcher(grid)(torch.from_numpy(maps))
    assert tuple(out.shape) == shape
    np.testing.assert_array_equal(out.numpy(), grid.stitch(maps))
    with pytest.raises(ValueError, match="expected"):
        DeviceStitcher(grid)(torch.from_numpy(maps[1:]))


def test_perlin_mask_is_nonempty_and_respects_foreground() -> None:
    rng = np.random.default_rng(1)
    fg = np.zeros((64, 64), bool)
    fg[16:48, 16:48] = True
    for _ in range(20):
        m = perlin_mask((64, 64), rng, foreground=fg)
        assert m.sum() > 0
        assert not m[~fg].any()


@pytest.mark.parametrize("fill", ["noise", "shift", "foreign", "procedural", "shade", "band"])
def test_synthesized_defects_change_only_masked_pixels(fill: str) -> None:
    rng = np.random.default_rng(0)
    img = rng.uniform(0.3, 0.6, (48, 48, 3)).astype(np.float32)
    pool = [rng.uniform(0, 1, (32, 32, 3)).astype(np.float32)]
    syn = DefectSynthesizer(pool=pool, seed=3)
    out, mask = syn(img, fill=fill)
    assert out.shape == img.shape and mask.shape == img.shape[:2]
    assert mask.sum() > 0
    assert np.allclose(out[mask == 0], img[mask == 0])
    assert not np.allclose(out[mask == 1], img[mask == 1])
    assert out.min() >= 0 and out.max() <= 1


def test_shade_is_a_large_soft_gain_change_of_the_image_itself() -> None:
    rng = np.random.default_rng(1)
    img = rng.uniform(0.3, 0.6, (96, 96, 3)).astype(np.float32)
    syn = DefectSynthesizer(fills=("shade",), beta_range=(0.0, 0.0), seed=5)
    for _ in range(10):
        out, mask = syn(img)
        assert mask.mean() >= 0.05  # large regions, unlike the other fills' blobs
        assert np.allclose(out[mask == 0], img[mask == 0])
        inside = mask == 1
        ratio = out[inside].mean() / img[inside].mean()
        assert ratio < 0.9 or ratio > 1.1  # darker or brighter
        # soft edge: the change grows from the border of the region towards its inside
        core = cv2.erode(mask, np.ones((7, 7), np.uint8)).astype(bool)
        rim = inside & ~core
        if core.any() and rim.any():
            assert np.abs(out - img)[rim].mean() < np.abs(out - img)[core].mean()


def test_band_is_a_large_straight_edged_region_from_one_side_with_another_finish() -> None:
    rng = np.random.default_rng(2)
    img = np.clip(0.45 + 0.1 * rng.standard_normal((96, 96, 3)), 0, 1).astype(np.float32)
    pool = [np.clip(0.3 + 0.2 * rng.standard_normal((96, 96, 3)), 0, 1).astype(np.float32)]
    syn = DefectSynthesizer(pool=pool, fills=("band",), beta_range=(0.0, 0.0), seed=4)
    touching = 0
    for _ in range(30):
        out, mask = syn(img)
        assert 0.02 <= mask.mean() <= 0.7  # large, never the whole image
        assert np.allclose(out[mask == 0], img[mask == 0])
        inside = mask == 1
        assert np.abs(out - img)[inside].mean() > 0.02  # another finish, not a copy
        touching += bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
        # one straight-ish edge: every row (or every column) crossing the region holds one run
        rows = [r for r in mask if r.any()]
        cols = [c for c in mask.T if c.any()]
        runs = lambda lines: max(int(np.abs(np.diff(np.r_[0, line, 0])).sum() // 2) for line in lines)  # noqa: E731
        assert min(runs(rows), runs(cols)) == 1
    assert touching >= 20  # most bands start at a side of the image


def test_band_mask_keeps_inside_the_foreground() -> None:
    img = np.full((64, 64, 3), 0.5, np.float32)
    fg = np.zeros((64, 64), bool)
    fg[8:56, 8:56] = True
    syn = DefectSynthesizer(fills=("band",), seed=9)
    for _ in range(20):
        _, mask = syn(img, foreground=fg)
        assert mask.sum() > 0 and not mask[~fg].any()


def test_default_synthesiser_does_not_draw_shade_and_parse_fills_checks_names() -> None:
    assert "shade" in FILLS and "shade" not in DefectSynthesizer().fills
    assert "band" in FILLS and "band" not in DefectSynthesizer().fills
    assert parse_fills(" noise, shade ", "sidn") == ("noise", "shade")
    with pytest.raises(AoiError, match="ndpnet: bad --fills 'noise,lava'"):
        parse_fills("noise,lava", "ndpnet")
    with pytest.raises(AoiError, match="bad --fills"):
        parse_fills(" , ", "sidn")


def test_unknown_fill_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fill"):
        DefectSynthesizer(fills=("lava",))
