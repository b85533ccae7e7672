"""NDP-Net on a tiny CPU configuration: modules, losses, training phases, time box (seconds in total).

What every model must do (cancel, save/load, bad options, …) is in test_model_contract.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inspection_core.data import DefectSynthesizer
from inspection_core.errors import DataError
from inspection_core.models import create_model
from inspection_core.models.layers import median_filter
from inspection_core.models.ndpnet import NDPNet
from inspection_core.models.ndpnet.layers import RBFRM, mean_filter
from inspection_core.models.ndpnet.losses import PerceptualLoss
from inspection_core.models.ndpnet.model import NDPNetConfig
from inspection_core.models.ndpnet.train import (
    DefectPairs,
    choose_reference,
    phase1_losses,
    phase2_losses,
    start_phase2,
)
from inspection_core.runtime import FitContext
from inspection_core.runtime.context import ProgressEvent

TINY = {"image_size": (32, 32), "width": 4, "batch_size": 4, "epochs": 1, "phase2_epochs": 1, "workers": 0}


@pytest.fixture(autouse=True)
def _torch_setup() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


def textures(n: int, size: tuple[int, int] = (32, 32), seed: int = 0) -> torch.Tensor:
    """Good 'fabric': oriented stripes with a little noise, slightly different per image."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((n, 3, h, w), np.float32)
    for i in range(n):
        phase = rng.uniform(0, 2 * np.pi)
        base = 0.5 + 0.25 * np.sin(0.8 * xx + 0.3 * yy + phase)
        out[i] = np.clip(base + rng.normal(0, 0.03, (h, w)), 0, 1)[None]
    return torch.from_numpy(out)


