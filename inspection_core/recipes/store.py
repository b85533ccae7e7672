"""Versioned recipe store on disk, safe against power loss, kills and other processes saving too.

Layout under the store root::

    <product>/v0001.json, v0002.json, ...   one file per saved version, never rewritten
    <product>/models/m0001/                 the store's own copy of each model a version uses

Saving writes a temp file, fsyncs it, then hard-links it to the next free vNNNN.json (link fails
instead of overwriting if another process took that number) and fsyncs the folder. A crash at any
point leaves the earlier versions untouched; a stray temp file is ignored by every reader, and
removed when a store is next opened on the folder once its maker is provably dead (same host, pid
gone) or it is older than any save takes. A failed save removes only what it created itself.
Files and folders get the modes the umask gives (group-readable with the usual 022 or 027), so
other station accounts of the group can read the recipes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from inspection_core.errors import ModelFileError
from inspection_core.models.bundle import read_meta
from inspection_core.recipe import Recipe, RecipeError, check_name, read_json_file
from inspection_core.recipes._fs import (
    STALE_AFTER_S,
    age_s,
    fsync_tree,
    is_abandoned,
    share_tree,
    temp_prefix,
)
from inspection_core.recipes.archive import export_recipe, unpack_recipe
from inspection_core.runtime.atomic import fsync_path, share
from inspection_core.runtime.home import station_home

ENV_DIR = "AOI_RECIPES_DIR"
_VERSION_RE = re.compile(r"v(\d{4,})\.json")
_MODEL_RE = re.compile(r"m(\d{4,})")
MODELS = "models"
_TMP, _TMP_MODEL, _IMPORT = "tmp", "tmp-model", "import"  # temp-name kinds (see _fs.temp_prefix)
_log = logging.getLogger(__name__)


def default_root() -> Path:
    """$AOI_RECIPES_DIR (an explicit override), else <station home>/recipes: the window's store too."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    return station_home() / "recipes"


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except RecipeError:
        return False
    return True


def _mkdir(path: Path, made: list[Path]) -> None:
    """mkdir that records the folder in `made` only if this call created it."""
    try:
        path.mkdir()
    except FileExistsError:
        return
    made.append(path)


@dataclass(frozen=True)
class RecipeSummary:
    name: str
    latest_version: int
    n_versions: int
    model: str
    saved_at: str


