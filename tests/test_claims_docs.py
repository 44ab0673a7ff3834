"""docs/claims.md says only what its studies' files say.

The claims studies take 15 to 30 minutes each on a CPU (docs/claims.md has the commands); these tests read
what `experiments compare` wrote under docs/claims/ and check the page against it: every quoted sentence is
one compare wrote, every command beside a report is the one that made it, every interval in the verdict table
is one of the reports', every claim has a verdict, and the reports' probe numbers agree with scipy.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "claims.md"
REPORTS = ROOT / "docs" / "claims"
VERDICTS = ("supported", "refuted", "depends on", "unresolved", "not measured")
INTERVAL = re.compile(r"\[-?\d+\.\d+, -?\d+\.\d+\]")


def summaries() -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(REPORTS.glob("*/summary.json"))}


def written_text(summary: dict) -> str:
    """Every sentence compare wrote, and its probe tables, as one text to search."""
    effects = summary.get("effects") or {}
    lines = [
        *(summary.get("answer") or []),
        *summary.get("insights", []),
        *effects.get("findings", []),
        *effects.get("notes", []),
    ]
    return "\n".join(lines) + "\n" + json.dumps(summary.get("probes"))


def table_rows() -> list[list[str]]:
    body = PAGE.read_text().split("## The claims\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| claim")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows if not set(row) <= set("|- ")]


def test_every_quoted_line_is_a_sentence_compare_wrote() -> None:
    quoted = [line[2:] for line in PAGE.read_text().splitlines() if line.startswith("> ")]
    assert quoted, "docs/claims.md quotes no finding"
    written = "\n".join(written_text(s) for s in summaries().values())
    missing = [line for line in quoted if line not in written]
    assert not missing, missing


def test_each_report_was_made_by_the_command_on_the_page() -> None:
    page = PAGE.read_text()
    found = summaries()
    assert len(found) >= 4
    for name, summary in found.items():
        assert summary["command"].endswith(f"-o docs/claims/{name}"), summary["command"]
        assert summary["command"] in page, summary["command"]


def test_every_claim_has_a_verdict_and_its_intervals_come_from_the_reports() -> None:
    rows = table_rows()
    assert len(rows) >= 8
    written = "\n".join(written_text(s) for s in summaries().values())
    for row in rows:
        claim, verdict = row[0], row[-2]
        assert verdict.startswith(VERDICTS), f"{claim}: {verdict}"
        if verdict.startswith("not measured"):
            continue
        intervals = INTERVAL.findall(row[-3])
        assert intervals, f"{claim}: no measured interval"
        for interval in intervals:
            assert interval in written, f"{claim}: {interval} is in no report"


def test_every_linked_file_exists() -> None:
    links = re.findall(r"\]\((claims/[^)#]+)\)", PAGE.read_text())
    assert links
    assert [link for link in links if not (ROOT / "docs" / link).is_file()] == []


@pytest.mark.parametrize("report", ["pooling_mnist", "padding_cifar10"])
def test_the_probe_tables_are_scipys_t_intervals_over_the_distinct_runs(report: str) -> None:
    summary = summaries()[report]
    runs = pd.read_csv(REPORTS / report / "runs.csv")
    runs = runs[runs["status"] == "ok"]
    key = next(k for k in summary["keys"] if k in runs.columns)
    checked = 0
    for table in summary["probes"]["tables"]:
        for row in table["rows"]:
            if row["metric"] != "probe/consistency":
                continue
            values = runs.loc[runs[key].astype(str) == str(row["group"]).split("=", 1)[-1], "probe/consistency"]
            values = values.dropna().to_numpy(dtype=float)
            if row["n"] != len(values):
                continue  # a copy of another group's network is counted once (distinct.py)
            mean = values.mean()
            half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
            assert row["mean"] == pytest.approx(mean, abs=1e-9)
            assert row["low"] == pytest.approx(max(0.0, mean - half), abs=1e-9)
            checked += 1
    assert checked >= 3