def defect_batch(n: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    good = textures(n, seed=seed)
    syn = DefectSynthesizer(seed=seed, fills=("noise", "procedural"))
    bad, mask = syn.batch(good.permute(0, 2, 3, 1).numpy(), p_anomaly=1.0)
    return good, torch.from_numpy(bad).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(mask)[:, None]


@pytest.mark.parametrize("k", [2, 4])
def test_rbfrm_returns_reference_for_reference_input(k: int) -> None:
    ref = torch.randn(1, 8, 8, 12)
    out = RBFRM(k, temperature=0.02)(ref, ref)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("k", [2, 4])
def test_rbfrm_rebuilds_shuffled_reference_patches(k: int) -> None:
    """An input made of the reference's patches in another order comes back unchanged (each patch
    finds its twin), also on a size that is not a multiple of k (padding)."""
    ref = torch.randn(1, 6, 8, 8)
    cols = torch.nn.functional.unfold(ref, k, stride=k)
    perm = torch.randperm(cols.shape[-1])
    x = torch.nn.functional.fold(cols[..., perm], (8, 8), k, stride=k).repeat(2, 1, 1, 1)
    torch.testing.assert_close(RBFRM(k)(x, ref), x, atol=1e-4, rtol=1e-4)
    odd = torch.randn(1, 6, 7, 10)
    assert RBFRM(k)(odd, odd).shape == odd.shape
    torch.testing.assert_close(RBFRM(k)(odd, odd), odd, atol=1e-4, rtol=1e-4)


def test_rbfrm_output_is_built_from_reference_only() -> None:
    """With a sharp softmax every output patch is one of the reference's patches."""
    ref = torch.randn(1, 4, 4, 4)
    out = RBFRM(2, temperature=1e-4)(torch.randn(3, 4, 4, 4), ref)
    ref_cols = torch.nn.functional.unfold(ref, 2, stride=2)[0].T  # (L, D)
    out_cols = torch.nn.functional.unfold(out, 2, stride=2).transpose(1, 2).reshape(-1, ref_cols.shape[1])
    assert torch.cdist(out_cols, ref_cols).min(1).values.max() < 1e-3


def test_shapes_at_every_scale() -> None:
    model = create_model("ndpnet", image_size=(48, 64), width=4)
    model.set_reference(torch.rand(3, 48, 64), 0)
    model.eval()
    x = torch.rand(2, 3, 48, 64)
    feats = model.encoder(x)
    assert [tuple(f.shape) for f in feats] == [
        (2, c, 48 // 2**i, 64 // 2**i) for i, c in enumerate(model.widths)
    ]
    with torch.no_grad():
        recon, repaired = model.reconstruct(feats)
    assert [r.shape for r in repaired] == [f.shape for f in feats[2:]]
    assert recon.shape == x.shape and float(recon.min()) >= 0 and float(recon.max()) <= 1
    logits = model.segment(feats, recon)
    assert [tuple(lg.shape) for lg in logits] == [(2, 1, 48 // 2**i, 64 // 2**i) for i in range(3)]
    assert model.msdsm.fuse(logits).shape == (2, 1, 48, 64)
    maps, scores = model.predict(torch.rand(3, 3, 40, 56))  # not multiples of 16: padded and cropped
    assert maps.shape == (3, 40, 56) and scores.shape == (3,)
    torch.testing.assert_close(scores, maps.flatten(1).amax(1))


def test_map_filters_match_numpy() -> None:
    x = torch.rand(2, 1, 9, 11)
    pad = np.pad(x.numpy(), ((0, 0), (0, 0), (2, 2), (2, 2)), mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(pad, (5, 5), axis=(2, 3))
    np.testing.assert_allclose(median_filter(x, 5).numpy(), np.median(win, (-2, -1)), atol=1e-6)
    np.testing.assert_allclose(mean_filter(x, 5).numpy(), win.mean((-2, -1)), atol=1e-6)
    # the unfold path (k > 5, and every k on a GPU) in row chunks
    pad7 = np.pad(x.numpy(), ((0, 0), (0, 0), (3, 3), (3, 3)), mode="edge")
    win7 = np.lib.stride_tricks.sliding_window_view(pad7, (7, 7), axis=(2, 3))
    np.testing.assert_allclose(median_filter(x, 7, rows_per_chunk=4).numpy(), np.median(win7, (-2, -1)))


def _train_steps(model: NDPNet, fn, perc, params, steps: int = 6) -> dict[str, list[float]]:
    opt = torch.optim.Adam(params, 3e-3)
    good, bad, mask = defect_batch()
    hist: dict[str, list[float]] = {}
    for _ in range(steps):
        out = fn(model, perc, good, bad, mask)
        opt.zero_grad()
        out.total.backward()
        opt.step()
        for k, v in {"total": out.total, **out.terms}.items():
            hist.setdefault(k, []).append(float(v.detach()))
    return hist


WEIGHTS = {
    "mse": "mse_weight",
    "perceptual": "perceptual_weight",
    "perception": "perception_weight",
    "repair": "repair_weight",
    "seg": "seg_weight",
}


@pytest.mark.parametrize(
    ("phase", "term"),
    [
        (1, "total"),
        (1, "mse"),
        (1, "perceptual"),
        (1, "perception"),
        (2, "total"),
        (2, "mse"),
        (2, "perceptual"),
        (2, "repair"),
        (2, "seg"),
    ],
)
def test_each_loss_is_finite_and_decreases(phase: int, term: str) -> None:
    """Trained alone (the other weights 0), every loss term goes down; so does the weighted total."""
    weights = {} if term == "total" else {w: float(t == term) for t, w in WEIGHTS.items()}
    model = create_model("ndpnet", **TINY, **weights)
    cfg = model.config
    perc = PerceptualLoss() if cfg.perceptual_weight > 0 else None
    model.train()
    if phase == 1:
        params = [*model.encoder.parameters(), *model.decoder.parameters()]
        hist = _train_steps(model, phase1_losses, perc, params)
    else:
        choose_reference(model, textures(4, seed=1), FitContext())
        hist = _train_steps(model, phase2_losses, perc, start_phase2(model))
    expected = {"total", "mse", "perception"} if phase == 1 else {"total", "mse", "repair", "seg"}
    assert set(hist) == expected | ({"perceptual"} if perc else set())
    values = hist[term]
    assert all(math.isfinite(v) for v in values), values
    assert np.mean(values[-2:]) < values[0], f"phase {phase} {term} did not decrease: {values}"


def test_phase2_keeps_the_encoder_frozen() -> None:
    model = create_model("ndpnet", **TINY)
    choose_reference(model, textures(4), FitContext())
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    model.train()
    _train_steps(model, phase2_losses, None, start_phase2(model), steps=2)
    for k, v in model.encoder.state_dict().items():
        torch.testing.assert_close(v, before[k], msg=f"encoder tensor {k} changed in phase 2")


def test_defect_pairs_make_masked_defects() -> None:
    images = textures(3)
    cfg = NDPNetConfig(**TINY, anomaly_prob=1.0, augment=False, fills="noise", blend_max=0.0)
    ds = DefectPairs(images, seed=0, cfg=cfg)
    good, bad, mask = ds[1]
    torch.testing.assert_close(good, images[1])
    assert mask.shape == (1, 32, 32) and mask.sum() > 0
    outside = (mask == 0).expand_as(bad)
    torch.testing.assert_close(bad[outside], good[outside])
    assert not torch.equal(bad, good)
    # blend_max 0: the noise fill replaces the good texture inside the mask, nothing of it is kept
    inside = (mask > 0).expand_as(bad)
    assert not torch.isclose(bad[inside], good[inside], atol=1e-3).all()


def test_fit_runs_both_phases_and_max_seconds_cuts_each_short() -> None:
    events: list[ProgressEvent] = []
    opts = {**TINY, "epochs": 50, "phase2_epochs": 50, "max_seconds": 1e-6}
    model = create_model("ndpnet", **opts)
    model.fit(textures(4), FitContext(progress=events.append))
    assert not model.training
    assert "reference" in [e.stage for e in events]
    steps = [e for e in events if e.stage.startswith("phase")]
    assert [e.stage for e in steps] == ["phase1", "phase2"]  # one step each: the time box is over at once
    assert all(e.loss is not None and math.isfinite(e.loss) for e in steps)
    assert steps[-1].step == steps[-1].total == 2, "the plan shrinks so the last event shows 100 %"
    assert 0 <= model.reference_index < 4
    maps, scores = model.predict(textures(2, seed=5))
    assert maps.shape == (2, 32, 32) and torch.isfinite(maps).all() and torch.isfinite(scores).all()


def test_old_files_with_the_former_time_box_name_still_load() -> None:
    cfg = NDPNet.Config.from_dict({"time_budget_s": 140.0, "epochs": 3})  # a model.json from before
    assert (cfg.max_seconds, cfg.epochs) == (140.0, 3)


def test_bad_input_is_a_clear_error() -> None:
    model = create_model("ndpnet", **TINY)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(torch.rand(1, 3, 32, 32))
    model.set_reference(torch.rand(3, 32, 32), 0)
    with pytest.raises(DataError, match="RGB"):
        model.predict(torch.rand(1, 1, 32, 32))
    with pytest.raises(DataError, match="16x16"):
        model.fit(torch.rand(2, 3, 8, 8), FitContext())


def test_cosine_lr_schedule() -> None:
    from inspection_core.models.ndpnet.train import cosine_lr

    lrs = [cosine_lr(1e-3, f) for f in np.linspace(0, 1, 11)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(5e-5)
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
