"""``python -m experiments.summary`` is the older name of ``experiments layers``; it runs the same command."""

import sys

from experiments.cli.layers_command import main

if __name__ == "__main__":
    sys.exit(main())
