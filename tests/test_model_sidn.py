"""SIDN on CPU with a tiny configuration: losses, cluster assignment, GSRM, fit/predict, worker shutdown.

What every model must do (cancel, save/load, bad options, …) is in test_model_contract.py.
"""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest
import torch

from inspection_core.errors import CancelledError
from inspection_core.models import create_model, get_model_info, list_models
from inspection_core.models.layers import median_filter
from inspection_core.models.sidn.layers import GSRM
from inspection_core.models.sidn.losses import (
    centre_separation_loss,
    decomposition_loss,
    hypersphere_radii,
    soft_assignment,
    target_distribution,
    weighted_bce,
)
from inspection_core.models.sidn.model import SIDN
from inspection_core.models.sidn.train import SyntheticBatches, stream
from inspection_core.runtime import CancelToken, FitContext

TINY = {"channels": 4, "clusters": 3, "batch_size": 4, "image_size": (32, 32), "median_kernel": 3}


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


def textures(n: int = 8, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Striped grey textures with noise, (n, 3, size, size) in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = []
    for _ in range(n):
        g = 0.5 + 0.25 * np.sin(0.8 * xx + rng.uniform(0, 6.28)) + rng.normal(0, 0.05, (size, size))
        out.append(np.repeat(np.clip(g, 0, 1)[None], 3, axis=0))
    return torch.from_numpy(np.stack(out).astype(np.float32))


def test_registered_with_paper_defaults() -> None:
    assert "sidn" in [m.name for m in list_models()]
    opts = {name: default for name, default, _ in get_model_info("sidn").options}
    assert opts["channels"] == 16 and opts["clusters"] == 12 and opts["batch_size"] == 16
    assert opts["lr"] == pytest.approx(1e-4) and opts["majority_weight"] == pytest.approx(0.1)
    assert opts["defect_weight"] == pytest.approx(0.5) and opts["alpha"] == pytest.approx(1.0)


def test_soft_assignment_rows_sum_to_one_and_prefer_nearest_centre() -> None:
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    z = torch.tensor([[0.1, 0.2], [9.0, 1.0], [0.5, 11.0], [5.0, 5.0]])
    q, dist = soft_assignment(z, centres, alpha=1.0)
    assert q.shape == (4, 3) and dist.shape == (4, 3)
    torch.testing.assert_close(q.sum(1), torch.ones(4))
    assert q[:3].argmax(1).tolist() == [0, 1, 2]
    p = target_distribution(q)
    torch.testing.assert_close(p.sum(1), torch.ones(4))
    # the target is sharper than Q where Q is already confident
    assert p[0, 0] > q[0, 0]


def test_hypersphere_radius_is_mean_plus_three_sigma() -> None:
    dist = torch.tensor([[1.0, 9.0], [2.0, 9.0], [3.0, 9.0], [9.0, 4.0]])
    q = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.1, 0.9]])
    r = hypersphere_radii(dist, q)
    d = torch.tensor([1.0, 2.0, 3.0])
    assert r[0].item() == pytest.approx((d.mean() + 3 * d.std()).item())
    assert r[1].item() == pytest.approx(4.0)  # one member: its own distance


def test_weighted_bce_down_weights_the_majority_class() -> None:
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])  # defect is the minority
    logits = torch.zeros_like(target)
    # at logit 0 every pixel's BCE is log 2; weights 1 (defect) and 0.1 x 3 (background)
    expected = np.log(2) * (1 + 3 * 0.1) / 4
    assert weighted_bce(logits, target, 0.1).item() == pytest.approx(expected, rel=1e-5)
    # flipped target: now the 1s are the majority and get the small weight
    assert weighted_bce(logits, 1 - target, 0.1).item() == pytest.approx(expected, rel=1e-5)


def test_decomposition_and_centre_losses() -> None:
    a = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    b = torch.tensor([0.0, 2.0, 0.0]).view(1, 3, 1, 1)
    assert decomposition_loss(a, b).item() == pytest.approx(0.0, abs=1e-6)
    assert decomposition_loss(a, -3 * a).item() == pytest.approx(1.0, abs=1e-6)
    c = torch.randn(4, 8)
    assert centre_separation_loss(c, 2 * c).item() == pytest.approx(
        torch.nn.functional.cosine_similarity(c[:, None], c[None], dim=2).mean().item(), abs=1e-5
    )


def test_gsrm_keeps_shape_and_uses_the_centres() -> None:
    g = GSRM(16)
    z = torch.randn(2, 16, 5, 7)
    c = torch.randn(6, 16)
    out = g(z, c)
    assert out.shape == z.shape
    assert not torch.allclose(out, g(z, c + 1.0))


