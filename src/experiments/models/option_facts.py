"""What a pooling or activation option states about its operator, beside its constructor's arguments.

``conf/pooling/max.yaml`` says ``order_statistic: true`` (the pool picks one value of its window) and
``conf/activation/relu.yaml`` says ``monotone: true`` (it never decreases); ``conf/pooling/none.yaml`` says
``keeps_size: true`` (the geometry: :func:`experiments.models.geometry.as_built`) and
``conf/pooling/strided_conv.yaml`` ``learned: true`` (it has weights). An option that does not state
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
# A pooling that keeps the map's size (pooling=none): the geometry reads each window as 1x1 at stride 1.
KEEPS_SIZE = "keeps_size"
# A pooling with trainable parameters of its own (pooling=strided_conv).
LEARNED = "learned"
OPTION_FACTS = frozenset({ORDER_STATISTIC, MONOTONE, KEEPS_SIZE, LEARNED})

#: The builders whose pools sit inside trainable subsampling (LeNet-5's S layers: a coefficient and a bias per
#: map around the operator): a learned pool is refused there, by the builder and by the config check.
SUBSAMPLING_BUILDERS = ("experiments.models.lenet.lenet5_classic", "experiments.models.lenet.LeNet5Classic")
LEARNED_IN_SUBSAMPLING = (
    "a learned pooling (pooling.learned=true, e.g. pooling=strided_conv) cannot replace the S layers of "
    "model=lenet5_classic, which are trainable subsampling already; use model=lenet5 or another pooling"
)


def states(factory: Any, fact: str) -> bool:
    """Whether the option behind ``factory`` (Hydra's partial of its YAML) states ``fact: true``."""
    return isinstance(factory, partial) and factory.keywords.get(fact) is True


def without_facts(factory: Any) -> Any:
    """``factory`` without the :data:`OPTION_FACTS` keywords that Hydra's partial bound: what the builders call."""
    if isinstance(factory, partial) and not OPTION_FACTS.isdisjoint(factory.keywords):
        kept = {key: value for key, value in factory.keywords.items() if key not in OPTION_FACTS}
        return partial(factory.func, *factory.args, **kept)
    return factory
