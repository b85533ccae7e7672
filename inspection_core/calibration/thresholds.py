"""Threshold suggestions from known score distributions, in normalised units (0.5 = calibrated).

Convention everywhere: a part is rejected (NG) when its score ≥ threshold; "positive" = defective.
A suggested threshold is placed half-way between the two neighbouring observed scores that bound
the chosen operating point, not on a score itself, so a part scoring like a validation part does not
flip on rounding noise. Every suggestion is checked against the good scores: none may reject every
good part (anomalib users hit exactly that when validation holds no defects).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from inspection_core.errors import AoiError
from inspection_core.metrics.curves import auroc, f1_max, roc_curve

StrategyKind = Literal["f1", "max-false-reject", "min-recall", "good-only"]


class CalibrationError(AoiError):
    """Threshold suggestion impossible with the data given (e.g. no good samples, bad strategy text)."""


@dataclass(frozen=True)
class Confusion:
    """Counts at one threshold. Rejected defective = tp, rejected good = fp (a false reject)."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n_good(self) -> int:
        return self.fp + self.tn

    @property
    def n_defective(self) -> int:
        return self.tp + self.fn

    @property
    def false_reject_rate(self) -> float:
        """Share of good parts rejected (NaN without good parts)."""
        return self.fp / self.n_good if self.n_good else math.nan

    @property
    def recall(self) -> float:
        """Share of defective parts caught (NaN without defective parts)."""
        return self.tp / self.n_defective if self.n_defective else math.nan

    @property
    def escape_rate(self) -> float:
        """Share of defective parts accepted (false accepts)."""
        return self.fn / self.n_defective if self.n_defective else math.nan

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def f1(self) -> float:
        denom = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denom if denom else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "tp": self.tp,
            "fp": self.fp,
            "tn": self.tn,
            "fn": self.fn,
            "false_reject_rate": self.false_reject_rate,
            "recall": self.recall,
            "f1": self.f1,
        }

    def table(self) -> str:
        """Three-line text matrix for the CLI (rows: truth; columns: verdict)."""
        return (
            f"{'':>14}{'verdict OK':>12}{'verdict NG':>12}\n"
            f"{'good':>14}{self.tn:>12}{self.fp:>12}\n"
            f"{'defective':>14}{self.fn:>12}{self.tp:>12}"
        )


