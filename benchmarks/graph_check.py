"""Can each model's predict be replayed from a CUDA graph, and does the replay compute the same maps?

Usage: python benchmarks/graph_check.py --out FILE.json MODEL_DIR [MODEL_DIR ...]
For each model: fresh random batches of 1 and 32 at the model size, eager predict vs GraphedPredict
(captured whatever the model's `graph_safe` says), the relative max error of maps and scores on inputs
the graph was not captured on, and the median time of both. The evidence behind `graph_safe`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from provenance import record, write_json

from inspection_core.models.bundle import load_bundle
from inspection_core.models.graphs import GraphedPredict
from inspection_core.runtime import resolve_device


def median_ms(fn: Any, iters: int = 30, warmup: int = 5) -> float:
    ts = []
    for i in range(warmup + iters):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        if i >= warmup:
            ts.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(ts))


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-9))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("model_dirs", nargs="+")
    args = ap.parse_args()
    dev = resolve_device("cuda")
    rows = []
    for d in args.model_dirs:
        row: dict[str, Any] = {"model_dir": d}
        try:
            bundle = load_bundle(d, device=dev)
            model = bundle.model
            row.update(model=model.name, graph_safe_flag=model.graph_safe)
            h, w = model.image_size
            g = GraphedPredict(model)
            with torch.inference_mode():
                for b in (1, 32):
                    torch.manual_seed(b)
                    x_cap = torch.rand(b, 3, h, w, device=dev)
                    g(x_cap)  # captures on this batch
                    x = torch.rand(b, 3, h, w, device=dev)  # fresh data: the replay must follow its input
                    me, se = model.predict(x)
                    mg, sg = g(x)
                    row[f"batch{b}"] = {
                        "map_rel_err": rel(mg, me),
                        "score_rel_err": rel(sg, se),
                        "eager_ms": median_ms(lambda x=x, p=model.predict: [t.cpu() for t in p(x)]),
                        "graph_ms": median_ms(lambda x=x, p=g: [t.cpu() for t in p(x)]),
                    }
            row["captured"] = g.captured
        except Exception as exc:  # noqa: BLE001 - record and go on to the next model
            row["error"] = repr(exc)
        rows.append(row)
        print(row, flush=True)
    return write_json(args.out, {**record(dev), "models": rows})


if __name__ == "__main__":
    raise SystemExit(main())
