"""A large, seamless, non-repeating-looking surface built from a real texture photograph.

The simulated web needs far more surface than one 512 px photograph. We quilt it: random crops of
the photograph (randomly flipped/rotated) laid on a grid with cross-faded overlaps, then made
periodic in both axes by blending with a half-period roll. Blends are variance-preserving
(weights a, b scaled by 1/sqrt(a²+b²)) so seams do not show up as flat, low-contrast bands.
"""

from __future__ import annotations

import functools

import numpy as np

from inspection_core.data.synthesis import procedural_texture
from inspection_core.errors import CameraError

TEXTURES = ("gravel", "brick", "grass", "procedural")
# regular patterns: random crops would break the mortar lines, so they are tiled as they are
STRUCTURED = ("brick",)
ORIENTED = ("grass",)


def make_surface(name: str, tex: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A periodic zero-mean surface of `shape` for texture `name` (quilted or, if regular, tiled)."""
    if name in STRUCTURED:
        tile = make_periodic(tex)
        reps = (-(-shape[0] // tile.shape[0]), -(-shape[1] // tile.shape[1]))
        return np.tile(tile, reps)[: shape[0], : shape[1]]
    return quilt(tex, shape, rng, rotate=name not in ORIENTED)


def load_texture(name: str, rng: np.random.Generator) -> np.ndarray:
    """A float32 HxW texture with zero mean and unit std (scikit-image's bundled photographs)."""
    if name == "procedural":
        tex = procedural_texture((512, 512), rng).mean(axis=2)
    elif name in TEXTURES:
        tex = _photo(name)
    else:
        raise CameraError(f"unknown texture {name!r}; choose one of {', '.join(TEXTURES)}")
    tex = tex.astype(np.float32)
    return (tex - tex.mean()) / max(float(tex.std()), 1e-6)


@functools.lru_cache(maxsize=8)
def _photo(name: str) -> np.ndarray:
    """scikit-image's bundled photograph as float32 grey (cached: decoding costs ~0.2 s)."""
    import skimage.data

    tex = getattr(skimage.data, name)().astype(np.float32)
    tex = tex.mean(axis=2) if tex.ndim == 3 else tex
    tex.flags.writeable = False
    return tex


def _blend(a: np.ndarray, b: np.ndarray, wa: np.ndarray) -> np.ndarray:
    """Variance-preserving cross-fade of two zero-mean textures (wa in [0, 1] is a's weight)."""
    wb = 1.0 - wa
    return (a * wa + b * wb) / np.sqrt(wa * wa + wb * wb)


def make_periodic(tex: np.ndarray) -> np.ndarray:
    """Blend a texture with its half-period roll so that it tiles without seams in x and y."""
    h, w = tex.shape
    ty = 1.0 - np.abs(np.linspace(-1.0, 1.0, h, dtype=np.float32))  # 0 at the edges, 1 in the middle
    tx = 1.0 - np.abs(np.linspace(-1.0, 1.0, w, dtype=np.float32))
    wa = np.outer(ty, tx)
    wb = np.roll(wa, (h // 2, w // 2), axis=(0, 1))
    shifted = np.roll(tex, (h // 2, w // 2), axis=(0, 1))
    frac = wa / np.maximum(wa + wb, 1e-6)
    return _blend(tex, shifted, frac).astype(np.float32)


def quilt(
    tex: np.ndarray,
    shape: tuple[int, int],
    rng: np.random.Generator,
    block: int = 192,
    overlap: int = 48,
    rotate: bool = True,
) -> np.ndarray:
    """A periodic (`shape`) zero-mean surface made of random crops of `tex`.

    rotate=False keeps the texture's orientation (grass blades); crops are still mirrored left-right.
    """
    h, w = shape
    th, tw = tex.shape
    block = int(min(block, th - 1, tw - 1))
    overlap = int(min(overlap, block // 3))
    step = block - overlap
    ny, nx = -(-max(h - overlap, 1) // step), -(-max(w - overlap, 1) // step)
    big = np.zeros((ny * step + overlap, nx * step + overlap), np.float32)
    ramp = np.linspace(0.0, 1.0, overlap, dtype=np.float32)
    for iy in range(ny):
        for ix in range(nx):
            y0, x0 = int(rng.integers(0, th - block + 1)), int(rng.integers(0, tw - block + 1))
            patch = tex[y0 : y0 + block, x0 : x0 + block]
            k = int(rng.integers(0, 4))
            patch = np.rot90(patch, k) if rotate and th == tw else patch
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
            patch = np.array(patch, np.float32)  # own copy; only the overlap strips are blended
            oy, ox = iy * step, ix * step
            region = big[oy : oy + block, ox : ox + block]
            if ix > 0:
                wl = np.broadcast_to(ramp[None, :], (block, overlap)).copy()
                if iy > 0:
                    wl[:overlap] *= ramp[:, None]
                left = _blend(patch[:, :overlap], region[:, :overlap], wl)
            if iy > 0:
                wt = np.broadcast_to(ramp[:, None], (overlap, block)).copy()
                if ix > 0:
                    wt[:, :overlap] *= ramp[None, :]
                patch[:overlap] = _blend(patch[:overlap], region[:overlap], wt)
            if ix > 0:
                patch[:, :overlap] = left
            region[...] = patch
    return make_periodic(np.ascontiguousarray(big[:h, :w]))
