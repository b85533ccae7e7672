"""SCL-VI: self-supervised context learning + Patch SVDD with affinity fusion (registered as `sclvi`)."""

from inspection_core.models.sclvi.model import SCLVI, SCLVIConfig

__all__ = ["SCLVI", "SCLVIConfig"]
