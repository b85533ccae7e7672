from inspection_core.models.sidn.model import SIDN, SIDNConfig

__all__ = ["SIDN", "SIDNConfig"]
