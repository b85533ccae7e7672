"""Versioned recipe store on disk, safe against power loss.

Layout under the store root::

    <product>/v0001.json, v0002.json, ...   one file per saved version, never rewritten
    <product>/models/m0001/                 the store's own copy of each model a version uses

Saving writes a temp file, fsyncs it, then hard-links it to the next free vNNNN.json (link fails
instead of overwriting if another process took that number) and fsyncs the folder. A crash at any
point leaves the earlier versions untouched; a stray temp file is ignored by every reader.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from inspection_core.errors import ModelFileError
from inspection_core.models.bundle import read_meta
from inspection_core.recipe import Recipe, RecipeError, check_name

ENV_DIR = "AOI_RECIPES_DIR"
_VERSION_RE = re.compile(r"^v(\d{4,})\.json$")
_MODEL_RE = re.compile(r"^m(\d{4,})$")
MODELS = "models"


def default_root() -> Path:
    """$AOI_RECIPES_DIR, else $XDG_DATA_HOME/aoi-station/recipes (~/.local/share/...)."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "aoi-station" / "recipes"


def fsync_dir(path: Path) -> None:
    """Make a rename/link inside `path` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for p in sorted(path.rglob("*")):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
    fsync_dir(path)


@dataclass(frozen=True)
class RecipeSummary:
    name: str
    latest_version: int
    n_versions: int
    model: str
    saved_at: str


class RecipeStore:
    """Recipes under one directory (configurable; created on first save)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    # --- reading --------------------------------------------------------------------------
    def product_dir(self, name: str) -> Path:
        return self.root / check_name(name)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[int]:
        d = self.product_dir(name)
        if not d.is_dir():
            return []
        return sorted(int(m.group(1)) for p in d.iterdir() if (m := _VERSION_RE.match(p.name)))

    def latest_version(self, name: str) -> int | None:
        v = self.versions(name)
        return v[-1] if v else None

    def exists(self, name: str) -> bool:
        return bool(self.versions(name))

    def path(self, name: str, version: int) -> Path:
        return self.product_dir(name) / f"v{version:04d}.json"

    def load(self, name: str, version: int | None = None) -> Recipe:
        """A saved version (default: latest). Unknown names/versions and corrupt files are RecipeErrors."""
        vs = self.versions(name)
        if not vs:
            known = ", ".join(self.names()) or "none"
            raise RecipeError(f"no recipe named {name!r} in {self.root} (known: {known})")
        v = vs[-1] if version is None else version
        if v not in vs:
            raise RecipeError(f"recipe {name!r} has no version {v} (versions: {', '.join(map(str, vs))})")
        p = self.path(name, v)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecipeError(f"recipe file {p} is unreadable or corrupt ({exc})") from None
        return Recipe.from_dict(data, base_dir=p.parent, where=str(p))

    def list(self) -> list[RecipeSummary]:
        out = []
        for name in self.names():
            try:
                r = self.load(name)
                model = read_meta(r.model_path).get("model", "?")
            except (RecipeError, ModelFileError) as exc:
                out.append(
                    RecipeSummary(
                        name, self.latest_version(name) or 0, len(self.versions(name)), "?", str(exc)
                    )
                )
                continue
            out.append(RecipeSummary(name, r.version, len(self.versions(name)), str(model), r.saved_at))
        return out

    # --- writing --------------------------------------------------------------------------
    def save(self, recipe: Recipe, move_model: bool = False) -> Recipe:
        """Write `recipe` as the product's next version and return it as saved (version, base_dir).

        A model folder outside the product's models/ is first copied in (moved with move_model=True, used
        by import), so the version never depends on a folder the user may overwrite. On any error
        nothing new is left behind.
        """
        from inspection_core.calibration.history import now_iso

        pdir = self.product_dir(recipe.name)
        created_pdir = not pdir.exists()
        new_model: Path | None = None
        try:
            pdir.mkdir(parents=True, exist_ok=True)
            model_rel, new_model = self._adopt_model(recipe, pdir, move_model)
            saved = recipe.with_(model_dir=model_rel, base_dir=pdir, saved_at=now_iso())
            version = self._write_next_version(pdir, saved)
        except OSError as exc:
            self._undo(pdir, created_pdir, new_model)
            raise RecipeError(f"cannot save recipe {recipe.name!r} in {pdir}: {exc.strerror or exc}") from exc
        except BaseException:
            self._undo(pdir, created_pdir, new_model)
            raise
        return saved.with_(version=version)

    @staticmethod
    def _undo(pdir: Path, created_pdir: bool, new_model: Path | None) -> None:
        if new_model is not None:
            shutil.rmtree(new_model, ignore_errors=True)
        if created_pdir:
            shutil.rmtree(pdir, ignore_errors=True)

    def _adopt_model(self, recipe: Recipe, pdir: Path, move: bool) -> tuple[str, Path | None]:
        """(model_dir relative to pdir, the new model folder if one was created)."""
        src = recipe.model_path.resolve()
        models = (pdir / MODELS).resolve()
        if src.parent == models:
            read_meta(src)  # still there and sane
            return f"{MODELS}/{src.name}", None
        read_meta(src)  # a clear ModelFileError before anything is written
        models.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-model-", dir=models))
        try:
            if move:
                tmp.rmdir()
                shutil.move(str(src), str(tmp))
            else:
                shutil.copytree(src, tmp, dirs_exist_ok=True)
            _fsync_tree(tmp)
            while True:
                used = [int(m.group(1)) for p in models.iterdir() if (m := _MODEL_RE.match(p.name))]
                target = models / f"m{max(used, default=0) + 1:04d}"
                try:
                    tmp.rename(target)  # fails if another writer took the name meanwhile
                    break
                except OSError:
                    if not target.exists():
                        raise
            fsync_dir(models)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return f"{MODELS}/{target.name}", target

    def _write_next_version(self, pdir: Path, recipe: Recipe) -> int:
        fd, tmp = tempfile.mkstemp(dir=pdir, prefix=".tmp-", suffix=".json")
        try:
            v = (self.latest_version(recipe.name) or 0) + 1
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(recipe.with_(version=v).to_dict(), fh, indent=2)
                fh.flush()
                os.fsync(fh.fileno())
            while True:
                try:
                    os.link(tmp, pdir / f"v{v:04d}.json")  # never replaces an existing version
                    break
                except FileExistsError:  # a concurrent save took v: renumber and retry
                    v = (self.latest_version(recipe.name) or 0) + 1
                    data = recipe.with_(version=v).to_dict()
                    Path(tmp).write_text(json.dumps(data, indent=2), encoding="utf-8")
                    with open(tmp, "rb") as fh:
                        os.fsync(fh.fileno())
            fsync_dir(pdir)
            return v
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    # --- archives -------------------------------------------------------------------------
    def export(self, name: str, file: str | os.PathLike[str], version: int | None = None) -> Path:
        from inspection_core.recipes.archive import export_recipe

        return export_recipe(self.load(name, version), file)

    def import_(self, file: str | os.PathLike[str], name: str | None = None) -> Recipe:
        from inspection_core.recipes.archive import import_recipe

        return import_recipe(self, file, name)
