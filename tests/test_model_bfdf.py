"""BFDF: Otsu foreground, negatives on the product only, CA/PANet, losses, fit, a fine-tuned encoder saved.

What every model must do (cancel, save/load, bad options, …) is in test_model_contract.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspection_core.models import create_model, load_bundle
from inspection_core.models.bfdf.layers import CoordAttention, PANet
from inspection_core.models.bfdf.losses import bfdf_loss, dice_loss, focal_loss, l1_loss
from inspection_core.models.bfdf.train import PairSampler, lr_factor
from inspection_core.postprocess.foreground import foreground_roi, otsu_foreground
from inspection_core.runtime import FitContext
from inspection_core.training.fit import train_model

TINY = {"image_size": (64, 64), "channels": 16, "batch_size": 4, "steps": 3, "n_references": 2}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


def two_level(h: int = 64, w: int = 64, dark_object: bool = False, seed: int = 0) -> np.ndarray:
    """A product (rectangle) on a plain background, with a little sensor noise; HxWx3 float."""
    rng = np.random.default_rng(seed)
    bg, fg = (0.85, 0.2) if dark_object else (0.1, 0.75)
    img = np.full((h, w), bg, np.float32)
    img[h // 4 : 3 * h // 4, w // 5 : 4 * w // 5] = fg
    img += rng.normal(0, 0.03, (h, w)).astype(np.float32)
    return np.repeat(np.clip(img, 0, 1)[..., None], 3, axis=2)


def texture(h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = np.clip(0.5 + rng.normal(0, 0.15, (h, w)), 0, 1).astype(np.float32)
    return np.repeat(g[..., None], 3, axis=2)


def product_box(h: int = 64, w: int = 64) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[h // 4 : 3 * h // 4, w // 5 : 4 * w // 5] = True
    return m


# --- foreground --------------------------------------------------------------------------------
@pytest.mark.parametrize("dark_object", [False, True])
def test_otsu_foreground_finds_the_product_on_a_two_level_image(dark_object: bool) -> None:
    fg = otsu_foreground(two_level(dark_object=dark_object))
    truth = product_box()
    iou = (fg & truth).sum() / (fg | truth).sum()
    assert iou > 0.95


def test_otsu_foreground_is_the_whole_frame_for_a_texture() -> None:
    assert otsu_foreground(texture()).all()
    assert foreground_roi(texture()) is None


def test_foreground_roi_outlines_the_product() -> None:
    roi = foreground_roi((two_level() * 255).astype(np.uint8))
    assert roi is not None and roi.kind == "polygon"
    xs, ys = zip(*roi.points, strict=True)
    assert abs(min(xs) - 64 // 5) <= 2 and abs(max(xs) - (4 * 64 // 5 - 1)) <= 2
    assert abs(min(ys) - 64 // 4) <= 2 and abs(max(ys) - (3 * 64 // 4 - 1)) <= 2


def test_foreground_roi_of_a_large_frame_is_found_small_and_given_in_frame_pixels() -> None:
    img = np.full((2048, 2448), 20, np.uint8)
    img[400:1600, 600:2000] = 200
    roi = foreground_roi(img)
    assert roi is not None
    xs, ys = zip(*roi.points, strict=True)
    assert abs(min(xs) - 600) <= 6 and abs(max(xs) - 2000) <= 6
    assert abs(min(ys) - 400) <= 6 and abs(max(ys) - 1600) <= 6


# --- negatives ---------------------------------------------------------------------------------
def test_negatives_are_synthesised_only_inside_the_foreground() -> None:
    imgs = torch.from_numpy(np.stack([two_level(seed=s) for s in range(4)]).transpose(0, 3, 1, 2).copy())
    sampler = PairSampler(
        imgs,
        np.zeros(4, int),
        batch_size=8,
        same_prob=1.0,
        reference_prob=0.0,
        anomaly_prob=1.0,
        use_foreground=True,
        seed=3,
    )
    pos, neg, mask = sampler.batch()
    assert pos.shape == neg.shape == (8, 3, 64, 64) and mask.shape == (8, 1, 64, 64)
    assert pos.dtype == neg.dtype == mask.dtype == torch.uint8
    for p, n, m in zip(pos.numpy(), neg.numpy(), mask[:, 0].numpy(), strict=True):
        fg = otsu_foreground(p.transpose(1, 2, 0))
        assert m.sum() > 0, "every negative must carry a defect when anomaly_prob=1"
        assert not (m.astype(bool) & ~fg).any(), "defect mask leaks outside the product"
        changed = np.abs(n.astype(np.int16) - p).max(0) > 0
        assert not (changed & ~m.astype(bool)).any(), "pixels changed outside the defect mask"


def test_clean_negatives_have_empty_masks() -> None:
    imgs = torch.rand(3, 3, 32, 32)
    sampler = PairSampler(
        imgs,
        np.zeros(3, int),
        batch_size=4,
        same_prob=1.0,
        reference_prob=0.0,
        anomaly_prob=0.0,
        use_foreground=False,
        seed=0,
    )
    pos, neg, mask = sampler.batch()
    assert mask.sum() == 0 and torch.equal(pos, neg)


# --- layers --------------------------------------------------------------------------------------
def test_coordinate_attention_keeps_shape_and_depends_on_position() -> None:
    ca = CoordAttention(16).eval()
    x = torch.rand(2, 16, 8, 12)
    y = ca(x)
    assert y.shape == x.shape
    ratio = y / x.clamp_min(1e-6)
    assert not torch.allclose(ratio[:, :, 0, 0], ratio[:, :, -1, -1]), "attention ignores position"


@pytest.mark.parametrize("sizes", [[(16, 16), (8, 8), (4, 4)], [(15, 9), (8, 5), (4, 3)]])
def test_panet_returns_one_map_per_level_at_each_level_size(sizes: list[tuple[int, int]]) -> None:
    pan = PANet(8, len(sizes)).eval()
    outs = pan([torch.rand(2, 8, h, w) for h, w in sizes])
    assert [tuple(o.shape) for o in outs] == [(2, 8, h, w) for h, w in sizes]
    with pytest.raises(ValueError):
        pan([torch.rand(2, 8, 4, 4)])


def test_forward_pair_gives_full_size_logits() -> None:
    m = create_model("bfdf", **TINY)
    x = torch.rand(2, 3, 64, 64)
    assert m.forward_pair(x, torch.rand(2, 3, 64, 64)).shape == (2, 1, 64, 64)


# --- losses --------------------------------------------------------------------------------------
def test_losses_are_finite_and_fall_as_predictions_approach_the_mask() -> None:
    target = torch.zeros(2, 1, 16, 16)
    target[:, :, 4:10, 4:10] = 1
    worse, better = torch.zeros_like(target), (target * 2 - 1) * 4
    for fn in (focal_loss, l1_loss, dice_loss):
        a, b = fn(worse, target), fn(better, target)
        assert torch.isfinite(a) and torch.isfinite(b) and b < a, fn.__name__
    total, parts = bfdf_loss(better, torch.zeros_like(target), 1.0, 0.2, 0.8)
    assert torch.isfinite(total) and set(parts) == {"focal", "l1", "dice"}
    with pytest.raises(ValueError):
        bfdf_loss(better, target, 0, 0, 0)


def test_training_on_a_fixed_batch_lowers_the_loss() -> None:
    m = create_model("bfdf", **TINY)
    imgs = torch.from_numpy(np.stack([two_level(seed=s) for s in range(4)]).transpose(0, 3, 1, 2).copy())
    sampler = PairSampler(
        imgs,
        np.zeros(4, int),
        batch_size=4,
        same_prob=0.5,
        reference_prob=0.0,
        anomaly_prob=1.0,
        use_foreground=True,
        seed=1,
    )
    pos, neg, mask = (t.float() for t in sampler.batch())
    pos, neg = pos / 255, neg / 255
    opt = torch.optim.Adam(m.head.parameters(), lr=3e-3)
    m.train()
    losses = []
    for _ in range(12):
        loss, _ = bfdf_loss(m.forward_pair(neg, pos), mask, 0.0, 0.2, 0.8)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < losses[0] - 0.01


def test_lr_schedule_warms_up_then_decays() -> None:
    f = [lr_factor(s / 100) for s in range(101)]
    assert f[0] < f[4] <= 1.0 and f[-1] == pytest.approx(0.05) and max(f) == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[5:], f[6:], strict=False)), "not decaying after warmup"


# --- fit / predict / save ----------------------------------------------------------------------
def test_fit_reports_progress_with_loss_and_leaves_eval_mode() -> None:
    m = create_model("bfdf", **TINY)
    events = []
    m.fit(torch.rand(5, 3, 64, 64), FitContext(progress=events.append))
    train = [e for e in events if e.stage == "train"]
    assert [e.step for e in train] == [1, 2, 3] and all(e.total == 3 for e in train)
    assert all(e.loss is not None and np.isfinite(e.loss) for e in train)
    assert not m.training and not m.head.training
    assert m.ref_images.shape == (2, 3, 64, 64)
    maps, scores = m.predict(torch.rand(3, 3, 64, 64))
    assert maps.shape == (3, 64, 64) and scores.shape == (3,)
    assert torch.allclose(scores, maps.flatten(1).max(1).values)


def test_max_seconds_stops_training_early() -> None:
    m = create_model("bfdf", **{**TINY, "steps": 10_000, "max_seconds": 1e-6})
    events = []
    m.fit(torch.rand(4, 3, 64, 64), FitContext(progress=events.append))
    train = [e for e in events if e.stage == "train"]
    assert 1 <= len(m.losses) < 10_000 and train[-1].step == len(m.losses)
    assert train[-1].step == train[-1].total, "the last event must show 100 %"


def test_predict_before_fit_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        create_model("bfdf", **TINY).predict(torch.rand(1, 3, 64, 64))


def test_fine_tuned_encoder_is_saved(tmp_path) -> None:  # noqa: ANN001
    opts = {**TINY, "train_encoder": True, "steps": 1}
    bundle = train_model(
        "bfdf",
        list(np.random.default_rng(0).random((3, 64, 64, 3))),
        FitContext(),
        holdout=0.34,
        options=opts,
    )
    bundle.save(tmp_path / "m")
    loaded = load_bundle(tmp_path / "m")
    x = torch.rand(1, 3, 64, 64)
    torch.testing.assert_close(bundle.model.predict(x)[0], loaded.model.predict(x)[0])
