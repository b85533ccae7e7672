"""Images, datasets in MVTec AD layout, tiling of large frames and defect synthesis."""

from inspection_core.data.dataset import MVTecDataset, Sample, find_images
from inspection_core.data.imageio import IMAGE_EXTENSIONS, imread, imwrite, read_mask, to_rgb_float
from inspection_core.data.synthesis import DefectSynthesizer, perlin_mask, perlin_noise
from inspection_core.data.tiling import TileGrid, stitch_tiles

__all__ = [
    "IMAGE_EXTENSIONS",
    "DefectSynthesizer",
    "MVTecDataset",
    "Sample",
    "TileGrid",
    "find_images",
    "imread",
    "imwrite",
    "perlin_mask",
    "perlin_noise",
    "read_mask",
    "stitch_tiles",
    "to_rgb_float",
]
