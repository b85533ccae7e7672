"""Click-to-train workspace (issue #6): capture samples, train in a worker, validate, deploy as a recipe."""

from app.training.workspace import TrainingWorkspace

__all__ = ["TrainingWorkspace"]
