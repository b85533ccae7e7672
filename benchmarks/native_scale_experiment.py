"""Does inspecting magnetic tile at its native scale calm the normal parts of defective images?

The default resizes every image to 256² although the images are 222-388 px tall and 103-617 px wide:
"fray" images (median 554 px wide) are squeezed 2×, "blowhole" images (smaller) enlarged 1.3× more than
the good ones, so their texture no longer looks like the good texture anywhere — which is where the
pooled pixel AUROC is lost (pooled_auroc_diagnostic_cpu.json: the normal pixels of defective images
score far above good images). Here PatchCore is fitted on native-scale crops (CROP², reflect-padded
where an image is smaller) and predicts each test image whole at its native size (`predict_frame`, a
fully convolutional pass, padded to at least CROP); maps and masks are then resized to 256² so the
metrics compare with `aoi eval`'s. Image score = the map's peak.

Usage: python benchmarks/native_scale_experiment.py --data DIR --out FILE.json [--crop 224]
       [--crops-per-image 2] [--device cpu] [--options JSON]
Not a test and not a product feature: evidence for the next step.
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from pooled_auroc_diagnostic import separation, subsample  # benchmarks/ is on sys.path
from provenance import record, write_json

from inspection_core.data.dataset import MVTecDataset
from inspection_core.data.imageio import to_rgb_float
from inspection_core.metrics.curves import aupro, auroc
from inspection_core.models import create_model
from inspection_core.runtime import FitContext, resolve_device
from inspection_core.training.fit import split_holdout

EVAL = (256, 256)


def native(img: np.ndarray, least: int) -> torch.Tensor:
    """(1, 3, H', W') float image at native scale, reflect-padded to at least `least` on each side."""
    x = torch.from_numpy(np.ascontiguousarray(to_rgb_float(img).transpose(2, 0, 1)))[None]
    h, w = x.shape[-2:]
    ph, pw = max(0, least - h), max(0, least - w)
    while ph or pw:  # reflect padding cannot exceed the size: pad in steps
        sh, sw = min(ph, h - 1), min(pw, w - 1)
        x = F.pad(x, (0, sw, 0, sh), mode="reflect")
        h, w = x.shape[-2:]
        ph, pw = ph - sh, pw - sw
    return x


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--crops-per-image", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--options", default="{}", help="PatchCore options as JSON")
    args = ap.parse_args()
    dev = resolve_device(args.device)
    ds = MVTecDataset(args.data)
    train, test = ds.require_train(), ds.require_test()
    fit_idx, _ = split_holdout(len(train), 0.2, 0)  # the images `aoi train` would fit on
    rng = np.random.default_rng(0)
    c = args.crop
    crops = []
    for i in fit_idx:
        x = native(train[i].load(), c)[0]
        for _ in range(args.crops_per_image):
            y0 = int(rng.integers(0, x.shape[1] - c + 1))
            x0 = int(rng.integers(0, x.shape[2] - c + 1))
            crops.append(x[:, y0 : y0 + c, x0 : x0 + c])
    model = create_model("patchcore", image_size=(c, c), **json.loads(args.options))
    t0 = time.perf_counter()
    model.fit(torch.stack(crops), FitContext(device=dev))
    model.eval()
    fit_s = time.perf_counter() - t0
    maps, scores = [], []
    with torch.inference_mode():
        for s in test:
            img = s.load()
            h, w = img.shape[:2]
            m, _ = model.predict_frame(native(img, c).to(dev))
            m = m[0, :h, :w].float().cpu().numpy()
            scores.append(float(m.max()))
            maps.append(cv2.resize(m, (EVAL[1], EVAL[0]), interpolation=cv2.INTER_LINEAR))
    maps_a = np.stack(maps)
    labels = np.array([s.label for s in test])
    types = np.array([s.defect_type for s in test])
    gt = np.stack([s.load_mask(EVAL) if s.label else np.zeros(EVAL, bool) for s in test])
    uneven = gt[types == "uneven"]
    uneven_pos = maps_a[types == "uneven"][uneven]
    per_source = {"good images": maps_a[labels == 0].ravel()}
    for t in sorted(set(types[labels == 1])):
        per_source[f"{t} images, normal pixels"] = maps_a[types == t][~gt[types == t]]
    sub = np.random.default_rng(1)

    def vs(neg: np.ndarray) -> float:
        return separation(subsample(uneven_pos, sub), subsample(neg, sub))

    result = {
        "image_auroc": auroc(labels, np.array(scores)),
        "pixel_auroc": auroc(gt.ravel(), maps_a.ravel()),
        "aupro": aupro(gt, maps_a),
        "uneven_defect_vs_normal_auroc": {k: vs(v) for k, v in per_source.items()},
        "fit_seconds": round(fit_s, 1),
        "n_crops": len(crops),
    }
    print(json.dumps(result, indent=1), flush=True)
    report = {**record(dev), "config": model.config.to_dict(), "crop": c, "result": result}
    return write_json(args.out, report, indent=2)


if __name__ == "__main__":
    raise SystemExit(main())
