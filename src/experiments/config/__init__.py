"""Config: compose ``conf/`` with overrides, validate the result, name the key when it is wrong. No torch."""

from experiments.config.compose import compose, config_dir, config_groups
from experiments.config.errors import ConfigError
from experiments.config.folder_resolvers import register_resolvers
from experiments.config.launcher_resolvers import register_launcher_resolvers
from experiments.config.rules import validate

register_resolvers()
register_launcher_resolvers()

__all__ = ["ConfigError", "compose", "config_dir", "config_groups", "validate"]
