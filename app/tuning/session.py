"""What the tuning workspace edits: the post-processing settings and their history, maybe in a recipe.

Slider moves change `settings` (live, not persisted). `apply` makes them the product's settings: with a
recipe and a store it saves a new recipe version whose history keeps the replaced thresholds; without
one (a bare model) it keeps settings and history in memory. `restore` goes back one history entry.
An applied version records the inference backend the thresholds were chosen on (`backend_of`, set by
the window: the live model's), as `aoi calibrate --write` does.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from inspection_core.calibration.history import ThresholdEntry, apply_thresholds, restore_thresholds
from inspection_core.postprocess.settings import PostprocessSettings
from inspection_core.recipe import Recipe, RecipeError
from inspection_core.recipes.store import RecipeStore


class TuningSession(QObject):
    settingsChanged = Signal(object)  # PostprocessSettings being tried (not yet applied)
    applied = Signal(object)  # PostprocessSettings now in force (after apply/restore)
    recipeSaved = Signal(object)  # Recipe (new version)

    def __init__(
        self,
        settings: PostprocessSettings | None = None,
        recipe: Recipe | None = None,
        store: RecipeStore | None = None,
    ) -> None:
        super().__init__()
        self.recipe = recipe
        self.store = store
        base = recipe.postprocess if recipe is not None else (settings or PostprocessSettings())
        self.committed = base
        self.settings = base
        self.history: tuple[ThresholdEntry, ...] = recipe.history if recipe is not None else ()
        self.backend_of: Callable[[], str] | None = None  # the backend the tried settings were seen on

    def set_recipe(self, recipe: Recipe | None) -> None:
        self.recipe = recipe
        if recipe is not None:
            self.committed = self.settings = recipe.postprocess
            self.history = recipe.history
            self.settingsChanged.emit(self.settings)
            self.applied.emit(self.settings)

    def detach(self, settings: PostprocessSettings) -> None:
        """No recipe is live any more (a bare model is): start from `settings`, with no history, so an
        Apply can never save into the recipe that was live before (issue #25)."""
        self.recipe = None
        self.history = ()
        self.set_base(settings)

    def set_base(self, settings: PostprocessSettings) -> None:
        """Start from these committed settings (the live ones) without touching the history."""
        self.committed = self.settings = settings
        self.settingsChanged.emit(settings)

    def set_settings(self, settings: PostprocessSettings) -> None:
        if settings != self.settings:
            self.settings = settings
            self.settingsChanged.emit(settings)

    def update(self, **kw: object) -> None:
        self.set_settings(self.settings.with_(**kw))

    @property
    def dirty(self) -> bool:
        return self.settings != self.committed

    def apply(self, note: str = "tuning workspace") -> PostprocessSettings:
        """Commit the tried settings; the replaced thresholds go into the history (and a new recipe version)."""
        s = self.settings
        new, hist = apply_thresholds(
            self.committed, self.history, s.image_threshold, s.pixel_threshold, s.min_defect_area, note
        )
        new = new.with_(roi=s.roi, smoothing_sigma=s.smoothing_sigma, pixel_size_mm=s.pixel_size_mm)
        self._commit(new, hist, self.backend_of() if self.backend_of is not None else "")
        return new

    def restore(self, index: int = -1) -> PostprocessSettings:
        """Back to history[index] (default: the values before the last apply); RecipeError if none."""
        try:
            new, hist = restore_thresholds(self.committed, self.history, index)
        except IndexError as exc:
            raise RecipeError(str(exc)) from None
        self._commit(new, hist)
        return new

    def _commit(self, new: PostprocessSettings, hist: tuple[ThresholdEntry, ...], backend: str = "") -> None:
        """`backend`: what the new thresholds were validated on ("" keeps the recipe's)."""
        if self.recipe is not None:
            changed = self.recipe.with_(postprocess=new, history=hist, backend=backend or self.recipe.backend)
        if self.recipe is not None and self.store is not None:
            saved = self.store.save(changed)
            self.recipe = saved
            self.recipeSaved.emit(saved)
        elif self.recipe is not None:
            self.recipe = changed
        self.committed, self.history = new, hist
        self.settings = new
        self.settingsChanged.emit(new)
        self.applied.emit(new)
