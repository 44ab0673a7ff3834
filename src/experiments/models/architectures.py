"""Feature-extractor layer lists of each architecture, in plain Python (no torch).

Each model's YAML names its list once, as ``model.features`` (``hydra.utils.get_object`` of a name
here); the builder takes it as ``layers`` (``${model.features}``) and the config check walks the same
list before torch is imported. The builders default to these lists when called from Python.
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

# LeNet-5 as in the 1998 paper: C5 is a 5x5 convolution (1x1 output at 32x32), so the check covers it.
LENET5_CLASSIC: tuple[Layer, ...] = (
    Conv("C1", 6, kernel=5),
    Pool("S2", kernel=2, stride=2),
    Conv("C3", 16, kernel=5),
    Pool("S4", kernel=2, stride=2),
    Conv("C5", 120, kernel=5),
)

# AlexNet as in the 2012 paper (227x227 input): 96-256-384-384-256. Two towers (``groups=2``) split
# conv2, conv4 and conv5; the geometry is the same either way, so the builder sets the groups.
ALEXNET_PAPER: tuple[Layer, ...] = (
    Conv("conv1", 96, kernel=11, stride=4),
    Pool("pool1", kernel=3, stride=2),
    Conv("conv2", 256, kernel=5, padding=2),
    Pool("pool2", kernel=3, stride=2),
    Conv("conv3", 384, kernel=3, padding=1),
    Conv("conv4", 384, kernel=3, padding=1),
    Conv("conv5", 256, kernel=3, padding=1),
    Pool("pool5", kernel=3, stride=2),
)

# The Keras variant (seed 001): the paper's widths on a 224x224 input, conv1 padded by 2 as in
# torchvision, so pool5 is 6x6 at 224 (55-27-27-13-13-13-13-6).
ALEXNET_BN: tuple[Layer, ...] = (Conv("conv1", 96, kernel=11, stride=4, padding=2), *ALEXNET_PAPER[1:])
