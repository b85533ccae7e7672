"""The bundle's executable: `aoi-station` (PyInstaller runs this file; see packaging/aoi-station.spec)."""

import multiprocessing
import sys

from app.__main__ import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # DataLoader workers re-run the executable (spawn/forkserver)
    sys.exit(main())
