"""Everything the live view draws for one frame, prepared off the GUI thread (plain numpy, no Qt).

The GUI thread then only hands ready uint8 arrays and polylines to pyqtgraph: no float→colour
conversion, no contour tracing and no auto-levels ever run while drawing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspection_core.render import hotspot_radius
from inspection_core.types import Frame, InspectionResult

MAX_HEAT_SIDE = 1024  # the heatmap is smooth; drawing it finer than this only costs time


@dataclass(frozen=True)
class InspectedFrame:
    """A frame with its result and display-ready overlays; what crosses from inference to GUI."""

    frame: Frame
    result: InspectionResult
    image8: np.ndarray  # HxW or HxWx3 uint8, levels fixed at (0, 255)
    heat8: np.ndarray  # hxw uint8, normalised map × 255 (0.5 = pixel threshold → 127/128)
    outline_xy: np.ndarray  # (K, 2) float32 x,y; rows of NaN separate contours
    box_xy: np.ndarray  # (M, 2) float32 x,y; 5 points + NaN per box
    labels: tuple[tuple[float, float, str], ...]  # (x, y, text) per defect
    t_grab: float  # perf_counter() when the acquisition thread received the frame
    t_inspected: float  # perf_counter() when inference finished
    skipped: int  # frames the inference worker dropped before taking this one
    thumbnail: np.ndarray | None = None  # small RGB overlay, made for NG frames only (the NG strip)

    @property
    def inference_ms(self) -> float:
        return float(self.result.timings.get("total", (self.t_inspected - self.t_grab) * 1e3))


def to_display8(image: np.ndarray) -> np.ndarray:
    """uint8 mono or RGB for drawing: 16-bit is shifted (levels stay fixed), alpha is dropped."""
    img = image
    if img.dtype == np.uint16:
        shift = 8 if int(img.max(initial=0)) > 4095 else 4  # Mono12 packed in 16 bit still looks right
        img = (img >> shift).clip(0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img.astype(np.float32) * 255.0, 0, 255).astype(np.uint8)
    if img.ndim == 3:
        if img.shape[2] == 1:
            img = img[:, :, 0]
        elif img.shape[2] == 4:
            img = img[:, :, :3]
    return np.ascontiguousarray(img)


def heat_to_u8(anomaly_map: np.ndarray, max_side: int = MAX_HEAT_SIDE) -> np.ndarray:
    h, w = anomaly_map.shape[:2]
    f = max(h, w) / max_side
    amap = anomaly_map
    if f > 1:
        amap = cv2.resize(amap, (max(1, round(w / f)), max(1, round(h / f))), interpolation=cv2.INTER_AREA)
    return np.clip(amap * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _polyline(chunks: list[np.ndarray]) -> np.ndarray:
    if not chunks:
        return np.zeros((0, 2), np.float32)
    sep = np.full((1, 2), np.nan, np.float32)
    parts: list[np.ndarray] = []
    for c in chunks:
        parts.extend((c.astype(np.float32), sep))
    return np.concatenate(parts)


def outlines(mask: np.ndarray) -> np.ndarray:
    """Closed contours of the defect mask as one NaN-separated polyline (pixel-edge coordinates)."""
    if not mask.any():
        return np.zeros((0, 2), np.float32)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    # +0.5: contour points are pixel indices, the image item puts pixel i's centre at i + 0.5
    return _polyline([np.vstack([c[:, 0, :], c[:1, 0, :]]) + 0.5 for c in contours])


def boxes(result: InspectionResult) -> tuple[np.ndarray, tuple[tuple[float, float, str], ...]]:
    chunks, labels = [], []
    for d in result.defects:
        x0, y0, x1, y1 = d.bbox
        chunks.append(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], np.float32))
        size = f"{d.area_mm2:.2f} mm²" if d.area_mm2 is not None else f"{d.area_px} px"
        labels.append((float(x0), float(y0), f"{d.id}: {d.max_score:.2f} · {size}"))
    spot = result.hotspot
    if spot is not None:  # NG without a region: frame the map's peak so the operator sees where to look
        x, y = spot
        r = hotspot_radius(result.anomaly_map.shape)
        chunks.append(
            np.array(
                [[x - r, y - r], [x + r, y - r], [x + r, y + r], [x - r, y + r], [x - r, y - r]], np.float32
            )
        )
        labels.append((float(x - r), float(y - r), f"peak: {float(result.anomaly_map[y, x]):.2f}"))
    return _polyline(chunks), tuple(labels)


def thumbnail(
    image8: np.ndarray, result: InspectionResult, side: int = 96, pixel_threshold: float = 0.5
) -> np.ndarray:
    """Small RGB image with the above-threshold heat and the defect outlines, no text.

    At thumbnail size a verdict label would hide the defect; the strip's caption carries the score.
    Big frames are strided first: INTER_AREA over 5 MP would cost ~10 ms, the stride ~0.
    """
    h, w = image8.shape[:2]
    k = max(1, max(h, w) // (4 * side))
    img, amap, mask = image8[::k, ::k], result.anomaly_map[::k, ::k], result.mask[::k, ::k]
    f = side / max(img.shape[:2])
    size = (max(1, round(img.shape[1] * f)), max(1, round(img.shape[0] * f)))
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB) if small.ndim == 2 else small.copy()
    amap = cv2.resize(amap, size, interpolation=cv2.INTER_AREA)
    heat = cv2.applyColorMap(np.clip(amap * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    hot = amap >= pixel_threshold
    rgb[hot] = (0.4 * rgb[hot] + 0.6 * heat[hot]).astype(np.uint8)
    m = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(rgb, contours, -1, (255, 40, 40), 1)
    spot = result.hotspot
    if spot is not None:
        x, y = spot
        r = max(3, round(hotspot_radius(result.anomaly_map.shape) * f / k))
        c = (round(x * f / k), round(y * f / k))
        cv2.rectangle(rgb, (c[0] - r, c[1] - r), (c[0] + r, c[1] + r), (255, 255, 0), 1)
    return np.ascontiguousarray(rgb)


def prepare(
    frame: Frame,
    result: InspectionResult,
    t_grab: float,
    t_inspected: float,
    skipped: int,
    pixel_threshold: float = 0.5,
) -> InspectedFrame:
    box_xy, labels = boxes(result)
    image8 = to_display8(frame.image)
    return InspectedFrame(
        frame=frame,
        result=result,
        image8=image8,
        heat8=heat_to_u8(result.anomaly_map),
        outline_xy=outlines(result.mask),
        box_xy=box_xy,
        labels=labels,
        t_grab=t_grab,
        t_inspected=t_inspected,
        skipped=skipped,
        thumbnail=thumbnail(image8, result, pixel_threshold=pixel_threshold) if result.is_ng else None,
    )
