"""Halve a saved model's weights file for the device tool's limits: floating-point tensors → bfloat16.

A model folder has to come back from the GPU machine (16 MiB a file) and travel again beside the
dataset and wheels (64 MiB in all) to continue a long training in the next call (`aoi train
--init-from DIR`); NDP-Net's 34-MB weights do neither. Loading casts them back into the model's
float32 parameters (rounded to bf16's 8 bits of mantissa: ~0.4 % relative, harmless for a warm
restart, not for a final model). Integer tensors are kept.

Usage: python benchmarks/bf16_weights.py MODEL_DIR   (rewrites MODEL_DIR/model.safetensors in place)
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from inspection_core.models.bundle import WEIGHTS


def main() -> int:
    path = Path(sys.argv[1]) / WEIGHTS
    tensors = load_file(str(path))
    half = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in tensors.items()}
    before = path.stat().st_size
    save_file(half, str(path))
    print(f"{path}: {before / 1e6:.1f} MB → {path.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