class RecipeStore:
    """Recipes under one directory (configurable; created on first save).

    Opening a store removes what killed saves left behind (see `clean_leftovers`).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.clean_leftovers()

    # --- reading --------------------------------------------------------------------------
    def product_dir(self, name: str) -> Path:
        return self.root / check_name(name)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and _valid_name(p.name) and self.versions(p.name)
        )

    def versions(self, name: str) -> list[int]:
        d = self.product_dir(name)
        if not d.is_dir():
            return []
        return sorted(int(m.group(1)) for p in d.iterdir() if (m := _VERSION_RE.fullmatch(p.name)))

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
        data = read_json_file(p, f"recipe file {p}")
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
        nothing this call created is left behind, and nothing it did not create is touched (another
        process may be saving the same product at the same time).
        """
        from inspection_core.calibration.history import now_iso

        pdir = self.product_dir(recipe.name)
        made: list[Path] = []  # folders this call created
        new_model: Path | None = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            _mkdir(pdir, made)
            model_rel, new_model = self._adopt_model(recipe, pdir, move_model, made)
            saved = recipe.with_(model_dir=model_rel, base_dir=pdir, saved_at=now_iso())
            version = self._write_next_version(pdir, saved)
        except OSError as exc:
            self._undo(made, new_model)
            raise RecipeError(f"cannot save recipe {recipe.name!r} in {pdir}: {exc.strerror or exc}") from exc
        except BaseException:
            self._undo(made, new_model)
            raise
        return saved.with_(version=version)

    @staticmethod
    def _undo(made: list[Path], new_model: Path | None) -> None:
        """Remove the model copy this save made, then the folders it made if they are still empty
        (rmdir, never rmtree: another process may have saved into them meanwhile)."""
        if new_model is not None:
            shutil.rmtree(new_model, ignore_errors=True)
        for d in reversed(made):
            with contextlib.suppress(OSError):
                d.rmdir()

    def _adopt_model(
        self, recipe: Recipe, pdir: Path, move: bool, made: list[Path]
    ) -> tuple[str, Path | None]:
        """(model_dir relative to pdir, the new model folder if one was created)."""
        src = recipe.model_path.resolve()
        models = (pdir / MODELS).resolve()
        if src.parent == models:
            read_meta(src)  # still there and sane
            return f"{MODELS}/{src.name}", None
        read_meta(src)  # a clear ModelFileError before anything is written
        _mkdir(pdir / MODELS, made)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(_TMP_MODEL), dir=models))
        try:
            if move:
                tmp.rmdir()
                shutil.move(str(src), str(tmp))
            else:
                shutil.copytree(src, tmp, dirs_exist_ok=True)
            share_tree(tmp)  # mkdtemp made it 0700; a model written by mkstemp is 0600
            fsync_tree(tmp)
            while True:
                used = [int(m.group(1)) for p in models.iterdir() if (m := _MODEL_RE.fullmatch(p.name))]
                target = models / f"m{max(used, default=0) + 1:04d}"
                try:
                    tmp.rename(target)  # fails if another writer took the name meanwhile
                    break
                except OSError:
                    if not target.exists():
                        raise
            fsync_path(models)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return f"{MODELS}/{target.name}", target

    def _write_next_version(self, pdir: Path, recipe: Recipe) -> int:
        fd, tmp = tempfile.mkstemp(dir=pdir, prefix=temp_prefix(_TMP), suffix=".json")
        try:
            v = (self.latest_version(recipe.name) or 0) + 1
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(recipe.with_(version=v).to_dict(), fh, indent=2, allow_nan=False)
                fh.flush()
                os.fsync(fh.fileno())
            share(Path(tmp))  # mkstemp made it 0600; the version is this same inode
            while True:
                try:
                    os.link(tmp, pdir / f"v{v:04d}.json")  # never replaces an existing version
                    break
                except FileExistsError:  # a concurrent save took v: renumber and retry
                    v = (self.latest_version(recipe.name) or 0) + 1
                    data = recipe.with_(version=v).to_dict()
                    Path(tmp).write_text(json.dumps(data, indent=2, allow_nan=False), encoding="utf-8")
                    with open(tmp, "rb") as fh:
                        os.fsync(fh.fileno())
            fsync_path(pdir)
            return v
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    # --- leftovers of killed saves --------------------------------------------------------
    def clean_leftovers(self, stale_after_s: float = STALE_AFTER_S) -> list[Path]:
        """Remove temp files/folders of saves and imports that were killed, and model copies no
        version uses. Only our own temp-name patterns, and only when their maker is provably dead
        or they are older than `stale_after_s` (a save in progress elsewhere is never touched).
        Best effort: an error here never stops the store from opening. Returns what was removed."""
        removed: list[Path] = []
        try:
            entries = list(self.root.iterdir()) if self.root.is_dir() else []
        except OSError:
            return removed
        for p in entries:
            try:
                if is_abandoned(p, _IMPORT, stale_after_s) and p.is_dir():
                    shutil.rmtree(p)
                    removed.append(p)
                elif p.is_dir() and not p.is_symlink() and _valid_name(p.name):
                    removed += self._clean_product(p, stale_after_s)
            except OSError as exc:
                _log.warning("recipe store: cannot clean %s: %s", p, exc)
        for p in removed:
            _log.info("recipe store: removed the leftover of an interrupted save: %s", p)
        return removed

    def _clean_product(self, pdir: Path, stale_after_s: float) -> list[Path]:
        removed: list[Path] = []
        versions = []
        for p in pdir.iterdir():
            if _VERSION_RE.fullmatch(p.name):
                versions.append(p)
            elif p.is_file() and not p.is_symlink() and is_abandoned(p, _TMP, stale_after_s):
                p.unlink()
                removed.append(p)
        models = pdir / MODELS
        if not models.is_dir() or models.is_symlink():
            return removed
        candidates = []  # old store model copies: orphans unless a version uses them
        for m in models.iterdir():
            if m.is_symlink() or not m.is_dir():
                continue
            if is_abandoned(m, _TMP_MODEL, stale_after_s):
                shutil.rmtree(m)
                removed.append(m)
            elif _MODEL_RE.fullmatch(m.name) and age_s(m) > stale_after_s:  # younger: maybe being linked
                candidates.append(m)
        used = self._models_used(versions) if candidates else None
        for m in candidates:
            if used is not None and m.name not in used:
                shutil.rmtree(m)
                removed.append(m)
        return removed

    @staticmethod
    def _models_used(versions: list[Path]) -> set[str] | None:
        """Names of the store model copies the versions use; None when that cannot be told for sure
        (an unreadable version, or a model_dir not of the form models/mNNNN): then nothing is removed."""
        used: set[str] = set()
        for p in versions:
            try:
                model_dir = read_json_file(p, str(p)).get("model_dir")
            except (RecipeError, AttributeError):
                return None
            if not isinstance(model_dir, str):
                return None
            parts = Path(model_dir).parts
            if Path(model_dir).is_absolute():
                continue
            if len(parts) != 2 or parts[0] != MODELS:
                return None
            used.add(parts[1])
        return used

    # --- archives -------------------------------------------------------------------------
    def export(self, name: str, file: str | os.PathLike[str], version: int | None = None) -> Path:
        return export_recipe(self.load(name, version), file)

    def import_(self, file: str | os.PathLike[str], name: str | None = None) -> Recipe:
        """Validate an archive completely, then save it as the next version of its product (or `name`).

        Any problem raises RecipeError and leaves the store exactly as it was.
        """
        src = Path(file)
        where = f"cannot import {src.name}"
        if name is not None:
            check_name(name)
        if not src.is_file():
            raise RecipeError(f"{where}: file not found")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=temp_prefix(_IMPORT), dir=self.root))
        except OSError as exc:
            raise RecipeError(f"{where}: cannot write to {self.root} ({exc.strerror or exc})") from None
        try:
            recipe = unpack_recipe(src, work, where)
            if name:
                recipe = recipe.with_(name=name)
            return self.save(recipe, move_model=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def import_recipe(store: RecipeStore, file: str | os.PathLike[str], name: str | None = None) -> Recipe:
    """`store.import_(file, name)`."""
    return store.import_(file, name)
