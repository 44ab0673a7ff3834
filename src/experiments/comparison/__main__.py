"""``python -m experiments.comparison PATH...``: the same as ``experiments compare PATH...``."""

from experiments.comparison.command_line import main

if __name__ == "__main__":
    raise SystemExit(main())
