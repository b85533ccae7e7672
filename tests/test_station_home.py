"""One station home for the GUI and the CLI: `AOI_STATION_HOME`, else the OS's per-user data folder;
a home that cannot be created or written is one clear error at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from platformdirs import user_data_dir

from app import paths
from app.__main__ import EXIT_BAD_HOME
from app.__main__ import main as app_main
from inspection_core.cli import main as cli_main
from inspection_core.recipes.store import default_root
from inspection_core.runtime.home import StationHomeError, ensure_station_home, station_home


def test_home_is_the_env_folder_else_the_per_user_data_folder(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    monkeypatch.delenv("AOI_STATION_HOME", raising=False)
    monkeypatch.delenv("AOI_RECIPES_DIR", raising=False)
    assert station_home() == Path(user_data_dir("aoi-station", appauthor=False))
    monkeypatch.setenv("AOI_STATION_HOME", str(tmp_path / "home"))
    assert station_home() == tmp_path / "home"
    # the CLI's store and the window's store are one folder
    assert default_root() == paths.recipes_dir() == tmp_path / "home" / "recipes"
    monkeypatch.setenv("AOI_RECIPES_DIR", str(tmp_path / "elsewhere"))  # still an explicit override
    assert default_root() == paths.recipes_dir() == tmp_path / "elsewhere"


def test_cli_recipe_list_reads_the_station_home_store(monkeypatch, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from _tiny_data import train_tiny

    from inspection_core.recipe import Recipe
    from inspection_core.recipes import RecipeStore

    monkeypatch.delenv("AOI_RECIPES_DIR", raising=False)
    monkeypatch.setenv("AOI_STATION_HOME", str(tmp_path / "home"))
    model = train_tiny().save(tmp_path / "model")
    RecipeStore(paths.recipes_dir()).save(Recipe("Tile-B", str(model)))  # as the window saves
    assert cli_main(["recipe", "list"]) == 0
    assert "Tile-B" in capsys.readouterr().out


def _uncreatable(tmp_path: Path) -> Path:
    """A home below a plain file: no mkdir can make it, whoever runs the test (root included)."""
    (tmp_path / "a-file").write_text("x")
    return tmp_path / "a-file" / "home"


def test_uncreatable_home_is_one_clear_error(monkeypatch, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    monkeypatch.delenv("AOI_RECIPES_DIR", raising=False)
    home = _uncreatable(tmp_path)
    monkeypatch.setenv("AOI_STATION_HOME", str(home))
    with pytest.raises(StationHomeError, match="AOI_STATION_HOME"):
        ensure_station_home()
    assert cli_main(["recipe", "list"]) == 2
    err = capsys.readouterr().err
    assert f"station home {home} is not usable" in err and "Traceback" not in err
    assert app_main(["--run-for", "1"]) == EXIT_BAD_HOME
    err = capsys.readouterr().err.strip()
    assert err.startswith("aoi-station: error: station home") and len(err.splitlines()) == 1


def test_home_is_created_when_missing(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    monkeypatch.setenv("AOI_STATION_HOME", str(tmp_path / "new" / "home"))
    assert ensure_station_home().is_dir()
