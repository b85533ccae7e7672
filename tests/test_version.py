"""Which aoi-station this is: a checkout names its git revision, a bundle the revision it was built from."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from inspection_core.runtime import version


@pytest.fixture
def fake_bundle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run as if frozen by PyInstaller, its data folder at tmp_path, with no checkout around."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.setattr(version, "git_revision", lambda root=None: None)
    return tmp_path


def test_a_bundle_names_the_revision_and_time_it_was_built_from(fake_bundle: Path) -> None:
    stamp = {"version": "0.1.0", "git": "abc1234-dirty", "built_at": "2026-12-06T08:00:00Z"}
    (fake_bundle / version.BUILD_STAMP).write_text(json.dumps(stamp), encoding="utf-8")
    first = version.version_lines()[0]
    assert first.startswith(f"aoi-station {version.package_version()} (git abc1234-dirty)")
    assert "[bundle built 2026-12-06T08:00:00Z]" in first


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]"])
def test_a_bundle_without_a_readable_stamp_still_answers(fake_bundle: Path, content: str | None) -> None:
    if content is not None:
        (fake_bundle / version.BUILD_STAMP).write_text(content, encoding="utf-8")
    assert version.build_stamp() is None
    first = version.version_lines()[0]
    assert "(git" not in first and first.endswith("[bundle]")


def test_outside_a_bundle_there_is_no_stamp_and_no_bundle_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert version.bundle_dir() is None and version.build_stamp() is None
    lines = version.version_lines()
    assert "[bundle" not in lines[0]
    assert lines[1].startswith("torch ") and lines[2].startswith("python ")
