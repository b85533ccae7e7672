"""Engineer tuning workspace (issue #5): frozen-frame re-thresholding, ROI, validation on labelled folders.

Widgets take core objects (FrozenFrame, ValidationRun, Inspector, RecipeStore) and never run inference
on the GUI thread; one widget per module.
"""

from app.tuning.session import TuningSession
from app.tuning.workspace import TuningWorkspace

__all__ = ["TuningSession", "TuningWorkspace"]
