"""SCL-VI: relative-position labels, patch sampling geometry, affinity fusion, dense scan, training,
time limit. Tiny configurations only (64 px images, 1/8-width encoder).

What every model must do (cancel, save/load, bad options, …) is in test_model_contract.py.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
import torch
from test_model_contract import TINY as TINY_BY_MODEL

from inspection_core.models import create_model
from inspection_core.models.sclvi.affinity import affinity_scores, affinity_weights, knn_distances
from inspection_core.models.sclvi.layers import forward_hier
from inspection_core.models.sclvi.model import SCLVI, distribute
from inspection_core.models.sclvi.train import (
    RELATIONS,
    PretextHeads,
    pair_table,
    pretext_losses,
    relation_label,
    sample_pretext,
)
from inspection_core.runtime.context import FitContext

TINY = TINY_BY_MODEL["sclvi"]  # the contract test's tiny SCL-VI, one definition


@pytest.fixture(autouse=True)
def _torch_setup() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


def tiny(**kw: object) -> SCLVI:
    model = create_model("sclvi", **{**TINY, **kw})
    assert isinstance(model, SCLVI)
    return model


def stripes(n: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Good images: a regular stripe texture with a random phase and a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = []
    for _ in range(n):
        img = 0.5 + 0.3 * np.sin(0.8 * xx + rng.uniform(0, 6.28)) + rng.normal(0, 0.02, (size, size))
        out.append(np.repeat(img[None], 3, 0))
    return torch.from_numpy(np.clip(np.stack(out), 0, 1).astype(np.float32))


# --- the 12 relative positions --------------------------------------------------------------------
def test_relation_labels_for_all_36_pairs() -> None:
    table = pair_table()
    assert table.shape == (36, 3)
    assert len(RELATIONS) == 12
    disp = {}
    for a, b, label in table.tolist():
        assert relation_label(b, a) == label  # unordered
        d = (b // 3 - a // 3, b % 3 - a % 3)
        disp[(a, b)] = (d, label)
        assert RELATIONS[label] in (d, (-d[0], -d[1]))
    # two pairs share a class exactly when their displacements agree up to sign
    for (p, (d1, l1)), (q, (d2, l2)) in itertools.combinations(disp.items(), 2):
        same = d1 == d2 or d1 == (-d2[0], -d2[1])
        assert (l1 == l2) == same, (p, q)
    counts = Counter(label for _, label in disp.values())
    assert set(counts) == set(range(12))
    assert sorted(counts.values()) == [1, 1, 2, 2, 2, 2, 3, 3, 4, 4, 6, 6]
    with pytest.raises(ValueError):
        relation_label(4, 4)
    with pytest.raises(ValueError):
        relation_label(0, 9)


@pytest.mark.parametrize("k", [32, 64])
def test_sampled_pairs_sit_where_their_label_says(k: int) -> None:
    """Pixels encode their own coordinates, so each crop tells where it was cut from."""
    size = 256
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    img = torch.from_numpy(np.stack([yy, xx, np.zeros_like(yy)]))[None]
    gen = torch.Generator().manual_seed(1)
    b = sample_pretext(img, 200, k, gen, jitter_frac=0.25, grey_shift=0.0, noise_std=0.0)
    step = 3 * k // 4
    for p1, p2, label in zip(b.ctx1, b.ctx2, b.label.tolist(), strict=True):
        dy = float(p2[0, 0, 0] - p1[0, 0, 0])
        dx = float(p2[1, 0, 0] - p1[1, 0, 0])
        assert (round(dy / step), round(dx / step)) == RELATIONS[label]
    off = (b.svdd2[:, :2, 0, 0] - b.svdd1[:, :2, 0, 0]).abs()
    assert off.max() <= max(1, k // 32)
    assert (off.sum(1) > 0).all()  # p' is never the same patch


# --- affinity fusion ------------------------------------------------------------------------------
def test_affinity_weights_sum_to_one_and_survive_zero_distances() -> None:
    d = torch.tensor(
        [[0.0, 1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.5, 1.0, 4.0, 1e-30]]
    )
    w = affinity_weights(d, cap=20.0)
    assert torch.isfinite(w).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(4))
    torch.testing.assert_close(w[1], torch.full((4,), 0.25))  # all-zero: uniform
    torch.testing.assert_close(w[2], torch.full((4,), 0.25))
    assert w[0, 0] > w[0, 1] > w[0, 2] > w[0, 3]  # nearer neighbours weigh more
    # γ is capped at λ: a zero distance gets logit λ, the others Σd/d_i
    gamma = torch.tensor([20.0, 6.0, 3.0, 2.0])
    torch.testing.assert_close(w[0], torch.softmax(gamma, 0))


def test_knn_and_affinity_scores_match_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    mem, q = torch.randn(300, 8, generator=g), torch.randn(50, 8, generator=g)
    ref = torch.cdist(q, mem).sort(1).values[:, :10]
    torch.testing.assert_close(knn_distances(q, mem, 10, chunk=7), ref, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(affinity_scores(q, mem, 1), ref[:, 0], atol=1e-4, rtol=1e-4)
    fused = affinity_scores(q, mem, 10)
    assert (fused >= ref[:, 0] - 1e-5).all() and (fused <= ref[:, 9] + 1e-5).all()
    torch.testing.assert_close(affinity_scores(mem[:5], mem, 1), torch.zeros(5), atol=2e-3, rtol=0)  # itself
    with pytest.raises(RuntimeError, match="not fitted"):
        knn_distances(q, mem[:0], 3)


# --- dense scan -----------------------------------------------------------------------------------
def test_dense_scan_equals_patch_by_patch_embedding() -> None:
    m = tiny().eval()
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        e32, e64 = m.embed_dense(x)
        assert e32.shape == (2, 16, (96 - 32) // 4 + 1, (96 - 32) // 4 + 1)
        assert e64.shape == (2, 16, (96 - 64) // 16 + 1, (96 - 64) // 16 + 1)
        for n, i, j in [(0, 0, 0), (1, 3, 11), (0, 16, 16)]:
            p = x[n : n + 1, :, 4 * i : 4 * i + 32, 4 * j : 4 * j + 32]
            torch.testing.assert_close(m.encoder(p)[0], e32[n, :, i, j], atol=1e-5, rtol=1e-4)
        for n, i, j in [(0, 0, 0), (1, 1, 2), (0, 2, 1)]:
            p = x[n : n + 1, :, 16 * i : 16 * i + 64, 16 * j : 16 * j + 64]
            torch.testing.assert_close(
                forward_hier(p, m.encoder, m.head)[0], e64[n, :, i, j], atol=1e-5, rtol=1e-4
            )


def test_scan_stays_eager_on_cpu_and_after_a_compile_failure(monkeypatch, caplog) -> None:
    m = tiny().eval()
    assert m.config.compile_scan and m.scan_encoder() is m.encoder  # compiling is for CUDA only
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = m.embed_dense(x)[0]
        calls = []

        def broken(p: torch.Tensor) -> torch.Tensor:
            calls.append(p.shape)
            raise RuntimeError("no triton here")

        monkeypatch.setattr(m, "scan_encoder", lambda: broken)
        with caplog.at_level("WARNING"):
            torch.testing.assert_close(m.embed_dense(x)[0], ref)  # fell back to the eager encoder
        assert calls and m._no_compile and "compile" in caplog.text
        monkeypatch.undo()
        assert m.scan_encoder() is m.encoder  # and stays eager, even where it could compile


def test_distribute_is_the_mean_over_covering_patches() -> None:
    scores = torch.zeros(1, 9, 9)
    scores[0, 4, 4] = 1.0  # the patch at (16, 16), 32 px wide
    out = distribute(scores, (64, 64), 32, 4)[0, 0]
    assert out.shape == (64, 64)
    assert out[0, 0] == 0 and out[63, 63] == 0
    assert out[30, 30] == pytest.approx(1 / 64)  # 8 × 8 patches at stride 4 cover an inner pixel
    torch.testing.assert_close(
        distribute(torch.full((1, 9, 9), 2.0), (64, 64), 32, 4), torch.full((1, 1, 64, 64), 2.0)
    )


# --- training -------------------------------------------------------------------------------------
def test_pretext_losses_decrease_on_a_fixed_batch() -> None:
    m = tiny()
    heads = PretextHeads(16)
    imgs = m.standardize(stripes(4, 128))
    gen = torch.Generator().manual_seed(0)
    b64, b32 = sample_pretext(imgs, 8, 64, gen), sample_pretext(imgs, 8, 32, gen)
    opt = torch.optim.Adam([*m.parameters(), *heads.parameters()], lr=3e-3)
    first = None
    for _ in range(15):
        losses = pretext_losses(m, heads, b64, b32, alpha=1.0)
        if first is None:
            first = {k: float(v.detach()) for k, v in losses.items()}
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
    with torch.no_grad():
        last = {k: float(v) for k, v in pretext_losses(m, heads, b64, b32, alpha=1.0).items()}
    assert first["ce64"] == pytest.approx(np.log(12), rel=0.2)  # untrained: chance level
    assert last["total"] < 0.8 * first["total"]
    assert last["ce64"] < first["ce64"] and last["ce32"] < first["ce32"]


def test_fit_reports_progress_and_predicts() -> None:
    events = []
    m = tiny()
    m.fit(stripes(6), FitContext(progress=events.append))
    train = [e for e in events if e.stage == "train"]
    assert train and train[-1].step == 3 and train[-1].total == 3
    assert all(e.loss is not None and np.isfinite(e.loss) for e in train)
    assert any(e.stage == "memory" for e in events)
    assert not m.training
    assert m.extra_state()["train_steps"] == 3
    assert m.memory32.shape == (6 * 81, 16) and m.memory64.shape == (6, 16)
    good, bad = stripes(2, seed=5), stripes(2, seed=5)
    bad[:, :, 20:40, 20:40] = 1.0  # a bright square breaks the texture
    maps, scores = m.predict(torch.cat([good, bad]))
    assert maps.shape == (4, 64, 64) and scores.shape == (4,)
    torch.testing.assert_close(scores, maps.flatten(1).max(1).values)
    assert scores[2:].min() > scores[:2].max()
    assert maps[2, 25:35, 25:35].mean() > maps[2, 50:, 50:].mean()


def test_time_limit() -> None:
    events = []
    m = tiny(epochs=50, max_seconds=1e-6)
    m.fit(stripes(3), FitContext(progress=events.append))
    assert [e.step for e in events if e.stage == "train"] == [1]
    assert m.extra_state()["train_steps"] == 1


def test_old_files_with_the_former_time_box_name_still_load() -> None:
    cfg = SCLVI.Config.from_dict({"time_limit_s": 60.0, "epochs": 3})  # a model.json from before
    assert (cfg.max_seconds, cfg.epochs) == (60.0, 3)


def test_predict_before_fit_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        tiny().predict(torch.rand(1, 3, 64, 64))


def test_odd_image_size_covers_every_pixel() -> None:
    m = tiny(image_size=(70, 75))
    m.fit(stripes(3, 80)[..., :70, :75].contiguous(), FitContext())
    maps, _ = m.predict(stripes(1, 80)[..., :70, :75])
    assert maps.shape == (1, 70, 75) and (maps > 0).all()
