"""What a pooling or activation option states about its operator, beside its constructor's arguments.

``conf/pooling/max.yaml`` says ``order_statistic: true`` (the pool picks one value of its window) and
``conf/activation/relu.yaml`` says ``monotone: true`` (it never decreases). An option that does not state
a fact does not have it. :mod:`experiments.sweeps.identical` reads them from the job's config; the
builders drop them from the option's factory before calling it (Hydra's ``_partial_: true`` binds every
key of the option). Plain Python, no torch.
"""

from __future__ import annotations

from functools import partial
from typing import Any

# A pooling that picks one value of its window (max, min): it commutes with a monotone activation.
ORDER_STATISTIC = "order_statistic"
# An activation that never decreases (relu, tanh, ...; leaky_relu only with negative_slope >= 0).
MONOTONE = "monotone"
OPTION_FACTS = frozenset({ORDER_STATISTIC, MONOTONE})


def without_facts(factory: Any) -> Any:
    """``factory`` without the :data:`OPTION_FACTS` keywords that Hydra's partial bound: what the builders call."""
    if isinstance(factory, partial) and not OPTION_FACTS.isdisjoint(factory.keywords):
        kept = {key: value for key, value in factory.keywords.items() if key not in OPTION_FACTS}
        return partial(factory.func, *factory.args, **kept)
    return factory
