"""Where ``conf/`` is: shipped inside the package (wheel), else the source checkout's top level."""

from __future__ import annotations

from pathlib import Path


def config_dir() -> Path:
    """``conf/`` shipped inside the package (wheel), else the source checkout's top-level ``conf/``."""
    packaged = Path(__file__).resolve().parents[1] / "conf"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "conf"
