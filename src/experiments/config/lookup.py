"""A dotted key in a plain nested config (``select(config, "model.net.dropout")``), as records hold them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def select(config: Mapping[str, Any] | None, dotted: str) -> Any:
    """The value at ``dotted`` in a nested mapping; None where a part of the path is missing."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
