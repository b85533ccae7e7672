"""GenICam pixel formats (PFNC) → numpy arrays the caller owns.

Every converter reads the driver's bytes once and writes a fresh array, so the driver buffer can be
re-queued immediately after `convert` returns. Output follows `Frame`: HxW uint8/uint16 for mono,
HxWx3 uint8 RGB for colour. Mono10/12 are left-aligned to 16 bit (value << (16 - bits)) so that
every uint16 image means "fraction of 65535" downstream; the original depth goes to `bit_depth`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspection_core.errors import CameraError


class UnsupportedPixelFormat(CameraError):
    """A pixel format we cannot turn into an image; the message names it."""


@dataclass(frozen=True)
class PixelFormat:
    name: str
    code: int  # PFNC value, as the GenTL buffer reports it
    bytes_per_pixel: int
    channels_in: int
    bit_depth: int
    kind: str  # "mono" | "rgb" | "bgr" | "rgba" | "bayer"
    cv_code: int | None = None  # OpenCV demosaicing code for Bayer


# PFNC codes from the GenICam Pixel Format Naming Convention 2.x
_FORMATS = (
    PixelFormat("Mono8", 0x01080001, 1, 1, 8, "mono"),
    PixelFormat("Mono10", 0x01100003, 2, 1, 10, "mono"),
    PixelFormat("Mono12", 0x01100005, 2, 1, 12, "mono"),
    PixelFormat("Mono16", 0x01100007, 2, 1, 16, "mono"),
    PixelFormat("RGB8", 0x02180014, 3, 3, 8, "rgb"),
    PixelFormat("BGR8", 0x02180015, 3, 3, 8, "bgr"),
    PixelFormat("RGBa8", 0x02200016, 4, 4, 8, "rgba"),
    # OpenCV's *RGGB/GRBG/... aliases name the pattern from the top-left pixel, like PFNC does
    PixelFormat("BayerGR8", 0x01080008, 1, 1, 8, "bayer", cv2.COLOR_BayerGRBG2RGB),
    PixelFormat("BayerRG8", 0x01080009, 1, 1, 8, "bayer", cv2.COLOR_BayerRGGB2RGB),
    PixelFormat("BayerGB8", 0x0108000A, 1, 1, 8, "bayer", cv2.COLOR_BayerGBRG2RGB),
    PixelFormat("BayerBG8", 0x0108000B, 1, 1, 8, "bayer", cv2.COLOR_BayerBGGR2RGB),
)
BY_NAME = {f.name.lower(): f for f in _FORMATS}
BY_CODE = {f.code: f for f in _FORMATS}
SUPPORTED = tuple(f.name for f in _FORMATS)


def lookup(pixel_format: str | int) -> PixelFormat:
    """The format for a PFNC name (case-insensitive) or code; UnsupportedPixelFormat otherwise."""
    if isinstance(pixel_format, str):
        fmt = BY_NAME.get(pixel_format.strip().lower())
        label = pixel_format
    else:
        fmt = BY_CODE.get(int(pixel_format))
        label = _pfnc_name(int(pixel_format))
    if fmt is None:
        raise UnsupportedPixelFormat(
            f"pixel format {label} is not supported (supported: {', '.join(SUPPORTED)}); "
            "choose another PixelFormat on the camera"
        )
    return fmt


def _pfnc_name(code: int) -> str:
    """Name a PFNC code we do not convert, for the error message (harvesters knows them all)."""
    try:
        from harvesters.util.pfnc import dict_by_ints

        return f"{dict_by_ints.get(code, 'unknown')} (0x{code:08X})"
    except Exception:  # noqa: BLE001 - naming is best effort
        return f"0x{code:08X}"


def convert(
    data: np.ndarray | bytes | memoryview,
    width: int,
    height: int,
    pixel_format: str | int,
    padding_x: int = 0,
) -> np.ndarray:
    """Copy one image out of a raw buffer (1-D bytes) into a new HxW / HxWx3 array.

    padding_x is the number of extra bytes at the end of each line (GenTL BUFFER_INFO_XPADDING).
    Raises UnsupportedPixelFormat naming the format, CameraError if the buffer is too short.
    """
    fmt = lookup(pixel_format)
    raw = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8)
    raw = raw.reshape(-1)
    line = width * fmt.bytes_per_pixel
    stride = line + int(padding_x)
    need = stride * (height - 1) + line if height > 0 else 0
    if width <= 0 or height <= 0 or raw.size < need:
        raise CameraError(
            f"{fmt.name} buffer of {raw.size} bytes is too small for {width}x{height} "
            f"(needs {need}); the frame is incomplete"
        )
    # a strided view over the driver bytes: nothing is copied until the conversion below
    rows = np.lib.stride_tricks.as_strided(raw, shape=(height, line), strides=(stride, 1))
    if fmt.kind == "mono" and fmt.bytes_per_pixel == 1:
        return rows.copy()
    if fmt.kind == "mono":
        px = np.ascontiguousarray(rows).view("<u2").reshape(height, width)
        if fmt.bit_depth == 16:
            return px.astype(np.uint16, copy=True)
        return np.left_shift(px, 16 - fmt.bit_depth, dtype=np.uint16)
    if fmt.kind == "bayer":
        return cv2.cvtColor(np.ascontiguousarray(rows), fmt.cv_code)
    px = rows.reshape(height, width, fmt.channels_in)
    if fmt.kind == "rgb":
        return px.copy()
    if fmt.kind == "bgr":
        return cv2.cvtColor(np.ascontiguousarray(px), cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(np.ascontiguousarray(px), cv2.COLOR_RGBA2RGB)  # rgba: drop alpha


def output_shape(width: int, height: int, pixel_format: str | int) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype `convert` returns, without converting (for previews and buffer sizing)."""
    fmt = lookup(pixel_format)
    if fmt.kind == "mono":
        return (height, width), np.dtype(np.uint8 if fmt.bit_depth == 8 else np.uint16)
    return (height, width, 3), np.dtype(np.uint8)
