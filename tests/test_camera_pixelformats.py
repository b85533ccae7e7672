"""Pixel-format conversion on synthetic driver buffers, for every supported format."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inspection_core.camera import pixelformats as pf
from inspection_core.errors import CameraError

pytestmark = pytest.mark.camera

H, W = 6, 8


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.mark.parametrize("name", ["Mono8", "mono8"])
def test_mono8_copies_out_of_the_buffer(name: str, rng: np.random.Generator) -> None:
    img = rng.integers(0, 256, (H, W), dtype=np.uint8)
    buf = bytearray(img.tobytes())
    out = pf.convert(buf, W, H, name)
    np.testing.assert_array_equal(out, img)
    buf[:] = bytes(len(buf))  # the driver re-uses its buffer
    np.testing.assert_array_equal(out, img)
    assert out.flags.owndata or out.base is None or out.base.flags.owndata


@pytest.mark.parametrize("name,bits", [("Mono10", 10), ("Mono12", 12), ("Mono16", 16)])
def test_mono_high_bit_depth_left_aligned(name: str, bits: int, rng: np.random.Generator) -> None:
    img = rng.integers(0, 2**bits, (H, W), dtype=np.uint16)
    out = pf.convert(img.astype("<u2").tobytes(), W, H, name)
    assert out.dtype == np.uint16 and out.shape == (H, W)
    np.testing.assert_array_equal(out >> (16 - bits), img)


def test_line_padding_is_skipped(rng: np.random.Generator) -> None:
    img = rng.integers(0, 256, (H, W), dtype=np.uint8)
    padded = np.concatenate([img, np.full((H, 3), 77, np.uint8)], axis=1)
    out = pf.convert(padded.tobytes()[:-3], W, H, "Mono8", padding_x=3)  # last line has no padding
    np.testing.assert_array_equal(out, img)


def test_colour_formats(rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    np.testing.assert_array_equal(pf.convert(rgb.tobytes(), W, H, "RGB8"), rgb)
    np.testing.assert_array_equal(pf.convert(rgb[..., ::-1].copy().tobytes(), W, H, "BGR8"), rgb)
    rgba = np.dstack([rgb, rng.integers(0, 256, (H, W), dtype=np.uint8)])
    out = pf.convert(rgba.tobytes(), W, H, pf.BY_NAME["rgba8"].code)  # by PFNC code, as GenTL reports
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize(
    "name,cv_code",
    [
        ("BayerRG8", cv2.COLOR_BayerRGGB2RGB),
        ("BayerGR8", cv2.COLOR_BayerGRBG2RGB),
        ("BayerGB8", cv2.COLOR_BayerGBRG2RGB),
        ("BayerBG8", cv2.COLOR_BayerBGGR2RGB),
    ],
)
def test_bayer_matches_opencv(name: str, cv_code: int, rng: np.random.Generator) -> None:
    raw = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    np.testing.assert_array_equal(pf.convert(raw.tobytes(), 16, 16, name), cv2.cvtColor(raw, cv_code))


@pytest.mark.parametrize(
    "name,pattern", [("BayerRG8", "RGGB"), ("BayerGR8", "GRBG"), ("BayerGB8", "GBRG"), ("BayerBG8", "BGGR")]
)
def test_bayer_pattern_semantics(name: str, pattern: str) -> None:
    """A pure red scene mosaicked with the PFNC pattern (named from the top-left pixel) demosaics to red."""
    scene = {"R": 200, "G": 0, "B": 0}
    raw = np.zeros((16, 16), np.uint8)
    for i, ch in enumerate(pattern):
        raw[i // 2 :: 2, i % 2 :: 2] = scene[ch]
    out = pf.convert(raw.tobytes(), 16, 16, name)[4:-4, 4:-4]
    assert out[..., 0].min() > 150 and out[..., 1].max() < 50 and out[..., 2].max() < 50


def test_unsupported_format_is_named() -> None:
    with pytest.raises(pf.UnsupportedPixelFormat, match="YUV422_8"):
        pf.convert(b"\0" * 100, 5, 5, "YUV422_8")
    with pytest.raises(pf.UnsupportedPixelFormat, match="0x"):
        pf.lookup(0x02100032)  # a PFNC code we do not convert


def test_short_buffer_is_a_clear_error() -> None:
    with pytest.raises(CameraError, match="too small"):
        pf.convert(b"\0" * 10, W, H, "Mono8")


def test_output_shape_matches_convert() -> None:
    for name in pf.SUPPORTED:
        fmt = pf.lookup(name)
        shape, dtype = pf.output_shape(W, H, name)
        out = pf.convert(b"\0" * (W * H * fmt.bytes_per_pixel), W, H, name)
        assert out.shape == shape and out.dtype == dtype, name
