"""Artificial defects for the self-supervised models: Perlin-noise masks filled with foreign content.

I_ad = I_o * (1 - M) + I_n * M (NDP-Net eq. 1, DRAEM-style): M is a thresholded Perlin noise field,
I_n is Gaussian noise, the image's own texture shifted/rotated, another image of the pool, a
procedural texture, ("shade") the image itself darker/brighter in a large soft-edged region, or
("band") a region cut off along a straight, slightly tilted edge from one side of the image whose
surface finish differs: its texture's contrast and brightness changed, or another image's texture.
All in float32 RGB HxWx3 in [0, 1]; masks HxW float32 in {0, 1}.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from inspection_core.errors import AoiError

FILLS = ("noise", "shift", "foreign", "procedural", "shade", "band")  # every kind a --fills option accepts
DEFAULT_FILLS = FILLS[:4]  # what a synthesiser draws from unless told otherwise


def parse_fills(text: str, model: str) -> tuple[str, ...]:
    """'noise, shift' → ('noise', 'shift'): the `--fills` option of the models that synthesise defects;
    an empty list or an unknown kind is a one-line error naming the model and the allowed kinds."""
    fills = tuple(f.strip() for f in text.split(",") if f.strip())
    bad = [f for f in fills if f not in FILLS]
    if not fills or bad:
        raise AoiError(f"{model}: bad --fills {text!r}; use a comma list of {', '.join(FILLS)}")
    return fills


def perlin_noise(shape: tuple[int, int], res: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """2-D Perlin noise in about [-1, 1] with `res` gradient cells along each axis (any shape)."""
    h, w = shape
    ry, rx = res
    # gradients on a (ry+1, rx+1) lattice
    angles = rng.uniform(0, 2 * np.pi, (ry + 1, rx + 1))
    gy, gx = np.sin(angles), np.cos(angles)
    ys = np.linspace(0, ry, h, endpoint=False)
    xs = np.linspace(0, rx, w, endpoint=False)
    yi, xi = ys.astype(int), xs.astype(int)
    yf, xf = (ys - yi)[:, None], (xs - xi)[None, :]

    def dot(oy: int, ox: int) -> np.ndarray:
        g_y = gy[yi[:, None] + oy, xi[None, :] + ox]
        g_x = gx[yi[:, None] + oy, xi[None, :] + ox]
        return g_y * (yf - oy) + g_x * (xf - ox)

    def fade(t: np.ndarray) -> np.ndarray:
        return 6 * t**5 - 15 * t**4 + 10 * t**3

    u, v = fade(xf), fade(yf)
    n00, n01, n10, n11 = dot(0, 0), dot(0, 1), dot(1, 0), dot(1, 1)
    top = n00 + u * (n01 - n00)
    bot = n10 + u * (n11 - n10)
    return (np.sqrt(2) * (top + v * (bot - top))).astype(np.float32)


def perlin_mask(
    shape: tuple[int, int],
    rng: np.random.Generator,
    threshold: float = 0.5,
    min_scale: int = 0,
    max_scale: int = 6,
    min_area_frac: float = 0.001,
    foreground: np.ndarray | None = None,
) -> np.ndarray:
    """A random blob mask: Perlin noise at a random power-of-two scale, thresholded.

    Retries until the mask covers at least `min_area_frac` of the image (inside `foreground` when
    given), so training never sees an "anomalous" sample without an anomaly.
    """
    h, w = shape
    for _ in range(20):
        sy = 2 ** int(rng.integers(min_scale, max_scale))
        sx = 2 ** int(rng.integers(min_scale, max_scale))
        noise = perlin_noise((h, w), (sy, sx), rng)
        if rng.random() < 0.5:  # random rotation gives oblique, scratch-like shapes
            m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-90, 90)), 1.0)
            noise = cv2.warpAffine(noise, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        mask = (noise > threshold).astype(np.float32)
        if foreground is not None:
            mask *= foreground.astype(np.float32)
        if mask.mean() >= min_area_frac:
            return mask
    # fallback: an ellipse inside the foreground (or anywhere)
    mask = np.zeros((h, w), np.float32)
    cy, cx = int(rng.integers(h // 4, 3 * h // 4 + 1)), int(rng.integers(w // 4, 3 * w // 4 + 1))
    if foreground is not None and foreground.any():
        ys, xs = np.nonzero(foreground)
        i = int(rng.integers(len(ys)))
        cy, cx = int(ys[i]), int(xs[i])
    cv2.ellipse(
        mask, (cx, cy), (max(2, w // 12), max(2, h // 20)), float(rng.uniform(0, 180)), 0, 360, 1.0, -1
    )
    if foreground is not None:
        mask *= foreground.astype(np.float32)
    return mask


def band_mask(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A region bounded by one image side and a straight, slightly tilted and wavy edge across the
    image (sometimes also by a second, parallel edge or by two side edges): where a grinding pass,
    coating or finish changes. Median 28 % of the image, 5–57 % for nine draws in ten; {0, 1} float32."""
    h, w = shape
    horizontal = rng.random() < 0.5  # the edge runs across the width (from the top or bottom side)
    length, depth = (w, h) if horizontal else (h, w)
    t = np.arange(length, dtype=np.float32) / max(length - 1, 1)
    wave = np.interp(t, np.linspace(0, 1, 5), rng.normal(0, 0.01, 5)).astype(np.float32)
    edge = rng.uniform(0.1, 0.6) + rng.uniform(-0.12, 0.12) * (t - 0.5) + wave  # as a share of depth
    d = (np.arange(depth, dtype=np.float32) / depth)[:, None]
    inside = d < edge[None, :]
    if rng.random() < 0.3:  # a band that does not reach the side: between two near-parallel edges
        start = rng.uniform(0.0, 0.5)
        inside = (d >= start + 0.005 * rng.normal()) & (d < start + edge[None, :])
    if rng.random() < 0.3:  # a patch: also bounded across
        a, b = sorted(rng.uniform(0, 1, 2))
        b = max(b, a + 0.3)
        inside &= (t[None, :] >= a) & (t[None, :] < b)
    mask = inside.astype(np.float32)
    if rng.random() < 0.5:
        mask = mask[::-1]  # from the other side
    mask = mask if horizontal else mask.T
    return np.ascontiguousarray(mask)