@dataclass(frozen=True)
class Strategy:
    """How to pick the operating point. value: the allowed false-reject rate or the wanted recall."""

    kind: StrategyKind
    value: float = 0.0

    def __str__(self) -> str:
        return self.kind if self.kind == "f1" else f"{self.kind}={self.value:g}"

    @classmethod
    def parse(cls, text: str) -> Strategy:
        """'f1' | 'max-false-reject=0.01' | 'min-recall=0.99' | 'good-only[=0.0]' (rates also as '1%')."""
        t = (text or "").strip().lower()
        kind, _, val = t.partition("=")
        kind = kind.strip()
        if kind == "f1" and not val:
            return cls("f1")
        if kind not in ("max-false-reject", "min-recall", "good-only"):
            raise CalibrationError(
                f"unknown strategy {text!r}: use f1, max-false-reject=0.01, min-recall=0.99 or good-only"
            )
        if not val:
            if kind == "good-only":
                return cls("good-only", 0.0)
            raise CalibrationError(f"strategy {kind} needs a value, e.g. {kind}=0.01")
        try:
            v = float(val[:-1]) / 100 if val.endswith("%") else float(val)
        except ValueError:
            raise CalibrationError(f"bad value in strategy {text!r}: {val!r} is not a number") from None
        if not 0.0 <= v <= 1.0 or (kind == "min-recall" and v == 0.0):
            raise CalibrationError(f"strategy value must be a rate between 0 and 1 (got {val})")
        return cls(kind, v)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ThresholdSuggestion:
    """A suggested threshold, what it gives on the validation data, and why it was chosen."""

    threshold: float
    strategy: str
    confusion: Confusion | None = None
    note: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "strategy": self.strategy,
            "confusion": None if self.confusion is None else self.confusion.to_dict(),
            "note": self.note,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class RocData:
    """ROC curve for plotting: fpr/tpr ascending, thresholds descending (first is +inf)."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auroc: float


def _arrays(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).ravel().astype(bool)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.size != s.size:
        raise CalibrationError(f"{y.size} labels but {s.size} scores")
    if not np.isfinite(s).all():
        raise CalibrationError("scores contain NaN or infinite values")
    return y, s


def confusion_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> Confusion:
    """Confusion matrix when parts with score ≥ threshold are rejected."""
    y, s = _arrays(labels, scores)
    ng = s >= threshold
    return Confusion(
        float(threshold),
        int((ng & y).sum()),
        int((ng & ~y).sum()),
        int((~ng & ~y).sum()),
        int((~ng & y).sum()),
    )


def roc_data(labels: np.ndarray, scores: np.ndarray) -> RocData:
    y, s = _arrays(labels, scores)
    fpr, tpr, thr = roc_curve(y, s)
    return RocData(fpr, tpr, thr, auroc(y, s))


def _between(lower: float | None, upper: float | None) -> float:
    """A threshold strictly above `lower` and at most `upper` (mid-way when both exist)."""
    if lower is None and upper is None:
        raise CalibrationError("no scores to place a threshold between")
    if upper is None:
        return float(lower + max(1e-3, 0.05 * abs(lower)))  # type: ignore[operator]
    if lower is None:
        return float(upper)
    return float((lower + upper) / 2)


def _next_above(values: np.ndarray, x: float) -> float | None:
    above = values[values > x]
    return float(above.min()) if above.size else None


def _next_below(values: np.ndarray, x: float) -> float | None:
    below = values[values < x]
    return float(below.max()) if below.size else None


def suggest_good_only(good_scores: np.ndarray, max_false_reject: float = 0.0, margin: float = 0.1) -> float:
    """Threshold from good scores alone: the (1 - max_false_reject) quantile plus a margin.

    The margin is `margin` × (quantile − median), the same rule the normalisation uses, with a small
    absolute floor so identical scores still get a threshold above them. With max_false_reject=0 no
    observed good part is rejected; the result is always above the median, so it can never reject every
    good part.
    """
    g = np.asarray(good_scores, dtype=np.float64).ravel()
    if g.size == 0:
        raise CalibrationError("a threshold from good parts needs at least one good sample")
    q = float(np.quantile(g, 1.0 - max_false_reject, method="higher"))
    med = float(np.median(g))
    return q + max(margin * (q - med), 1e-3)


def suggest_image_threshold(
    labels: np.ndarray, scores: np.ndarray, strategy: Strategy | str, margin: float = 0.1
) -> ThresholdSuggestion:
    """Suggest an image threshold on normalised validation scores.

    f1: maximise F1 of 'defective' over all thresholds. max-false-reject=X: the lowest threshold (most
    defects caught) that rejects at most X of the good parts. min-recall=Y: the highest threshold (fewest
    false rejects) that still catches at least Y of the defective parts. Without defective samples
    every strategy falls back to `suggest_good_only` (explicitly noted); without good samples it is an
    error, since nothing would then show what a good part looks like.
    """
    strat = Strategy.parse(strategy) if isinstance(strategy, str) else strategy
    y, s = _arrays(labels, scores)
    good, bad = np.sort(s[~y]), np.sort(s[y])
    if good.size == 0:
        raise CalibrationError(
            "threshold suggestion needs at least one good (OK) sample in the validation data"
        )
    warnings: list[str] = []
    if bad.size == 0 or strat.kind == "good-only":
        frr = strat.value if strat.kind in ("max-false-reject", "good-only") else 0.0
        t = suggest_good_only(good, frr, margin)
        note = f"good-only: {100 * (1 - frr):g}th percentile of {good.size} good scores plus margin" + (
            "" if strat.kind == "good-only" else f" (no defective samples, so {strat} is not computable)"
        )
        return ThresholdSuggestion(t, str(strat), confusion_at(y, s, t), note)
    if strat.kind == "f1":
        _, lowest_ng = f1_max(y, s)
        t = _between(_next_below(s, lowest_ng), lowest_ng)
        note = "maximum F1 of defective parts"
    elif strat.kind == "max-false-reject":
        k = int(math.floor(strat.value * good.size + 1e-9))  # good parts we may reject
        if k >= good.size:
            t = _between(_next_below(s, float(good.min())), float(good.min()))
        else:
            g_ok = float(good[good.size - 1 - k])  # highest good score that must pass
            t = _between(g_ok, _next_above(s, g_ok))
        note = f"lowest threshold rejecting at most {100 * strat.value:g}% of {good.size} good parts"
    else:  # min-recall
        m = max(1, int(math.ceil(strat.value * bad.size - 1e-9)))  # defective parts we must catch
        d_min = float(bad[bad.size - m])  # the m-th highest defect score must be rejected
        t = _between(_next_below(s, d_min), d_min)
        note = f"highest threshold catching at least {100 * strat.value:g}% of {bad.size} defective parts"
    if t <= good.min():
        t_new = _between(float(good.min()), _next_above(s, float(good.min())))
        warnings.append(
            f"{strat} would reject every good part (threshold {t:.4f}); raised to {t_new:.4f} so the best "
            "good part passes. The model does not separate good from defective on this data."
        )
        t = t_new
    conf = confusion_at(y, s, t)
    if strat.kind == "min-recall" and conf.recall < strat.value:
        warnings.append(f"recall {conf.recall:.3f} is below the {strat.value:g} asked for")
    if strat.kind == "max-false-reject" and conf.false_reject_rate > strat.value:
        warnings.append(f"false-reject rate {conf.false_reject_rate:.3f} exceeds the {strat.value:g} allowed")
    return ThresholdSuggestion(t, str(strat), conf, note, tuple(warnings))


def suggest_pixel_threshold(
    maps: np.ndarray,
    masks: np.ndarray | None,
    labels: np.ndarray,
    margin: float = 0.1,
    good_quantile: float = 0.9999,
    max_pixels: int = 4_000_000,
) -> ThresholdSuggestion:
    """Pixel threshold on normalised maps (N, h, w) in [0, 1].

    With ground-truth masks: per-pixel F1-max over all validation pixels (anomalib's adaptive pixel
    threshold). We prefer it to a PRO-based pick because PRO ranks maps up to an arbitrary FPR limit
    and has no single best operating point, while pixel F1 directly maximises the overlap of the
    drawn defect mask with the true one and, unlike ROC-based choices, is not swamped by the millions
    of good pixels. Without masks: a high quantile of good-image pixels plus margin (the same rule
    as the normalisation), so good parts show (almost) no defect regions. Results are capped at 1,
    the top of the normalised map.
    """
    m = np.asarray(maps, dtype=np.float32)
    y = np.asarray(labels).ravel().astype(bool)
    if m.ndim != 3 or m.shape[0] != y.size:
        raise CalibrationError(f"maps of shape {m.shape} do not match {y.size} labels")
    rng = np.random.default_rng(0)
    if masks is not None and np.asarray(masks).any():
        gt = np.asarray(masks, dtype=bool)
        if gt.shape != m.shape:
            raise CalibrationError(f"mask shape {gt.shape} != map shape {m.shape}")
        flat_m, flat_g = m.ravel(), gt.ravel()
        if flat_m.size > max_pixels:  # a uniform subsample keeps the class balance and bounds the sort
            sel = rng.choice(flat_m.size, max_pixels, replace=False)
            flat_m, flat_g = flat_m[sel], flat_g[sel]
        f1, lowest = f1_max(flat_g, flat_m)
        t = min(_between(_next_below(flat_m, lowest), lowest), 1.0)
        conf = confusion_at(flat_g, flat_m, t)
        return ThresholdSuggestion(t, "pixel-f1", conf, f"maximum per-pixel F1 ({f1:.3f}) against the masks")
    good_px = m[~y].ravel()
    if good_px.size == 0:
        raise CalibrationError("pixel threshold needs masks or at least one good sample")
    if good_px.size > max_pixels:
        good_px = good_px[rng.integers(0, good_px.size, max_pixels)]
    q = float(np.quantile(good_px, good_quantile))
    t = min(q + max(margin * (q - float(np.median(good_px))), 1e-3), 1.0)
    return ThresholdSuggestion(
        t,
        "pixel-good-quantile",
        None,
        f"{100 * good_quantile:g}th percentile of good pixels plus margin (no masks)",
    )
