"""The operator feedback loop: a false reject from validation goes to the good set and the model is refitted.

A good part the model rejects is exactly what the next model should learn is normal. The image file is
copied into the product's good samples (the Train workspace's `SampleSet`, PNG + sidecar like any
capture) and training starts again through the one fit → calibrate → validate path
(`train_sample_set`); the refitted model goes live only by Deploy, after its validation is seen.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.training.workspace import TrainingWorkspace

Guard = Callable[[str], bool]


class FeedbackLoop:
    """`product_of()` names the product when the Train workspace has none yet (the live recipe's name);
    `record(action, target, old, new, note)` writes the audit row (AccessControl.record)."""

    def __init__(
        self,
        train: TrainingWorkspace,
        guard: Guard | None = None,
        product_of: Callable[[], str | None] | None = None,
        record: Callable[..., Any] | None = None,
        refit: bool = True,
    ) -> None:
        self.train = train
        self.guard = guard or (lambda _what: True)
        self.product_of = product_of or (lambda: None)
        self.record = record or (lambda *a, **k: None)
        self.refit = refit

    def send_to_good(self, paths: list[Path]) -> int:
        """Import the images as good samples and refit; returns how many were added."""
        train = self.train
        if not paths or not self.guard("add samples to the good set"):
            return 0
        if train.capture.samples is None:
            name = self.product_of()
            if not name or not train.set_product(name):
                train.notify("warning", "enter a product name in Train first: the samples go to its good set")
                return 0
        root = train.capture.samples.root.resolve()
        fresh = [Path(p) for p in paths if not Path(p).resolve().is_relative_to(root)]
        if len(fresh) < len(paths):
            train.notify("info", f"{len(paths) - len(fresh)} image(s) are samples of this product already")
        if not fresh:
            return 0
        n = train.capture.import_paths(fresh, "good")
        if not n:
            return 0
        self.record(
            "add to good set",
            "samples",
            None,
            [p.name for p in fresh],
            note=f"false rejects → {train.product.text().strip()} good samples",
        )
        if self.refit:
            if train.start_training():
                train.notify(
                    "info", f"refitting with {n} false reject(s) added as good: deploy after checking it"
                )
            else:
                train.notify("warning", "added to the good set; train again when the current task ends")
        return n