def procedural_texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Colourful multi-octave noise / stripes: a stand-in for DTD textures (which we may not ship)."""
    h, w = shape
    out = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        acc = np.zeros((h, w), np.float32)
        amp = 1.0
        for octave in range(int(rng.integers(2, 5))):
            r = 2 ** (octave + 1)
            acc += amp * perlin_noise((h, w), (r, r), rng)
            amp *= 0.5
        out[..., c] = acc
    if rng.random() < 0.4:  # stripes/weave
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        f = rng.uniform(0.05, 0.4)
        ang = rng.uniform(0, np.pi)
        out += 0.8 * np.sin(f * (np.cos(ang) * xx + np.sin(ang) * yy))[..., None]
    out -= out.min()
    out /= max(float(out.max()), 1e-6)
    return out


@dataclass
class DefectSynthesizer:
    """Makes (defective image, mask) pairs from good images.

    pool: other good images (HxWx3 float) used as foreign texture; fills: which fill kinds to draw from.
    """

    pool: Sequence[np.ndarray] = field(default_factory=list)
    fills: Sequence[str] = DEFAULT_FILLS
    beta_range: tuple[float, float] = (0.1, 1.0)  # opacity of the fill, as DRAEM's beta
    seed: int | None = None

    def __post_init__(self) -> None:
        bad = set(self.fills) - set(FILLS)
        if bad:
            raise ValueError(f"unknown fill kinds {sorted(bad)}; choose from {FILLS}")
        self.rng = np.random.default_rng(self.seed)
        self._textures: dict[tuple[int, int], list[np.ndarray]] = {}

    def _procedural(self, h: int, w: int) -> np.ndarray:
        """Procedural textures are slow to make; keep a small cache per size and vary them cheaply."""
        cache = self._textures.setdefault((h, w), [])
        if len(cache) < 16:
            cache.append(procedural_texture((h, w), self.rng))
            return cache[-1]
        t = cache[int(self.rng.integers(len(cache)))]
        t = np.roll(t, (int(self.rng.integers(h)), int(self.rng.integers(w))), axis=(0, 1))
        return t[:, :, self.rng.permutation(3)]

    def fill(self, image: np.ndarray, kind: str) -> np.ndarray:
        h, w = image.shape[:2]
        rng = self.rng
        if kind == "noise":
            mu = rng.uniform(0, 1, 3).astype(np.float32)
            return np.clip(mu + rng.normal(0, rng.uniform(0.05, 0.4), (h, w, 3)).astype(np.float32), 0, 1)
        if kind == "shift":
            k = int(rng.integers(0, 4))
            src = np.rot90(image, k) if h == w else np.flip(image, int(rng.integers(0, 2)))
            src = np.roll(src, (int(rng.integers(h)), int(rng.integers(w))), axis=(0, 1))
            gain = rng.uniform(0.5, 1.5)
            return np.clip(np.ascontiguousarray(src) * gain + rng.uniform(-0.2, 0.2), 0, 1).astype(np.float32)
        if kind == "foreign" and len(self.pool):
            other = self.pool[int(rng.integers(len(self.pool)))]
            if other.shape[:2] != (h, w):
                other = cv2.resize(other, (w, h), interpolation=cv2.INTER_LINEAR)
            jitter = rng.uniform(0.6, 1.4, 3).astype(np.float32)
            return np.clip(np.flip(other, int(rng.integers(0, 2))) * jitter, 0, 1).astype(np.float32)
        if kind == "band":  # another surface finish: the texture's contrast and brightness changed, or
            # another image's texture at this image's brightness
            if len(self.pool) and rng.random() < 0.4:
                src = self.pool[int(rng.integers(len(self.pool)))]
                if src.shape[:2] != (h, w):
                    src = cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR)
                src = np.ascontiguousarray(np.flip(src, int(rng.integers(0, 2))))
                return np.clip(src - src.mean() + image.mean(), 0, 1).astype(np.float32)
            base = cv2.GaussianBlur(image, (0, 0), max(1.0, 0.05 * min(h, w)))
            contrast = rng.uniform(1.6, 3.0) if rng.random() < 0.6 else rng.uniform(0.2, 0.6)
            gain = rng.uniform(0.8, 1.25)
            out = base * np.float32(gain) + (image - base) * np.float32(contrast)
            return np.clip(out, 0, 1).astype(np.float32)
        if kind == "shade":  # the same texture, darker or brighter, sometimes smoother (see __call__)
            gain = rng.uniform(0.6, 0.85) if rng.random() < 0.5 else rng.uniform(1.15, 1.5)
            src = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.8, 2.0)) if rng.random() < 0.5 else image
            return np.clip(src * np.float32(gain), 0, 1).astype(np.float32)
        return self._procedural(h, w)

    def __call__(
        self, image: np.ndarray, foreground: np.ndarray | None = None, fill: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (defective image, mask) for one good float RGB image."""
        h, w = image.shape[:2]
        mask = perlin_mask((h, w), self.rng, foreground=foreground)
        kind = fill or str(self.rng.choice(list(self.fills)))
        m = mask[..., None]
        if kind == "shade":  # large, soft-edged, low-contrast regions, like magnetic tile's "uneven"
            # a second, larger mask: the first one is drawn anyway so that the other kinds' random
            # streams (and every model trained on them) stay as they were before shade existed
            mask = perlin_mask((h, w), self.rng, max_scale=2, min_area_frac=0.05, foreground=foreground)
            m = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.02 * min(h, w)))[..., None] * mask[..., None]
        if kind == "band":  # the Perlin mask above is drawn anyway, for the same reason as shade's
            band = band_mask((h, w), self.rng)
            if foreground is not None:
                band *= foreground.astype(np.float32)
            if band.any():  # else (a band outside the foreground) the blob stays
                mask, m = band, band[..., None]
        content = self.fill(image, kind)
        beta = float(self.rng.uniform(*self.beta_range))
        out = image * (1 - m) + (beta * image + (1 - beta) * content) * m if beta < 1 else image * (1 - m)
        if beta >= 1:
            out = out + content * m
        return np.clip(out, 0, 1).astype(np.float32), mask

    def batch(
        self, images: np.ndarray, p_anomaly: float = 1.0, foregrounds: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Synthesise over (N, H, W, 3); each image gets a defect with probability p_anomaly."""
        outs, masks = [], []
        for i, img in enumerate(images):
            if self.rng.random() < p_anomaly:
                fg = None if foregrounds is None else foregrounds[i]
                o, m = self(img, fg)
            else:
                o, m = img.astype(np.float32), np.zeros(img.shape[:2], np.float32)
            outs.append(o)
            masks.append(m)
        return np.stack(outs), np.stack(masks)
