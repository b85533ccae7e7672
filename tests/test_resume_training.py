"""`aoi train --stop-after` / `--resume`: a long schedule spread over several time-limited runs continues
where it stopped (phase, steps, time box, learning rate) instead of starting again."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from inspection_core.cli import main
from inspection_core.errors import DataError
from inspection_core.models import load_bundle
from inspection_core.models.ndpnet.train import cosine_lr
from inspection_core.runtime import FitContext
from inspection_core.runtime.context import ProgressEvent
from inspection_core.training.fit import train_model

# 8 images, 2 held out → 6 to train, 2 steps an epoch: 6 steps in phase 1, 6 in phase 2
TINY = {"image_size": (32, 32), "width": 4, "batch_size": 3, "epochs": 3, "phase2_epochs": 3, "workers": 0}


@pytest.fixture(autouse=True)
def _torch_setup() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


def _images(n: int = 8) -> torch.Tensor:
    rng = np.random.default_rng(0)
    return torch.from_numpy(rng.uniform(0.3, 0.7, (n, 3, 32, 32)).astype(np.float32))


def _run(init=None, resume: bool = False, pause: bool = False, options=None, n: int = 8):  # noqa: ANN001, ANN202
    events: list[ProgressEvent] = []
    ctx = FitContext(progress=events.append, stop_at=-math.inf if pause else math.inf)
    bundle = train_model(
        "ndpnet", _images(n), ctx, holdout=0.25, options=options or TINY, init_from=init, resume=resume
    )
    return bundle, [e for e in events if e.stage.startswith("phase")]


def test_stop_after_pauses_and_resume_finishes_the_same_schedule() -> None:
    first, ev1 = _run(pause=True)  # stop_at already passed: one step, then pause
    sched = first.model.schedule
    assert sched is not None and sched["steps"] == [1, 0] and not sched["finished"]
    assert first.info["schedule_finished"] is False
    assert [(e.stage, e.step, e.total) for e in ev1] == [("phase1", 1, 12)]
    assert first.model.reference_index >= 0, "a paused model still predicts"

    second, ev2 = _run(first, resume=True, pause=True)  # one more step of phase 1
    assert second.model.schedule["steps"] == [2, 0]
    assert [(e.stage, e.step) for e in ev2] == [("phase1", 2)]
    assert second.model.schedule["elapsed_s"] >= sched["elapsed_s"]

    last, ev3 = _run(second, resume=True)  # to the end: 4 more in phase 1, all 6 of phase 2
    assert last.model.schedule["steps"] == [6, 6] and last.model.schedule["finished"]
    assert last.info["schedule_finished"] is True
    assert [e.step for e in ev3] == list(range(3, 13)) and ev3[-1].total == 12
    assert all(e.resumed_from == 2 for e in ev3)  # the ETA counts only this run's steps
    assert ev3[0].eta_s == pytest.approx(ev3[0].elapsed_s * 9)
    assert [e.stage for e in ev3].count("phase2") == 6
    with pytest.raises(DataError, match="nothing to resume"):
        _run(last, resume=True)


def test_resume_in_phase_two_keeps_the_reference_and_the_frozen_encoder() -> None:
    bundle, _ = _run()
    bundle.model.schedule = {"steps": [6, 2], "elapsed_s": 1.0, "phase2_start_s": 0.5, "finished": False}
    enc = {k: v.clone() for k, v in bundle.model.encoder.state_dict().items()}
    ref = bundle.model.reference_index
    resumed, ev = _run(bundle, resume=True)
    assert [e.stage for e in ev] == ["phase2"] * 4 and ev[0].step == 9
    assert resumed.model.reference_index == ref
    assert all(torch.equal(v, resumed.model.encoder.state_dict()[k]) for k, v in enc.items())


def test_a_resumed_run_keeps_the_planned_steps_whatever_its_image_count() -> None:
    first, _ = _run(pause=True)
    assert first.model.schedule["planned"] == [6, 6]
    more, ev = _run(first, resume=True, n=16)  # 12 to train: 4 steps an epoch would plan 12 + 12
    assert ev[-1].step == ev[-1].total == 12 and more.model.schedule["steps"] == [6, 6]


def test_warm_restart_of_a_paused_model_starts_a_fresh_schedule() -> None:
    first, _ = _run(pause=True)
    again, ev = _run(first)  # --init-from: weights continue, the schedule starts at 0
    assert [e.step for e in ev] == list(range(1, 13))
    assert again.model.schedule["steps"] == [6, 6]


def test_resume_keeps_the_time_box_and_the_learning_rate_position(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspection_core.models.ndpnet.train as ndp_train

    lrs: list[float] = []
    real = ndp_train.cosine_lr
    monkeypatch.setattr(ndp_train, "cosine_lr", lambda base, frac: lrs.append(frac) or real(base, frac))
    opts = {**TINY, "max_seconds": 1000.0}
    bundle, _ = _run(options=opts, pause=True)
    # as if 900 of the 1000 s had been used, 500 of them in phase 2 (which starts at 500 s)
    bundle.model.schedule = {"steps": [6, 1], "elapsed_s": 900.0, "phase2_start_s": 500.0, "finished": False}
    lrs.clear()
    _run(bundle, resume=True, options=opts)
    assert lrs and lrs[0] >= 0.8, "the cosine goes on from where the saved run left it"
    assert cosine_lr(1.0, 0.8) < 0.2


def test_resume_refuses_models_that_cannot_and_mixed_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from _tiny_data import write_mvtec

    data = write_mvtec(tmp_path / "data", n_train=8, n_good=2, n_bad=2)
    base = ["train", "--data", str(data), "--device", "cpu"]
    ndp = ["--image-size", "32", "--width", "4", "--batch-size", "3", "--epochs", "2", "--phase2-epochs", "2"]
    ndp += ["--workers", "0"]
    assert main([*base, "--model", "ndpnet", *ndp, "--out", str(tmp_path / "a"), "--stop-after", "1e-9"]) == 0
    out = capsys.readouterr().out
    assert "continue with: aoi train --resume" in out
    assert load_bundle(tmp_path / "a").info["schedule_finished"] is False

    assert main([*base, "--resume", str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 0
    info = load_bundle(tmp_path / "b").info
    assert info["schedule_finished"] is True and info["resumed_from"] == str((tmp_path / "a").resolve())
    assert info["total_fit_seconds"] >= info["fit_seconds"]

    bad = [
        ([*base, "--model", "bfdf", "--out", str(tmp_path / "c"), "--stop-after", "5"], "cannot pause"),
        (
            [*base, "--resume", str(tmp_path / "a"), "--epochs", "9", "--out", str(tmp_path / "c")],
            "no model options",
        ),
        ([*base, "--resume", str(tmp_path / "b"), "--out", str(tmp_path / "c")], "nothing to resume"),
        (
            [*base, "--resume", str(tmp_path / "a"), "--model", "sidn", "--out", str(tmp_path / "c")],
            "holds a ndpnet",
        ),
        (
            [
                *base,
                "--resume",
                str(tmp_path / "a"),
                "--init-from",
                str(tmp_path / "a"),
                "--out",
                str(tmp_path / "c"),
            ],
            "give one of them",
        ),
    ]
    for argv, msg in bad:
        assert main(argv) != 0
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err
    assert not (tmp_path / "c").exists()


LOOP_MODELS = {  # tiny configurations planned for far more steps than the test waits for
    "ndpnet": {**TINY, "epochs": 500, "phase2_epochs": 500},
    "sidn": {"channels": 4, "clusters": 3, "batch_size": 4, "image_size": (32, 32), "median_kernel": 3,
             "epochs": 500, "workers": 0},
    "bfdf": {"image_size": (32, 32), "channels": 8, "batch_size": 4, "steps": 5000, "n_references": 2},
    "sclvi": {"image_size": (64, 64), "width": 0.125, "embed_dim": 16, "epochs": 500, "steps_per_epoch": 10,
              "batch_size": 4, "memory_size": 2000, "smoothing_sigma": 1.0},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(LOOP_MODELS))
def test_finish_now_ends_every_training_loop_early_and_keeps_a_working_model(name: str) -> None:
    events: list[ProgressEvent] = []
    ctx = FitContext(progress=events.append)
    ctx.finish_now()  # asked before the first step: each loop ends after one step
    size = LOOP_MODELS[name]["image_size"]
    imgs = torch.from_numpy(np.random.default_rng(0).uniform(0.3, 0.7, (8, 3, *size)).astype(np.float32))
    bundle = train_model(name, imgs, ctx, holdout=0.25, options=LOOP_MODELS[name])
    steps = [e for e in events if e.stage in ("train", "phase1", "phase2")]
    assert steps and max(e.step for e in steps) <= 2, "the loop ended at its next step"
    maps, scores = bundle.model.predict(imgs[:2])
    assert torch.isfinite(maps).all() and torch.isfinite(scores).all()
    assert bundle.info.get("schedule_finished", None) is (False if name == "ndpnet" else None)
