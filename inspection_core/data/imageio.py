"""Reading and writing images with clear errors, and the one conversion every model input goes through."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from inspection_core.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def imread(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image as HxW (mono) or HxWx3 RGB, keeping 8 or 16 bit depth.

    Raises DataError naming the file when it is missing, truncated or not an image.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"image not found: {p}")
    buf = np.fromfile(str(p), dtype=np.uint8)  # fromfile+imdecode handles non-ASCII paths
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if img is None or img.size == 0:
        raise DataError(f"cannot read image (corrupt or not an image): {p}")
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


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a ground-truth mask as HxW bool (any non-zero pixel is defective)."""
    m = imread(path)
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
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(enc.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DataError(f"cannot write {p}: {exc.strerror or exc}") from exc
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
