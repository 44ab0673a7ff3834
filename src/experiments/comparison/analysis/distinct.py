"""Each distinct network once: which runs of an analysis set are copies, and which settings are one cell.

A run is a copy of another run of the same set when its record says so (``identical_to``, the sweep reused
an earlier job's record), when its config equals another run's (the same network and seed, e.g. a fair
study's ``shared`` job reusing a ``best`` job), or, for records that carry neither (an old report's
``runs.csv``), when a whole cell repeats another cell's runs bit for bit, seed by seed (at least two
seeds, so that one accuracy of k/N cannot coincide by chance), the two cells differing in one factor.
(The same seed and value within one setting is not enough: max pooling with gelu gives 98.73% under
both block orders at seed 1 in ``docs/study/pooling_mnist``, two different networks.)
A copy is never a seed: the statistics use the distinct runs only. The settings whose runs are copies of
each other are one cell (one network): max pooling with relu under both block orders is one cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import pandas as pd

from experiments.records.run_record import RunRecord

#: Columns of the effects frame that say where a run is and what it copies ("" where unknown).
RUN, SOURCE, FINGERPRINT = "run", "copy_source", "fingerprint"
#: Config keys that do not change the network or its training (two runs differing only there are copies).
NOT_THE_NETWORK = ("paths", "hydra", "logger", "study", "sweep", "compare", "wandb", "tags")


def _resolved(path: str) -> str:
    import os

    return os.path.normpath(os.path.abspath(path)) if path else ""


def _scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, dict | list)


def provenance(run: RunRecord) -> dict[str, str]:
    """Where the run is, the run dir it copies (``identical_to``, relative to the run dir) and its config
    as text without the keys that do not change the network (``""`` where unknown)."""
    import json
    import os

    source = _resolved(os.path.join(run.path, run.identical_to)) if run.identical_to and run.path else ""
    config = {k: v for k, v in run.config.items() if k not in NOT_THE_NETWORK}
    # an override the config cannot confirm (a config group's option, a key it lacks) is part of it too
    unconfirmed = {
        k: v
        for k, v in run.override_values.items()
        if k.split(".")[0] not in NOT_THE_NETWORK and not _scalar(run.config_value(k))
    }
    both = {"config": config, "overrides": unconfirmed}
    fingerprint = json.dumps(both, sort_keys=True, default=str) if config else ""
    return {RUN: _resolved(run.path), SOURCE: source, FINGERPRINT: fingerprint}


@dataclass
class CopiedSetting:
    """A setting (one value per factor) whose runs are copies of another setting's runs."""

    setting: dict[str, str]
    of: dict[str, str]
    runs: int
    how: str  # "identical_to", "config" or "bit-identical"

    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.setting.items())

    def of_label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.of.items())


@dataclass
class Networks:
    """The distinct runs of a set (one row each) with their ``cell``, and what was merged."""

    data: pd.DataFrame  # the distinct runs; column "cell" numbers the distinct networks
    cells: dict[tuple[str, ...], int]  # each setting present -> its cell
    copies: list[CopiedSetting] = field(default_factory=list)
    dropped: int = 0  # copied runs left out
    originals: dict[Any, Any] = field(default_factory=dict)  # each copied row's index -> its original's

    def settings(self, cell: int) -> list[tuple[str, ...]]:
        return [s for s, c in self.cells.items() if c == cell]


def _signature(rows: pd.DataFrame, metric: str) -> tuple[Any, ...] | None:
    if rows["seed"].isna().any() or len(rows) < 2:
        return None
    return tuple(sorted(zip(rows["seed"].astype(int).tolist(), rows[metric].tolist())))


def _copy_links(data: pd.DataFrame, factors: Sequence[str], metric: str) -> dict[int, tuple[int, str]]:
    """Row -> (the row it copies, how), by record, by config, then by whole bit-identical cells."""
    links: dict[int, tuple[int, str]] = {}
    by_path = {p: i for i, p in zip(data.index, data.get(RUN, pd.Series(dtype=str))) if p}
    for i, source in zip(data.index, data.get(SOURCE, pd.Series(dtype=str))):
        if source and by_path.get(source, i) != i:
            links[i] = (by_path[source], "identical_to")
    first: dict[str, int] = {}
    for i, fingerprint in zip(data.index, data.get(FINGERPRINT, pd.Series(dtype=str))):
        if fingerprint and i not in links:
            if fingerprint in first:
                links[i] = (first[fingerprint], "config")
            else:
                first[fingerprint] = i
    groups = {
        (key if isinstance(key, tuple) else (key,)): rows for key, rows in data.groupby(list(factors), sort=False)
    }
    for (a, rows_a), (b, rows_b) in combinations(groups.items(), 2):
        if sum(x != y for x, y in zip(a, b)) != 1 or any(i in links for i in rows_b.index):
            continue
        signature = _signature(rows_a, metric)
        if signature is not None and signature == _signature(rows_b, metric):
            seed_row = {int(s): i for i, s in zip(rows_a.index, rows_a["seed"])}
            for i, seed in zip(rows_b.index, rows_b["seed"]):
                links[i] = (seed_row[int(seed)], "bit-identical")
    return links


def distinct_networks(data: pd.DataFrame, factors: Sequence[str], metric: str) -> Networks:
    """The distinct runs of ``data`` (one row per ok run) and the cells of the distinct networks."""
    links = _copy_links(data, factors, metric)

    def root(i: int) -> int:
        seen = set()
        while i in links and i not in seen:
            seen.add(i)
            i = links[i][0]
        return i

    setting = {i: tuple(str(data.at[i, f]) for f in factors) for i in data.index}
    parent: dict[tuple[str, ...], tuple[str, ...]] = {s: s for s in dict.fromkeys(setting.values())}

    def find(s: tuple[str, ...]) -> tuple[str, ...]:
        while parent[s] != s:
            s = parent[s]
        return s

    for i in links:
        a, b = find(setting[root(i)]), find(setting[i])
        if a != b:
            parent[b] = a
    order = list(dict.fromkeys(find(s) for s in parent))
    cells = {s: order.index(find(s)) for s in parent}
    copies: dict[tuple[tuple[str, ...], tuple[str, ...]], CopiedSetting] = {}
    for i, (_, how) in links.items():
        own, of = setting[i], setting[root(i)]
        key = (own, of)
        if key not in copies:
            copies[key] = CopiedSetting(dict(zip(factors, own)), dict(zip(factors, of)), 0, how)
        copies[key].runs += 1
    kept = data.drop(index=list(links)).copy()
    kept["cell"] = [cells[setting[i]] for i in kept.index]
    return Networks(kept, cells, list(copies.values()), len(links), {i: root(i) for i in links})
