"""Anomaly models. Importing this package registers every built-in model with the registry."""

# built-in models (each import registers one)
from inspection_core.models import (
    bfdf,  # noqa: E402,F401,I001
    fusion,  # noqa: E402,F401,I001
    ndpnet,  # noqa: E402,F401,I001
    patchcore,  # noqa: E402,F401,I001
    sclvi,  # noqa: E402,F401,I001
    sidn,  # noqa: E402,F401,I001
)
from inspection_core.models.base import AnomalyModel, ModelConfig, option
from inspection_core.models.bundle import ModelBundle, load_bundle, save_bundle
from inspection_core.models.registry import create_model, get_model_info, list_models, register_model

__all__ = [
    "AnomalyModel",
    "ModelBundle",
    "ModelConfig",
    "create_model",
    "get_model_info",
    "list_models",
    "load_bundle",
    "option",
    "register_model",
    "save_bundle",
]
