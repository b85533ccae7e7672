from inspection_core.models.bfdf.foreground import foreground_roi, otsu_foreground
from inspection_core.models.bfdf.model import BFDF, BFDFConfig

__all__ = ["BFDF", "BFDFConfig", "foreground_roi", "otsu_foreground"]
