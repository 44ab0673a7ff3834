"""Ranking by epoch (comparison.analysis.settling): when a sweep's ranking stops changing, checked against scipy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy import stats

from experiments.comparison import compare
from experiments.comparison.analysis.grouping import group_runs
from experiments.comparison.analysis.settling import Settling, ranking_by_epoch, settling_sentence
from experiments.records.run_record import RunRecord

#: Mean val/acc per (pooling, epoch): avg leads at epoch 1, max from epoch 2; min is last throughout.
CURVES = {
    "max": [0.80, 0.95, 0.97, 0.98],
    "avg": [0.85, 0.93, 0.95, 0.96],
    "lp": [0.82, 0.90, 0.96, 0.97],
    "min": [0.60, 0.70, 0.75, 0.78],
}


def run(pooling: str, seed: int, curve: list[float], status: str = "ok") -> RunRecord:
    noise = 0.001 * (seed - 1)  # seeds 0, 1, 2 average to the curve
    history = [{"epoch": e + 1, "val/acc": v + noise} for e, v in enumerate(curve)]
    return RunRecord(
        path=f"/runs/{pooling}-{seed}",
        status=status,
        overrides=[f"pooling={pooling}", f"seed={seed}"],
        metrics={"test/acc": curve[-1] + noise},
        history=history if status == "ok" else [],
    )


def ranking(runs: list[RunRecord]) -> Settling:
    keys, groups = group_runs(runs, None, ("seed",), "test/acc", "welch", 0.05)
    result = ranking_by_epoch(groups, keys)
    assert result is not None
    return result


def test_kendall_tau_and_orders_match_scipy_epoch_by_epoch() -> None:
    runs = [run(p, s, c) for p, c in CURVES.items() for s in range(3)]
    result = ranking(runs)
    assert result.epochs == [1, 2, 3, 4]
    labels = [row.best for row in result.rows]
    assert labels == ["pooling=avg", "pooling=max", "pooling=max", "pooling=max"]
    for row in result.rows:
        e = row.epoch - 1
        order = sorted(CURVES, key=lambda p: -CURVES[p][e])
        assert row.orders["pooling"] == order
        tau, p = stats.kendalltau([CURVES[k][e] for k in CURVES], [CURVES[k][-1] for k in CURVES])
        assert row.kendall_tau == pytest.approx(tau)
        assert row.p == pytest.approx(p)
    # lp passes avg at epoch 3 and stays there: the order is final from epoch 3, the best from epoch 2.
    assert result.factors_settled_at == {"pooling": 3}
    assert result.best_settled_at == 2
    sentence = settling_sentence(result)
    assert "pooling's order by val/acc is the final one from epoch 3" in sentence
    assert "best group is the final one from epoch 2" in sentence
    assert "more epochs may change" not in sentence


def test_a_change_at_the_last_epoch_is_a_warning() -> None:
    curves = {**CURVES, "lp": [0.82, 0.90, 0.94, 0.99]}  # lp becomes best only at the last epoch
    result = ranking([run(p, s, c) for p, c in curves.items() for s in range(3)])
    assert result.best_settled_at == 4
    assert "more epochs may change the ranking" in settling_sentence(result)


def test_failed_runs_are_left_out_and_single_epochs_give_none() -> None:
    runs = [run(p, s, c) for p, c in CURVES.items() for s in range(3)]
    runs.append(run("max", 3, [0.1, 0.1, 0.1, 0.1], status="failed"))
    assert ranking(runs).rows[-1].orders["pooling"] == ["max", "lp", "avg", "min"]
    one_epoch = [run(p, s, c[:1]) for p, c in CURVES.items() for s in range(2)]
    keys, groups = group_runs(one_epoch, None, ("seed",), "test/acc", "welch", 0.05)
    assert ranking_by_epoch(groups, keys) is None


def test_report_files_carry_the_ranking(tmp_path: Path) -> None:
    from tests.test_compare import write_run

    sweep = tmp_path / "sweep"
    for num, (pooling, acc) in enumerate([("max", 0.97), ("max", 0.96), ("min", 0.7), ("min", 0.72)]):
        write_run(sweep, num, {"pooling": pooling, "seed": num % 2}, acc, epochs=3)
    compare([sweep], tmp_path / "out", plots=False)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["ranking_by_epoch"]["factors_settled_at"] == {"pooling": 1}
    assert any(line.startswith("Ranking by epoch:") for line in summary["insights"])
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "## Ranking by epoch" in markdown and "| 3 | 1.00 | pooling=max | max > min |" in markdown
    assert "<h2>Ranking by epoch</h2>" in (tmp_path / "out" / "report.html").read_text()
