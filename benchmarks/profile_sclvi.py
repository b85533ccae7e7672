"""Where SCL-VI's 256×256 batch-1 latency goes on a GPU (issue #9 target: ≤ 20 ms), and what the levers buy.

Usage: python benchmarks/profile_sclvi.py --out FILE.json [--device cuda] [--model-dir DIR]
Without --model-dir the encoders are untrained and the memory is random (timing does not depend on
the weights). Times the dense patch scan (encoder), the kNN search per scale, and the whole predict
(eager and CUDA-graph replay) for: the shipped settings, cuDNN autotuning, channels-last, a
smaller memory, stride 8 for the 32 px scan, and a two-stage top-k. Not a test: evidence for the README.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import torch
from profile_gpu import timed as gpu_timed  # benchmarks/ is on sys.path when run as a script
from provenance import record, write_json

from inspection_core.models.bundle import load_bundle
from inspection_core.models.graphs import GraphedPredict
from inspection_core.models.registry import create_model
from inspection_core.models.sclvi.affinity import affinity_scores, knn_distances
from inspection_core.runtime import resolve_device


def timed(fn: Callable[[], Any], dev: torch.device, iters: int) -> float:
    """Median ms of `fn` (profile_gpu's timer, device-synchronised)."""
    return round(gpu_timed(fn, dev, iters, warmup=3)["median_ms"], 3)


def topk_two_stage(query: torch.Tensor, memory: torch.Tensor, k: int, block: int = 1024) -> torch.Tensor:
    """Exact k nearest distances via top-k per memory block, then top-k of the candidates."""
    mem = memory.float()
    m_sq = (mem * mem).sum(1)
    q = query.float()
    d2 = (q @ mem.T).mul_(-2).add_((q * q).sum(1, keepdim=True)).add_(m_sq)
    m = d2.shape[1]
    pad = (-m) % block
    if pad:
        d2 = torch.nn.functional.pad(d2, (0, pad), value=float("inf"))
    cand = torch.topk(d2.view(d2.shape[0], -1, block), k, dim=2, largest=False).values.flatten(1)
    return torch.topk(cand, k, dim=1, largest=False).values.clamp_min_(0).sqrt_()


def load_or_random(model_dir: str, dev: torch.device) -> Any:
    """The trained model in model_dir, or (no dir) an untrained full-size SCL-VI with a random memory:
    timing does not depend on the weights."""
    if model_dir:
        return load_bundle(model_dir, device=dev).model.eval()
    model = create_model("sclvi").to(dev)
    d = model.config.embed_dim
    g = torch.Generator(device="cpu").manual_seed(0)
    model.memory32 = torch.tanh(torch.randn(model.config.memory_size, d, generator=g)).to(dev)
    model.memory64 = torch.tanh(torch.randn(model.config.memory_size, d, generator=g)).to(dev)
    return model.eval()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--model-dir", default="")
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    dev = resolve_device(args.device)
    model = load_or_random(args.model_dir, dev)
    cfg = model.config
    x = torch.rand(1, 3, *cfg.image_size, device=dev)
    out: dict[str, Any] = {
        **record(dev),
        "config": cfg.to_dict() if hasattr(cfg, "to_dict") else str(cfg),
        "weights": "trained" if args.model_dir else "untrained, random memory",
        "rows": [],
    }

    def row(name: str, **vals: Any) -> None:
        r = {"case": name, **vals}
        out["rows"].append(r)
        print(json.dumps(r), flush=True)

    with torch.inference_mode():
        xs = model._pad(model.standardize(x))
        e32, e64 = model.embed_dense(xs)
        q32 = e32.permute(0, 2, 3, 1).reshape(-1, e32.shape[1])
        q64 = e64.permute(0, 2, 3, 1).reshape(-1, e64.shape[1])
        row("shapes", queries32=q32.shape[0], queries64=q64.shape[0], memory=int(model.memory32.shape[0]))
        row("predict eager", ms=timed(lambda: model.predict(x), dev, args.iters))
        if dev.type == "cuda":
            gp = GraphedPredict(model)
            gp(x)
            row("predict cuda graph", ms=timed(lambda: gp(x), dev, args.iters), captured=gp.captured)
        row("embed_dense (encoder scan + head)", ms=timed(lambda: model.embed_dense(xs), dev, args.iters))
        mem = model.memory32
        k = cfg.neighbours
        row("knn 32 px, shipped (chunk 2048)", ms=timed(lambda: knn_distances(q32, mem, k), dev, args.iters))
        row(
            "knn 32 px, one chunk",
            ms=timed(lambda: knn_distances(q32, mem, k, chunk=1 << 16), dev, args.iters),
        )
        row("knn 64 px", ms=timed(lambda: knn_distances(q64, model.memory64, k), dev, args.iters))
        ref = knn_distances(q32, mem, k)
        two = topk_two_stage(q32, mem, k)
        row(
            "knn 32 px, two-stage top-k",
            ms=timed(lambda: topk_two_stage(q32, mem, k), dev, args.iters),
            max_abs_err=float((two - ref).abs().max()),
        )
        mm = mem.float()
        row("matmul only 32 px", ms=timed(lambda: q32.float() @ mm.T, dev, args.iters))
        dist = torch.rand(q32.shape[0], mem.shape[0], device=dev)
        row(
            "topk only 32 px",
            ms=timed(lambda d=dist: torch.topk(d, k, dim=1, largest=False), dev, args.iters),
        )
        del dist
        for m in (50_000, 25_000, 10_000):
            sub = mem[:m]
            row(
                f"affinity scores 32 px, memory {m}",
                ms=timed(lambda s=sub: affinity_scores(q32, s, k), dev, args.iters),
            )
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
            model.embed_dense(xs)
            row("embed_dense, cudnn.benchmark", ms=timed(lambda: model.embed_dense(xs), dev, args.iters))
            model.to(memory_format=torch.channels_last)
            model.embed_dense(xs)
            row(
                "embed_dense, cudnn.benchmark + channels-last",
                ms=timed(lambda: model.embed_dense(xs), dev, args.iters),
            )
            model.to(memory_format=torch.contiguous_format)
            row("predict eager, cudnn.benchmark", ms=timed(lambda: model.predict(x), dev, args.iters))
            gp = GraphedPredict(model)
            gp(x)
            row("predict cuda graph, cudnn.benchmark", ms=timed(lambda: gp(x), dev, args.iters))
            torch.backends.cudnn.benchmark = False
        old = cfg.stride_32
        cfg.stride_32 = 8
        xs8 = model._pad(model.standardize(x))
        row("embed_dense, stride 8", ms=timed(lambda: model.embed_dense(xs8), dev, args.iters))
        row("predict eager, stride 8", ms=timed(lambda: model.predict(x), dev, args.iters))
        cfg.stride_32 = old
    return write_json(args.out, out)


if __name__ == "__main__":
    raise SystemExit(main())
