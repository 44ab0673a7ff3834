"""The one exception for bad input: it names the key and what would fix it."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config value is wrong; the message names the key and what would fix it."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
