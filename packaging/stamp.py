"""Write the bundle's build stamp (aoi-station-build.json): what `aoi --version` and Help → About show
as the revision of a bundle, which has no .git (inspection_core/runtime/version.py reads it).

    build/venv/bin/python packaging/stamp.py OUT.json "$(git describe --always --dirty)"
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version
from pathlib import Path


def main(out: Path, revision: str) -> int:
    import torch

    stamp = {
        "version": version("aoi-station"),
        "git": revision.strip() or None,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }
    out.write_text(json.dumps(stamp, indent=2), encoding="utf-8")
    print(f"{out}: {stamp}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else ""))
