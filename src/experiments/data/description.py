"""What ``results.json`` records of a datamodule as ``data_info``: source, sizes, split, normalisation."""

from __future__ import annotations

from typing import Any


def describe(data: Any) -> dict[str, Any]:
    """``data_info`` of a set-up :class:`~experiments.data.datamodule.ClassificationData`."""
    source = data.source
    return {
        "name": data.name,
        "source": type(source).__name__,
        "root": str(getattr(source, "root", "")) or None,
        "channels": data.channels,
        "source_channels": getattr(source, "channels", None),
        "native_size": getattr(source, "native_size", None),
        "image_size": data.image_size,
        "protocol": data.protocol,
        "classes": data.classes,
        "sizes": data.sizes(),
        "augment": data.augment_config,
        "normalization_mean": getattr(data, "norm_mean", None),
        "normalization_std": getattr(data, "norm_std", None),
        **data.info,
    }
