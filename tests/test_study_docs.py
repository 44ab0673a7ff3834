"""docs/study.md says only what its studies' files say, and those files agree with statsmodels.

The studies themselves take 20 to 60 minutes each on a CPU (docs/study.md has the commands); these tests
read what they wrote under docs/study/ and check the page against it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "study.md"
STUDIES = ROOT / "docs" / "study"


def sentences(summary: dict) -> set[str]:
    """Every line compare wrote: findings, effects findings and notes, ranking by epoch."""
    effects = summary.get("effects") or {}
    return {*summary["insights"], *effects.get("findings", []), *effects.get("notes", [])}


def test_every_quoted_line_is_in_a_studys_summary() -> None:
    written = set().union(*(sentences(json.loads(p.read_text())) for p in STUDIES.glob("*/summary.json")))
    quoted = [line[2:] for line in PAGE.read_text().splitlines() if line.startswith("> ")]
    assert quoted, "docs/study.md quotes no finding"
    missing = [line for line in quoted if line not in written]
    assert not missing, missing


def test_every_linked_file_exists() -> None:
    links = re.findall(r"\]\((study/[^)#]+)\)", PAGE.read_text())
    assert links
    assert [link for link in links if not (ROOT / "docs" / link).is_file()] == []


@pytest.mark.parametrize("study", ["pooling_mnist", "pooling_cifar10"])
def test_the_studys_anova_is_statsmodels_on_its_runs(study: str) -> None:
    """The ANOVA in summary.json, recomputed from runs.csv (one row per job) with statsmodels directly."""
    summary = json.loads((STUDIES / study / "summary.json").read_text())
    runs = pd.read_csv(STUDIES / study / "runs.csv")
    runs = runs[runs["status"] == "ok"].rename(columns={"test/acc": "acc", "model.net.block_order": "order"})
    assert len(runs) == summary["effects"]["runs"]
    terms = "(C(pooling) + C(activation) + C(order)) ** 2"
    table = anova_lm(ols(f"acc ~ {terms}", runs).fit(), typ=2)
    names = {"pooling": "C(pooling)", "activation": "C(activation)", "model.net.block_order": "C(order)"}
    for row in summary["effects"]["anova"]:
        index = ":".join(names[f] for f in row["factors"])
        assert row["F"] == pytest.approx(table.loc[index, "F"], rel=1e-6), row["term"]
        assert row["df"] == table.loc[index, "df"]
