"""The bundle's command line: `aoi` (PyInstaller runs this file; see packaging/aoi-station.spec)."""

import multiprocessing
import sys

from inspection_core.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # `aoi train`'s DataLoader workers re-run the executable
    sys.exit(main())
