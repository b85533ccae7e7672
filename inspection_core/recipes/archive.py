"""One-file recipe archives for copying a product between stations.

An archive is a zip holding `recipe.json` (the recipe, its model_dir set to "model", and a manifest
of SHA-256 sums of the model files) and `model/` (the model folder). Import checks everything — zip
integrity, paths, recipe format version, checksums, and that the model actually loads with this
aoi-station's registry and versions — in a temp folder before anything enters the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from inspection_core.errors import ModelFileError
from inspection_core.recipe import Recipe, RecipeError
from inspection_core.recipes.store import RecipeStore, fsync_dir

RECIPE_JSON = "recipe.json"
MODEL_DIR = "model"
MAX_UNCOMPRESSED = 4 << 30  # refuse zip bombs: no model we make is anywhere near 4 GB


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_recipe(recipe: Recipe, file: str | os.PathLike[str]) -> Path:
    """Write recipe + model into one zip (atomically: temp file, fsync, rename)."""
    src = recipe.model_path
    if not src.is_dir():
        raise RecipeError(f"recipe {recipe.name!r}: model folder not found: {src}")
    files = sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith("."))
    data = recipe.with_(model_dir=MODEL_DIR).to_dict()
    data["archive"] = {"sha256": {p.relative_to(src).as_posix(): _sha256(p) for p in files}}
    out = Path(file)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(RECIPE_JSON, json.dumps(data, indent=2))
                for p in files:
                    zf.write(p, f"{MODEL_DIR}/{p.relative_to(src).as_posix()}")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RecipeError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return out


def _safe_members(zf: zipfile.ZipFile, where: str) -> list[zipfile.ZipInfo]:
    members = zf.infolist()
    total = 0
    for info in members:
        p = PurePosixPath(info.filename)
        if p.is_absolute() or ".." in p.parts or "\\" in info.filename:
            raise RecipeError(f"{where}: archive contains an unsafe path {info.filename!r}")
        total += info.file_size
    if total > MAX_UNCOMPRESSED:
        raise RecipeError(f"{where}: archive unpacks to {total >> 20} MB, more than any recipe should")
    return members


def import_recipe(store: RecipeStore, file: str | os.PathLike[str], name: str | None = None) -> Recipe:
    """Validate an archive completely, then save it as the next version of its product (or `name`).

    Any problem raises RecipeError and leaves the store exactly as it was.
    """
    from inspection_core.models.bundle import load_bundle

    src = Path(file)
    where = f"cannot import {src.name}"
    if not src.is_file():
        raise RecipeError(f"{where}: file not found")
    store.root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".import-", dir=store.root))
    try:
        try:
            with zipfile.ZipFile(src) as zf:
                members = _safe_members(zf, where)
                names = {m.filename for m in members}
                if RECIPE_JSON not in names:
                    raise RecipeError(f"{where}: not a recipe archive (no {RECIPE_JSON})")
                data = json.loads(zf.read(RECIPE_JSON).decode("utf-8"))
                recipe = Recipe.from_dict(data, where=where)  # format/version checked before unpacking
                model_members = [
                    m for m in members if m.filename.startswith(f"{MODEL_DIR}/") and not m.is_dir()
                ]
                if not model_members:
                    raise RecipeError(f"{where}: the archive holds no model")
                for m in model_members:
                    zf.extract(m, work)  # checks the CRC: a damaged archive fails here
        except zipfile.BadZipFile as exc:
            raise RecipeError(f"{where}: archive is corrupt or not a zip file ({exc})") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecipeError(f"{where}: {RECIPE_JSON} is corrupt ({exc})") from None
        model_dir = work / MODEL_DIR
        expected = (data.get("archive") or {}).get("sha256") or {}
        for rel, digest in expected.items():
            f = model_dir / rel
            if not f.is_file() or _sha256(f) != digest:
                raise RecipeError(f"{where}: model file {rel} is missing or corrupt (checksum mismatch)")
        try:
            load_bundle(model_dir, "cpu")  # unknown model, newer format, other version, bad weights
        except ModelFileError as exc:
            msg = str(exc).replace(str(model_dir), "model")
            raise RecipeError(f"{where}: {msg}") from None
        recipe = recipe.with_(model_dir=str(model_dir), base_dir=None, version=0)
        if name:
            recipe = recipe.with_(name=name)
        return store.save(recipe, move_model=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
