"""Recipe store (versioned, atomic) and one-file recipe archives. The Recipe itself is in recipe.py.

Dependencies go one way: store → archive (the format, which knows no store) → recipe.
"""

from inspection_core.recipe import CameraSettings, Recipe, RecipeError, creation_info
from inspection_core.recipes.archive import export_recipe, unpack_recipe
from inspection_core.recipes.store import RecipeStore, RecipeSummary, default_root, import_recipe
from inspection_core.recipes.training import recipe_after_training

__all__ = [
    "CameraSettings",
    "Recipe",
    "RecipeError",
    "RecipeStore",
    "RecipeSummary",
    "creation_info",
    "default_root",
    "export_recipe",
    "import_recipe",
    "recipe_after_training",
    "unpack_recipe",
]
