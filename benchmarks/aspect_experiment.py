"""Experiment: stretched vs aspect-preserving (letterbox + reflect padding) input for PatchCore on magnetic tile.

Usage: python benchmarks/aspect_experiment.py MODE CANVAS [N_TRAIN] [OPTIONS_JSON]
MODE stretch|pad; CANVAS model input side; N_TRAIN first N good train images (0 = all);
OPTIONS_JSON extra PatchCore options. Prints one JSON line; metrics at 256² like `aoi eval`
(the map's content box is cut out of the padded canvas and resized like the masks).
"""

import json
import sys
import time

import cv2
import numpy as np
import torch

from inspection_core.data.dataset import MVTecDataset
from inspection_core.data.imageio import imread, to_rgb_float
from inspection_core.metrics.curves import aupro, auroc
from inspection_core.models.registry import create_model
from inspection_core.runtime.context import FitContext

mode, canvas = sys.argv[1], int(sys.argv[2])
limit = int(sys.argv[3]) if len(sys.argv) > 3 else 0
extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
torch.set_num_threads(2)
ds = MVTecDataset(".data/magnetic_tile")
train = ds.train[:limit] if limit else ds.train
test = ds.require_test()


def prep(img):
    """-> (canvas×canvas float RGB, content box (y0, y1, x0, x1))"""
    h, w = img.shape[:2]
    if mode == "stretch":
        return to_rgb_float(img, (canvas, canvas)), (0, canvas, 0, canvas)
    s = canvas / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    r = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    top, left = (canvas - nh) // 2, (canvas - nw) // 2
    r = cv2.copyMakeBorder(r, top, canvas - nh - top, left, canvas - nw - left, cv2.BORDER_REFLECT_101)
    return to_rgb_float(r), (top, top + nh, left, left + nw)


t0 = time.time()
x = torch.from_numpy(np.stack([prep(imread(s.path))[0].transpose(2, 0, 1) for s in train]))
model = create_model("patchcore", image_size=(canvas, canvas), **extra)
model.fit(x, FitContext(device=torch.device("cpu")))
model.eval()
t_fit = time.time() - t0
S = 256
scores, maps, gts = [], [], []
with torch.inference_mode():
    for i in range(0, len(test), 16):
        chunk = test[i : i + 16]
        ps = [prep(imread(s.path)) for s in chunk]
        m, sc = model.predict(torch.from_numpy(np.stack([p[0].transpose(2, 0, 1) for p in ps])))
        for j, s in enumerate(chunk):
            y0, y1, x0, x1 = ps[j][1]
            maps.append(cv2.resize(m[j].numpy()[y0:y1, x0:x1], (S, S), interpolation=cv2.INTER_LINEAR))
            gts.append(s.load_mask((S, S)) if s.label else np.zeros((S, S), bool))
        scores.extend(sc.tolist())
labels = np.array([s.label for s in test])
maps, gts = np.stack(maps), np.stack(gts)
r = dict(
    mode=mode,
    canvas=canvas,
    options=extra,
    n_train=len(train),
    fit_s=round(t_fit, 1),
    image=auroc(labels, np.array(scores)),
    pixel=auroc(gts.ravel(), maps.ravel()),
    aupro=aupro(gts, maps),
    total_s=round(time.time() - t0, 1),
)
print(json.dumps(r))
