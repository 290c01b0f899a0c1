"""Entry point for `python -m core`."""

import sys

from core.cli import main

if __name__ == "__main__":  # NOTE: worker processes (spawned to make training frames) import this module too
    sys.exit(main())
