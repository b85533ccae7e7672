from inspection_core.models.fusion.model import Fusion, FusionConfig

__all__ = ["Fusion", "FusionConfig"]
