"""NDP-Net (Luo, Yao, Yu, IEEE TIM 2023), registered as `ndpnet`."""

from inspection_core.models.ndpnet.model import NDPNet, NDPNetConfig

__all__ = ["NDPNet", "NDPNetConfig"]
