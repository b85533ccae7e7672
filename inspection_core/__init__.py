"""aoi-station's GUI-free core: cameras, data, models, post-processing, metrics, recipes, records.

Nothing in this package may import Qt or `app`; an import-linter contract in pyproject.toml enforces it.
"""

__version__ = "0.1.0"
