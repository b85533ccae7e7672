"""Create or update a recipe after training (`aoi train --recipe NAME`, the GUI's train-and-deploy)."""

from __future__ import annotations

import os
from pathlib import Path

from inspection_core.recipe import Recipe, creation_info
from inspection_core.recipes.store import RecipeStore


def recipe_after_training(
    store: RecipeStore,
    name: str,
    model_dir: str | os.PathLike[str],
    source: str = "aoi train",
    notes: str = "",
) -> Recipe:
    """Save a new version of `name` that uses the freshly trained model.

    An existing recipe keeps its camera settings, ROI, minimum area, pixel size and tiling; its image
    and pixel thresholds return to the new model's calibration (0.5), since the old ones were tuned
    on the old model's scores; the old values stay in the history and can be restored.
    """
    model = str(Path(model_dir).resolve())
    if store.exists(name):
        old = store.load(name)
        recipe = old.apply_thresholds(0.5, 0.5, note="model retrained: thresholds reset to its calibration")
        recipe = recipe.with_(model_dir=model, base_dir=None, notes=notes or old.notes)
    else:
        recipe = Recipe(name=name, model_dir=model, notes=notes, created=creation_info(source))
    return store.save(recipe)
