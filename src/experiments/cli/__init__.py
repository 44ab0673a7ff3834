"""The console script: ``experiments [train overrides]``, ``experiments compare``, ``layers``, ``test``.

Each command has its own ``--help``; none imports torch before it has work for it.
"""

from __future__ import annotations

import sys

COMMANDS = ("compare", "layers", "test")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["compare"]:
        from experiments.comparison.command_line import main as compare

        sys.exit(compare(argv[1:]))
    if argv[:1] == ["layers"]:
        from experiments.cli.layers_command import main as layers

        sys.exit(layers(argv[1:]))
    if argv[:1] == ["test"]:
        from experiments.cli.test_command import main as test

        sys.exit(test(argv[1:]))
    if argv[:1] == ["--version"]:
        from experiments import __version__

        print(f"experiments {__version__}")
        return
    from experiments.cli.train import main as train

    sys.exit(train(argv))
