from inspection_core.models.patchcore.model import PatchCore, PatchCoreConfig

__all__ = ["PatchCore", "PatchCoreConfig"]
