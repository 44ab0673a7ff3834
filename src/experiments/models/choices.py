"""The values the builders' word-valued options take, named once: the builders check them, and the config
check (:mod:`experiments.config.limits`) refuses any other before torch loads. Plain Python, no torch."""

from __future__ import annotations

BLOCK_ORDERS = ("conv-act-pool", "conv-pool-act")
NORMS = ("lrn", "batch", "none")
INITS = ("paper", "default")
CONNECTIONS = ("paper", "full")
OUTPUTS = ("rbf", "linear")
TOWERS = (1, 2)

#: ``model.net.<key>``: the values it takes, for every model that has the key.
NET_CHOICES: dict[str, tuple[str | int, ...]] = {
    "block_order": BLOCK_ORDERS,
    "norm": NORMS,
    "init": INITS,
    "connections": CONNECTIONS,
    "output": OUTPUTS,
    "groups": TOWERS,
}
