"""docs/results.md quotes the compare reports beside it: each preset's mean test accuracy is that of its summary.json."""

from __future__ import annotations

import json

import pytest

from .conftest import REPO

PAGE = (REPO / "docs" / "results.md").read_text()
SUMMARIES = sorted((REPO / "docs" / "results").glob("*/summary.json"))


def test_every_report_dir_has_a_summary():
    assert len(SUMMARIES) >= 6


@pytest.mark.parametrize("summary", SUMMARIES, ids=[p.parent.name for p in SUMMARIES])
def test_the_page_quotes_each_reports_accuracies(summary):
    data = json.loads(summary.read_text())
    assert data["command"].split(" -q")[0].replace("python -m experiments.compare", "") in PAGE.replace(
        "python -m experiments compare", ""
    ), f"docs/results.md lacks the command that made {summary.parent.name}"
    for group in data["groups"]:
        mean = 100 * group["stats"]["test/acc"]["mean"]
        assert f"{mean:.2f}" in PAGE, f"{summary.parent.name}: {group['label']}'s {mean:.2f} % is not quoted"
