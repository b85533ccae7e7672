"""The `aoi` command's manners: --version, a closed stdout, help on every flag, one meaning of --device."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from inspection_core import __version__
from inspection_core.camera.genicam import viky_cti
from inspection_core.cli import build_parser, git_revision, main

REPO = Path(__file__).resolve().parents[1]
# what the `aoi` console script runs
AOI = [sys.executable, "-c", "import sys; from inspection_core.cli import main; sys.exit(main())"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}


def test_version_names_package_revision_torch_and_device(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code in (0, None)
    out = capsys.readouterr().out
    first, second = out.splitlines()[:2]
    assert first.startswith(f"aoi-station {__version__}")
    if (REPO / ".git").exists():
        assert f"(git {git_revision(REPO)})" in first
    assert second.startswith(f"torch {torch.__version__} (")
    assert ("CUDA" in second) == torch.cuda.is_available() or "CPU" in second


def test_git_revision_is_none_outside_a_checkout(tmp_path: Path) -> None:
    assert git_revision(tmp_path) is None


def test_version_does_not_import_qt() -> None:
    code = (
        "import sys\nfrom inspection_core.cli import main\ntry:\n    main(['--version'])\n"
        "except SystemExit:\n    pass\nprint('qt' if any(m.startswith('PySide6') for m in sys.modules) else 'no-qt')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120, check=True
    )
    assert out.stdout.splitlines()[-1] == "no-qt"


@pytest.fixture
def closed_pipe() -> Iterator[int]:
    """The write end of a pipe whose reader has already gone: every write to it fails with EPIPE."""
    r, w = os.pipe()
    os.close(r)
    yield w
    os.close(w)


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["models", "--options"], 141),
        (["recipe", "list", "--recipes-dir", "{tmp}"], 141),
        (["--help"], 0),  # argparse itself ignores a failed write of its help
    ],
)
def test_a_closed_stdout_ends_quietly(argv: list[str], status: int, closed_pipe: int, tmp_path: Path) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    proc = subprocess.run(
        [*AOI, *argv], stdout=closed_pipe, stderr=subprocess.PIPE, text=True, env=_env(), timeout=120
    )
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert "Exception ignored" not in proc.stderr, proc.stderr
    assert proc.returncode == status


def test_a_reader_that_stops_after_one_line() -> None:
    """`aoi models --options | head -1`: whether the reader goes before or after the last write, no traceback."""
    proc = subprocess.Popen(
        [*AOI, "models", "--options"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"patchcore")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) in (0, 141)
    assert "Traceback" not in err and "Exception ignored" not in err, err


def _flags_without_help(parser: argparse.ArgumentParser, path: str) -> Iterator[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _flags_without_help(sub, f"{path} {name}")
        elif not action.help:  # argparse.SUPPRESS (a hidden, deprecated alias) is a deliberate choice
            yield f"{path} {'/'.join(action.option_strings) or action.dest}"


def test_every_flag_of_every_command_has_help() -> None:
    parser = build_parser()
    missing = list(_flags_without_help(parser, "aoi"))
    assert missing == []
    # the walk reaches the nested commands (or it would pass on an empty list)
    commands = {a.dest: a for a in parser._actions if isinstance(a, argparse._SubParsersAction)}["command"]
    assert {"train", "eval", "predict", "bench", "grab", "recipe"} <= set(commands.choices)


def test_device_means_cpu_or_cuda_everywhere() -> None:
    """Every command's --device is a compute device; grab's camera is --camera."""
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if "--device" in action.option_strings and action.help != argparse.SUPPRESS:
                assert "cpu" in action.help and "cuda" in action.help, name
    grab = commands.choices["grab"]
    assert "--camera" in grab.format_help()
    assert "--device" not in grab.format_help()


def test_grab_camera_must_be_a_genicam_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grab", "--source", "simulated:32x32", "--camera", "2", "--out", str(tmp_path)]) == 2
    assert "--camera is for genicam sources only" in capsys.readouterr().err


@pytest.mark.camera
@pytest.mark.skipif(viky_cti() is None, reason="the genicam wheel's viky.cti is not installed")
def test_grab_device_still_names_the_camera_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def source(folder: Path) -> str:
        return json.loads((folder / "frame_000000.json").read_text())["source"]

    new, old, other = tmp_path / "new", tmp_path / "old", tmp_path / "other"
    assert main(["grab", "--source", "genicam", "--camera", "1", "-n", "1", "--out", str(new)]) == 0
    assert main(["grab", "--source", "genicam", "--camera", "2", "-n", "1", "--out", str(other)]) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert main(["grab", "--source", "genicam", "--device", "1", "-n", "1", "--out", str(old)]) == 0
    assert "`grab --device ID` is deprecated, use --camera ID" in capsys.readouterr().err
    assert source(old) == source(new) != source(other)
    assert main(["grab", "--source", "genicam", "--camera", "1", "--device", "2", "--out", str(old)]) == 2
    assert "give the camera once" in capsys.readouterr().err


def test_every_flag_of_the_station_command_has_help() -> None:
    pytest.importorskip("PySide6")
    from app.__main__ import build_parser as station_parser

    assert list(_flags_without_help(station_parser(), "aoi-station")) == []
