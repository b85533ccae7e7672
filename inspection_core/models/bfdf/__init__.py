from inspection_core.models.bfdf.model import BFDF, BFDFConfig
from inspection_core.postprocess.foreground import foreground_roi, otsu_foreground

__all__ = ["BFDF", "BFDFConfig", "foreground_roi", "otsu_foreground"]
