"""Hydra plugins of experiments (Hydra finds launchers in the ``hydra_plugins`` namespace only)."""
