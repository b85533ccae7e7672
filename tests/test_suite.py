"""`aoi suite`: every MVTec folder under a root, each shot count, next to `plain`, with the rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _tiny_data import write_mvtec

from inspection_core.cli import main
from inspection_core.cli.suite_commands import rule_verdict, shot_indices

TINY = ["--image-size", "64", "--coreset-size", "100", "--seed", "3"]


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    root = tmp_path_factory.mktemp("suite")
    write_mvtec(root / "data" / "alpha", n_train=8, seed=1)
    write_mvtec(root / "data" / "group" / "beta", n_train=6, seed=2)
    broken = write_mvtec(root / "data" / "gamma", n_train=4, n_good=1, n_bad=1, seed=3)
    (broken / "test" / "good" / "000.png").write_bytes(b"not a png")  # fails: recorded, not fatal
    out = root / "suite.json"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(
            ["suite", "--data-root", str(root / "data"), "--shots", "3,all,8", "--json", str(out), *TINY]
        )
    assert rc == 1  # one data set failed
    return root, json.loads(out.read_text()), buf.getvalue()


def test_suite_rows_cover_every_dataset_shot_and_config(suite_run: tuple[Path, dict, str]) -> None:
    _, doc, _ = suite_run
    rows = doc["rows"]
    assert {r["dataset"] for r in rows} == {"alpha", "group/beta", "gamma"}
    assert len(rows) == 3 * 3 * 2  # data sets × shot counts × (evaluated, plain)
    assert {r["label"] for r in rows} == {"default+coreset_size=100", "plain"}
    ok = [r for r in rows if r["dataset"] != "gamma"]
    for r in ok:
        assert {
            "dataset",
            "shots",
            "model",
            "preset",
            "options",
            "metrics",
            "timings",
            "device",
            "date",
            "git",
        } <= set(r)
        assert 0.0 <= r["metrics"]["image_auroc"] <= 1.0 and 0.5 < r["metrics"]["pixel_auroc"] <= 1.0
        assert r["metrics"]["aupro"] is not None and r["timings"]["ms_per_image"] > 0
        assert r["config"]["image_size"] == [64, 64]  # the baseline sees the same input size
    n_train = {(r["dataset"], r["shots"]): r["n_train"] for r in ok}
    assert n_train[("alpha", 3)] == 3 and n_train[("alpha", "all")] == 8
    assert n_train[("group/beta", 8)] == 6  # more shots than images: every image
    plain = [r for r in ok if r["label"] == "plain"]
    assert all(r["preset"] == "plain" and r["config"]["score_from"] == "map" for r in plain)
    # shots=8 on alpha (8 images) is the same run as shots=all: reused, not fitted twice
    same = [r for r in ok if r["dataset"] == "alpha" and r["shots"] == 8]
    assert all(r["same_as_shots"] == "all" for r in same)
    failed = [r for r in rows if r["dataset"] == "gamma"]
    assert all("error" in r and "metrics" not in r for r in failed)
    assert [v["shots"] for v in doc["verdicts"]] == [3, "all", 8]


def test_suite_table_shows_plain_beside_the_config_with_means_and_verdict(
    suite_run: tuple[Path, dict, str],
) -> None:
    _, _, text = suite_run
    for shots in ("3", "all", "8"):
        assert f"shots {shots} · default+coreset_size=100 vs plain" in text
    assert text.count("\nmean ") == 3 and text.count("rule (every data set") == 3
    assert "alpha" in text and "group/beta" in text and "gamma" in text and "FAILED" in text


def test_saved_results_print_again_with_table(
    suite_run: tuple[Path, dict, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, text = suite_run
    assert main(["suite", "--table", str(root / "suite.json")]) == 0
    assert capsys.readouterr().out.strip() == text.split("suite wall time")[0].strip()


def test_seeded_shots_are_the_first_n_of_one_permutation() -> None:
    a, b = shot_indices(20, 5, seed=1), shot_indices(20, 8, seed=1)
    assert len(a) == 5 and set(a) <= set(b)  # 16 shots contain the 8-shot images
    assert np.array_equal(a, shot_indices(20, 5, seed=1)) and not np.array_equal(
        a, shot_indices(20, 5, seed=2)
    )
    assert np.array_equal(shot_indices(4, "all", 0), np.arange(4))


def _row(ds: str, label: str, image: float, pixel: float | None, shots: int | str = "all") -> dict:
    return {
        "dataset": ds,
        "label": label,
        "shots": shots,
        "metrics": {"image_auroc": image, "pixel_auroc": pixel},
    }


def test_rule_needs_every_dataset_within_tolerance_and_a_mean_gain() -> None:
    base = [_row("a", "plain", 0.80, 0.90), _row("b", "plain", 0.70, None)]
    good = [_row("a", "x", 0.83, 0.895), _row("b", "x", 0.72, None)]
    assert rule_verdict(base + good, "x", "plain", "all")["pass"]
    small_gain = [_row("a", "x", 0.81, 0.90), _row("b", "x", 0.71, None)]
    v = rule_verdict(base + small_gain, "x", "plain", "all")
    assert not v["pass"] and "mean image" in v["failures"][0]
    one_drop = [_row("a", "x", 0.90, 0.88), _row("b", "x", 0.75, None)]
    v = rule_verdict(base + one_drop, "x", "plain", "all")
    assert not v["pass"] and v["failures"] == ["a: pixel -0.020"]
    missing = [_row("a", "x", 0.95, 0.95)]
    assert rule_verdict(base + missing, "x", "plain", "all")["failures"] == ["b: no result"]


def test_empty_root_and_unknown_dataset_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["suite", "--data-root", str(tmp_path / "empty"), *TINY]) == 2
    assert "no MVTec-layout data set" in capsys.readouterr().err
    write_mvtec(tmp_path / "one", n_train=3, n_good=1, n_bad=1)
    assert main(["suite", "--data-root", str(tmp_path), "--datasets", "two", *TINY]) == 2
    assert "no data set 'two'" in capsys.readouterr().err
    assert main(["suite", "--data-root", str(tmp_path), "--shots", "0", *TINY]) == 2
    assert main(["suite", "--data-root", str(tmp_path), "--coreset-sise", "3"]) == 2
    assert "no option --coreset-sise" in capsys.readouterr().err


def test_two_saved_runs_print_side_by_side_with_plain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_mvtec(tmp_path / "data" / "one", n_train=5, n_good=2, n_bad=2, seed=4)
    data = ["--data-root", str(tmp_path / "data"), "--shots", "all", *TINY]
    assert (
        main(["suite", *data, "--compare", "none", "--label", "mine", "--json", str(tmp_path / "m.json")])
        == 0
    )
    assert main(["suite", *data, "--preset", "plain", "--json", str(tmp_path / "p.json")]) == 0
    capsys.readouterr()
    assert main(["suite", "--table", str(tmp_path / "m.json"), str(tmp_path / "p.json")]) == 0
    out = capsys.readouterr().out
    assert "shots all · mine vs plain" in out and "rule (every data set ≥ plain" in out
    assert main(["suite", "--table", str(tmp_path / "m.json")]) == 0
    assert "no plain rows in these files" in capsys.readouterr().out
