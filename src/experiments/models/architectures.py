"""Feature-extractor layer lists of each architecture, in plain Python.

The builders construct their ``features`` from these lists, and the config check walks
the same lists before torch is imported. ``model.name`` in the config selects one.
"""

from __future__ import annotations

from experiments.models.geometry import Conv, Layer, Pool

LENET5: tuple[Layer, ...] = (
    Conv("C1", 6, kernel=5),
    Pool("S2", kernel=2, stride=2),
    Conv("C3", 16, kernel=5),
    Pool("S4", kernel=2, stride=2),
)

# torchvision's AlexNet (the "one weird trick" single-tower variant): 64-192-384-256-256.
ALEXNET: tuple[Layer, ...] = (
    Conv("conv1", 64, kernel=11, stride=4, padding=2),
    Pool("pool1", kernel=3, stride=2),
    Conv("conv2", 192, kernel=5, padding=2),
    Pool("pool2", kernel=3, stride=2),
    Conv("conv3", 384, kernel=3, padding=1),
    Conv("conv4", 256, kernel=3, padding=1),
    Conv("conv5", 256, kernel=3, padding=1),
    Pool("pool5", kernel=3, stride=2),
)

FEATURES: dict[str, tuple[Layer, ...]] = {
    "lenet5": LENET5,
    "alexnet": ALEXNET,
}
