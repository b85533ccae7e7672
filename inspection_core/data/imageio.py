"""Reading and writing images with clear errors, and the one conversion every model input goes through.

Every read is bounded: an image whose header declares more than `max_image_pixels()` pixels is refused
before it is decoded (a 2.6 MB PNG can declare 30000×30000 pixels and take 20 GB to decode).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from inspection_core.errors import DataError
from inspection_core.runtime.atomic import atomic_write_bytes

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")

DEFAULT_MAX_IMAGE_PIXELS = 100_000_000  # 100 MP: far above an area-scan camera's frame
MAX_IMAGE_PIXELS_ENV = "AOI_MAX_IMAGE_PIXELS"
# bytes a pixel may take in a file (16-bit RGBA uncompressed is 8; float TIFFs up to 16), plus headers:
# a file larger than this cannot hold an image within the limit and is not read into memory
_MAX_BYTES_PER_PIXEL = 16
_FILE_SLACK_BYTES = 64 << 20


def max_image_pixels(override: int | None = None) -> int:
    """The pixel limit of image reads: `override`, else $AOI_MAX_IMAGE_PIXELS, else 100 MP."""
    if override is not None:
        if isinstance(override, bool) or int(override) <= 0:
            raise DataError(f"the image pixel limit must be a positive number, got {override!r}")
        return int(override)
    text = os.environ.get(MAX_IMAGE_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        value = int(float(text))
    except ValueError:
        value = 0
    if value <= 0:
        raise DataError(f"{MAX_IMAGE_PIXELS_ENV}={text!r}: give a positive number of pixels, e.g. 100000000")
    return value


def _check_header(p: Path, limit: int) -> None:
    """DataError when the file's header declares more than `limit` pixels; read lazily by Pillow, so
    nothing is decoded. Formats Pillow cannot read pass here and are checked after decoding."""
    try:
        with Image.open(p) as im:
            w, h = (int(v) for v in im.size)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own bomb check fired before it told the size: the image has more than twice its
        # MAX_IMAGE_PIXELS (the error), or more than that (its warning, where warnings are errors)
        known = (Image.MAX_IMAGE_PIXELS or 0) * (2 if isinstance(exc, Image.DecompressionBombError) else 1)
        if limit < known:
            raise DataError(
                f"image too large: {p} declares over {known / 1e6:.0f} MP, over the "
                f"{limit / 1e6:g} MP limit (set {MAX_IMAGE_PIXELS_ENV} to raise it)"
            ) from None
        return  # a limit above Pillow's: decoded, then checked
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return
    if w * h > limit:
        raise _too_large(p, w, h, limit)


def _too_large(p: Path, w: int, h: int, limit: int) -> DataError:
    return DataError(
        f"image too large: {p} declares {w}x{h} = {w * h / 1e6:.1f} MP, over the "
        f"{limit / 1e6:g} MP limit (set {MAX_IMAGE_PIXELS_ENV} to raise it)"
    )


def imread(path: str | os.PathLike[str], max_pixels: int | None = None) -> np.ndarray:
    """Read an image as HxW (mono) or HxWx3 RGB, keeping 8 or 16 bit depth.

    max_pixels: the pixel limit (default: `max_image_pixels()`), checked from the header before the
    image is decoded. Raises DataError naming the file when it is missing, truncated, not an image or
    over the limit.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"image not found: {p}")
    limit = max_image_pixels(max_pixels)
    _check_header(p, limit)
    try:
        nbytes = p.stat().st_size
    except OSError as exc:
        raise DataError(f"cannot read image: {p} ({exc.strerror or exc})") from None
    if nbytes > limit * _MAX_BYTES_PER_PIXEL + _FILE_SLACK_BYTES:
        raise DataError(
            f"image file too large: {p} is {nbytes >> 20} MB, more than any image of {limit / 1e6:g} MP"
        )
    buf = np.fromfile(str(p), dtype=np.uint8)  # fromfile+imdecode handles non-ASCII paths
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if img is None or img.size == 0:
        raise DataError(f"cannot read image (corrupt or not an image): {p}")
    if img.shape[0] * img.shape[1] > limit:  # a format whose header Pillow could not read
        raise _too_large(p, img.shape[1], img.shape[0], limit)
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
        elif img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        elif img.shape[2] == 1:
            img = img[:, :, 0]
        if img.ndim == 3 and _is_gray(img):
            img = np.ascontiguousarray(img[:, :, 0])
    if img.dtype not in (np.uint8, np.uint16):
        img = _to_uint8(img)
    return img


def _is_gray(img: np.ndarray) -> bool:
    """JPEGs of grey products are often stored as RGB; treat equal channels as mono."""
    sub = img[::7, ::7]
    return bool(np.array_equal(sub[..., 0], sub[..., 1]) and np.array_equal(sub[..., 1], sub[..., 2]))


def _to_uint8(img: np.ndarray) -> np.ndarray:
    f = img.astype(np.float32)
    lo, hi = float(f.min()), float(f.max())
    return ((f - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)


def read_mask(path: str | os.PathLike[str], max_pixels: int | None = None) -> np.ndarray:
    """Read a ground-truth mask as HxW bool (any non-zero pixel is defective)."""
    m = imread(path, max_pixels)
    if m.ndim == 3:
        m = m.max(axis=2)
    return m > 0


def imwrite(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write an image atomically (temp file + rename) so a crash never leaves half a file.

    RGB arrays are converted to OpenCV's BGR order. Raises DataError on a full disk or bad path.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    arr = image
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA)
    ok, enc = cv2.imencode(p.suffix or ".png", arr)
    if not ok:
        raise DataError(f"cannot encode image as {p.suffix}: {p}")
    atomic_write_bytes(p, enc.tobytes(), DataError)
    return p


def to_rgb_float(image: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Convert any mono/RGB/RGBA uint8/uint16 image to float32 RGB in [0, 1], optionally resized.

    size is (height, width). This is the single entry point from pixels to model input.
    """
    img = image
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if size is not None and (img.shape[0], img.shape[1]) != tuple(size):
        interp = cv2.INTER_AREA if img.shape[0] > size[0] else cv2.INTER_LINEAR
        img = cv2.resize(img, (int(size[1]), int(size[0])), interpolation=interp)
    scale = 65535.0 if img.dtype == np.uint16 else (255.0 if img.dtype == np.uint8 else 1.0)
    f = img.astype(np.float32) / scale
    if f.ndim == 2:
        f = np.repeat(f[:, :, None], 3, axis=2)
    elif f.shape[2] == 1:
        f = np.repeat(f, 3, axis=2)
    return f
