"""Nearest real keys for a mistyped one, from the composed config itself (``trainer.max_epoch`` -> ``max_epochs``)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from omegaconf import DictConfig, ListConfig


def dotted_keys(node: DictConfig, prefix: str = "") -> Iterator[str]:
    """Every key of ``node`` as a dotted path (lists are leaves; interpolations are not resolved)."""
    for key in node:
        path = f"{prefix}{key}"
        if key == "_target_" or str(key).startswith("_"):
            continue
        value = node._get_node(key)
        yield path
        if isinstance(value, DictConfig) and not value._is_missing() and not value._is_interpolation():
            yield from dotted_keys(value, f"{path}.")
        elif isinstance(value, ListConfig):
            continue


def _initials(name: str) -> str:
    return "".join(part[0] for part in name.split("_") if part)


def nearest_keys(cfg: DictConfig, wrong: str, most: int = 3) -> list[str]:
    """Real keys that ``wrong`` most likely meant: close spellings, the same leaf elsewhere, or its initials.

    ``trainer.max_epoch`` -> ``trainer.max_epochs``; ``model.dropout`` -> ``model.net.dropout``;
    ``optimizer.learning_rate`` -> ``optimizer.lr``; ``hydra.launcher.cpus`` -> ``cpus_per_task``.
    """
    keys = list(dotted_keys(cfg))
    leaf = wrong.rsplit(".", 1)[-1]
    group = wrong.split(".", 1)[0]
    scored: dict[str, float] = {}
    for key in keys:
        if wrong.startswith(f"{key}."):
            continue  # the parent of the wrong key is no suggestion for it
        key_leaf = key.rsplit(".", 1)[-1]
        score = difflib.SequenceMatcher(None, wrong, key).ratio()
        if key_leaf == leaf:
            score = max(score, 0.9)
        elif key.split(".", 1)[0] == group:
            leaf_score = difflib.SequenceMatcher(None, leaf, key_leaf).ratio()
            if _initials(leaf) == key_leaf or _initials(key_leaf) == leaf:
                leaf_score = 0.95
            elif leaf in key_leaf.split("_"):  # cpus -> cpus_per_task, epochs -> max_epochs
                leaf_score = 0.9
            score = max(score, 0.2 + 0.75 * leaf_score)
        if score >= 0.7:
            scored[key] = score
    same_group = [k for k in scored if k.split(".", 1)[0] == group]
    ranked = sorted(same_group or scored, key=lambda k: (-scored[k], k))
    return [k for k in ranked if scored[k] >= scored[ranked[0]] - 0.1][:most]
