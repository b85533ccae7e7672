"""One-file recipe archives for copying a product between stations (the format; the store imports them).

An archive is a zip holding `recipe.json` (the recipe, its model_dir set to "model", and a manifest
of SHA-256 sums of the model files under "archive": {"sha256": {...}}) and `model/` (the model
folder). Reading checks everything — zip integrity, entry paths and kinds, sizes, the manifest (every
model file listed, nothing unlisted), checksums, recipe format and values, and that the model loads
with this aoi-station's registry and versions — in a folder the caller gives, before anything enters
a store. Nothing here knows the store: `RecipeStore.import_` calls `unpack_recipe`, then saves.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import zipfile
from pathlib import Path, PurePosixPath

from inspection_core.errors import ModelFileError
from inspection_core.recipe import MAX_JSON_BYTES, Recipe, RecipeError, parse_json
from inspection_core.runtime.atomic import atomic_writer

RECIPE_JSON = "recipe.json"
MODEL_DIR = "model"
MAX_UNCOMPRESSED = 4 << 30  # refuse zip bombs: no model we make is anywhere near 4 GB
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


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
    with atomic_writer(out, "wb", RecipeError) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(RECIPE_JSON, json.dumps(data, indent=2, allow_nan=False))
        for p in files:
            zf.write(p, f"{MODEL_DIR}/{p.relative_to(src).as_posix()}")
    return out


def _unsafe(name: str) -> bool:
    p = PurePosixPath(name)
    return (
        not name
        or p.is_absolute()
        or "\\" in name
        or ".." in p.parts
        or any(part in ("", ".") for part in name.rstrip("/").split("/"))
        or ":" in p.parts[0]  # a Windows drive
    )


def _safe_members(zf: zipfile.ZipFile, where: str) -> list[zipfile.ZipInfo]:
    """Entries with safe paths, no links or devices, unique names and a bounded total size."""
    members = zf.infolist()
    total = 0
    seen: set[str] = set()
    for info in members:
        if _unsafe(info.filename):
            raise RecipeError(f"{where}: archive contains an unsafe path {info.filename!r}")
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip does not say (writestr)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise RecipeError(f"{where}: archive entry {info.filename!r} is a link or special file")
        if info.filename in seen:
            raise RecipeError(f"{where}: archive holds {info.filename!r} twice")
        seen.add(info.filename)
        total += info.file_size
    if total > MAX_UNCOMPRESSED:
        raise RecipeError(f"{where}: archive unpacks to {total >> 20} MB, more than any recipe should")
    return members


def _manifest(data: object, where: str) -> dict[str, str]:
    """The checksum manifest, checked: without it nothing in the archive can be trusted."""
    sums = (data.get("archive") or {}).get("sha256") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("archive"), dict) or sums is None:
        raise RecipeError(f"{where}: the archive has no checksum manifest ({RECIPE_JSON} archive.sha256)")
    if not isinstance(sums, dict) or not sums:
        raise RecipeError(f"{where}: the archive's checksum manifest is empty or malformed")
    for rel, digest in sums.items():
        if not isinstance(rel, str) or _unsafe(rel) or rel.endswith("/"):
            raise RecipeError(f"{where}: the checksum manifest names an unsafe path {rel!r}")
        if not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest):
            raise RecipeError(f"{where}: the checksum manifest has a malformed sum for {rel!r}")
    return sums


def unpack_recipe(file: str | os.PathLike[str], work: Path, where: str) -> Recipe:
    """Validate an archive completely and unpack its model into `work`/model.

    Returns the recipe with model_dir pointing at the unpacked model (absolute, version 0). Any
    problem is a RecipeError starting with `where`; the caller removes `work`.
    """
    from inspection_core.models.bundle import load_bundle

    src = Path(file)
    if not src.is_file():
        raise RecipeError(f"{where}: file not found")
    try:
        with zipfile.ZipFile(src) as zf:
            members = _safe_members(zf, where)
            by_name = {m.filename: m for m in members}
            info = by_name.get(RECIPE_JSON)
            if info is None:
                raise RecipeError(f"{where}: not a recipe archive (no {RECIPE_JSON})")
            if info.file_size > MAX_JSON_BYTES:  # checked before a byte is inflated
                raise RecipeError(
                    f"{where}: {RECIPE_JSON} declares {info.file_size >> 20} MB; a recipe is a few kB"
                )
            with zf.open(info) as fh:
                raw = fh.read(MAX_JSON_BYTES + 1)
            data = parse_json(raw, f"{where}: {RECIPE_JSON}")
            recipe = Recipe.from_dict(data, where=where)  # format/version/values before unpacking
            sums = _manifest(data, where)
            model_members = [m for m in members if not m.is_dir() and m.filename != RECIPE_JSON]
            if not model_members:
                raise RecipeError(f"{where}: the archive holds no model")
            listed = {f"{MODEL_DIR}/{rel}" for rel in sums}
            for m in model_members:
                if m.filename not in listed:
                    raise RecipeError(
                        f"{where}: archive entry {m.filename!r} is not in its checksum manifest"
                    )
            parents = {str(p) + "/" for name in listed for p in PurePosixPath(name).parents}
            for m in members:
                if m.is_dir() and m.filename not in parents:
                    raise RecipeError(f"{where}: archive folder {m.filename!r} is not in its manifest")
            for m in model_members:
                zf.extract(m, work)  # checks the CRC: a damaged archive fails here
    except zipfile.BadZipFile as exc:
        raise RecipeError(f"{where}: archive is corrupt or not a zip file ({exc})") from None
    except (OSError, EOFError, zipfile.LargeZipFile, NotImplementedError) as exc:
        raise RecipeError(
            f"{where}: archive cannot be read or unpacked ({type(exc).__name__}: {exc})"
        ) from None
    model_dir = work / MODEL_DIR
    for rel, digest in sums.items():
        f = model_dir / rel
        if not f.is_file() or _sha256(f) != digest:
            raise RecipeError(f"{where}: model file {rel} is missing or corrupt (checksum mismatch)")
    try:
        load_bundle(model_dir, "cpu")  # unknown model, newer format, other version, bad weights
    except ModelFileError as exc:
        msg = str(exc).replace(str(model_dir), "model")
        raise RecipeError(f"{where}: {msg}") from None
    return recipe.with_(model_dir=str(model_dir), base_dir=None, version=0)
