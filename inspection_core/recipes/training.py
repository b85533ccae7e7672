"""Create or update a recipe after training (`aoi train --recipe NAME`, the training workspace's Deploy)."""

from __future__ import annotations

import os
from pathlib import Path

from inspection_core.inspector import Preprocessing
from inspection_core.recipe import CameraSettings, Recipe, creation_info
from inspection_core.recipes.store import RecipeStore


def recipe_after_training(
    store: RecipeStore,
    name: str,
    model_dir: str | os.PathLike[str],
    source: str = "aoi train",
    notes: str = "",
    preprocessing: Preprocessing | None = None,
    camera: CameraSettings | None = None,
    move_model: bool = False,
) -> Recipe:
    """Save a new version of `name` that uses the freshly trained model.

    An existing recipe keeps its ROI, minimum area, pixel size and camera extras; its image and pixel
    thresholds return to the new model's calibration (0.5), since the old ones were tuned on the old
    model's scores; the old values stay in the history and can be restored. `preprocessing` (the mode
    the model was calibrated in) replaces the recipe's, so the recipe inspects as the model was
    calibrated; `camera` (the settings the samples were captured with) is used for a new recipe only.
    move_model: the store moves the model folder in instead of copying it (a staging folder).
    The thresholds (0.5 = the calibration) were validated by the fit pipeline, which runs torch: the
    recipe records `backend="torch"` (a station on another backend says so when it runs it).
    """
    model = str(Path(model_dir).resolve())
    if store.exists(name):
        old = store.load(name)
        recipe = old.apply_thresholds(0.5, 0.5, note="model retrained: thresholds reset to its calibration")
        recipe = recipe.with_(
            model_dir=model,
            base_dir=None,
            notes=notes or old.notes,
            preprocessing=preprocessing if preprocessing is not None else old.preprocessing,
            backend="torch",
        )
    else:
        recipe = Recipe(
            name=name,
            model_dir=model,
            camera=camera or CameraSettings(),
            preprocessing=preprocessing or Preprocessing(),
            notes=notes,
            created=creation_info(source),
            backend="torch",
        )
    return store.save(recipe, move_model=move_model)