def _manual_median(x: torch.Tensor, k: int) -> torch.Tensor:
    r = k // 2
    xp = torch.nn.functional.pad(x, (r, r, r, r), mode="replicate")
    n, c, h, w = x.shape
    return xp.unfold(2, k, 1).unfold(3, k, 1).reshape(n, c, h, w, k * k).median(-1).values


def test_median_filter_matches_a_plain_median() -> None:
    x = torch.rand(2, 1, 20, 24)
    torch.testing.assert_close(median_filter(x, 5), _manual_median(x, 5))  # OpenCV path (CPU, k <= 5)
    torch.testing.assert_close(median_filter(x, 7), _manual_median(x, 7))  # unfold path (as on CUDA)
    assert torch.equal(median_filter(x, 1), x)


def test_synthetic_batches_same_inline_or_from_worker_processes() -> None:
    model = create_model("sidn", **TINY)
    gray = textures(6)[:, 0].numpy()
    source = SyntheticBatches(gray, model.config, seed=3)
    inline = stream(source, 0, torch.device("cpu"))
    workers = stream(SyntheticBatches(gray, model.config, seed=3), 2, torch.device("cpu"))
    for (x0, m0), (x1, m1), _ in zip(inline, workers, range(5), strict=False):
        assert x0.shape == (4, 1, 32, 32) and m0.shape == (4, 1, 32, 32)
        torch.testing.assert_close(x0, x1)
        torch.testing.assert_close(m0, m1)
    assert set(np.unique(m0.numpy())) <= {0.0, 1.0}
    workers.close()
    assert not multiprocessing.active_children()  # closing the stream stops its worker processes


def _seg_loss(model: SIDN, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    model.eval()
    with torch.no_grad():
        losses = []
        for x, m in batches:
            out = model(x)
            losses.append((weighted_bce(out["logit_t"], 1 - m) + weighted_bce(out["logit_d"], m)).item())
    return float(np.mean(losses))


def test_fit_losses_finite_and_decreasing_then_predict() -> None:
    model = create_model("sidn", **{**TINY, "batch_size": 8}, epochs=25, lr=1e-3)
    images = textures(16)
    held = SyntheticBatches(images[:, 0].numpy(), model.config, seed=99)
    batches = [held.make(b) for b in range(4)]  # fixed synthetic defects the fit never sees
    before = _seg_loss(model, batches)
    events = []
    model.fit(images, FitContext(progress=events.append, seed=0))
    assert not model.training
    hist = model.history
    assert [h["step"] for h in hist] == list(range(1, 51)) and events[-1].step == events[-1].total == 50
    assert all(np.isfinite(list(h.values())).all() for h in hist)
    assert all(e.loss is not None for e in events if e.step > 0)
    after = _seg_loss(model, batches)
    assert after < 0.95 * before, (before, after)
    # the decomposition terms move the way they should: branches decorrelate, centres separate
    assert np.mean([h["z"] for h in hist[-5:]]) < np.mean([h["z"] for h in hist[:5]])
    assert hist[-1]["td"] < hist[0]["td"]
    assert torch.isfinite(model.texture_radii).all() and (model.texture_radii > 0).all()
    # any input size (not a multiple of 16) and colour or grey input
    x = torch.rand(3, 3, 40, 36)
    maps, scores = model.predict(x)
    assert maps.shape == (3, 40, 36) and scores.shape == (3,)
    assert torch.allclose(scores, maps.flatten(1).max(1).values)
    assert (maps >= 0).all() and (maps <= 1).all()
    grey = x.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    torch.testing.assert_close(model.predict(grey)[0], model.predict(grey[:, :1])[0])


def test_cancel_stops_training() -> None:
    token = CancelToken()

    def progress(ev) -> None:  # noqa: ANN001
        if ev.step >= 2:
            token.cancel()

    model = create_model("sidn", **TINY, epochs=50, workers=2)
    with pytest.raises(CancelledError):
        model.fit(textures(4), FitContext(progress=progress, cancel=token))
    assert len(model.history) <= 3  # stops at the first report after the cancel, not after 50 steps
    assert not multiprocessing.active_children()  # synthesis worker processes gone


def test_time_limit_stops_training_early() -> None:
    model = create_model("sidn", **TINY, epochs=100, max_seconds=1e-9)
    model.fit(textures(4), FitContext())
    assert model.train_info["steps"] == 1 and model.train_info["stopped_by_time_limit"] is True


def test_old_files_with_the_former_time_box_name_still_load() -> None:
    cfg = SIDN.Config.from_dict({"max_minutes": 1.5, "epochs": 3})  # a model.json from before
    assert (cfg.max_seconds, cfg.epochs) == (90.0, 3)
