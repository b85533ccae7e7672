import sys

from inspection_core.cli import main

sys.exit(main())
