import sys

from inspection_core.cli import main

if __name__ == "__main__":  # worker processes (spawn/forkserver) import this module again
    sys.exit(main())
