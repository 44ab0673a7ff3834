"""The "Effects" analysis of compare (issue #15) on synthetic grids, against statsmodels and scipy directly.

The balanced grid: pooling {max, avg, min} x activation {relu, tanh} x dropout {0.0, 0.5} x 4 seeds,
with a main effect of pooling, an interaction (min pooling costs much more with relu, which also lowers
relu's marginal mean) and no effect of dropout, plus Gaussian noise of 0.4 points from a fixed seed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower

from experiments.comparison.analysis.effects import effects_frame, factorial_effects
from experiments.comparison.analysis.effects_results import Effects, IdenticalCells, SeedsPerCell
from experiments.comparison.writers.effects_plots import effects_plots, plot_titles
from experiments.comparison.writers.effects_section import effects_markdown
from experiments.records.run_record import RunRecord

METRIC = "test/acc"
FACTORS = ["pooling", "activation", "dropout"]
REFERENCE = {"pooling": "max", "activation": "relu"}
POOLING_COST = {"max": 0.0, "avg": 0.01, "min": 0.03}
MIN_WITH_RELU = 0.06  # the interaction: extra cost of min pooling after relu
TERMS_II = "C(pooling) + C(activation) + C(dropout) + C(pooling):C(activation) + C(pooling):C(dropout) + C(activation):C(dropout)"
TERMS_III = TERMS_II.replace(")", ", Sum)")


def grid(seeds: int = 4, noise: float = 0.004, rng_seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    rows = []
    for pooling in POOLING_COST:
        for activation in ("relu", "tanh"):
            for dropout in ("0.0", "0.5"):
                for seed in range(seeds):
                    extra = MIN_WITH_RELU if (pooling, activation) == ("min", "relu") else 0.0
                    value = 0.95 - POOLING_COST[pooling] - extra + rng.normal(0, noise)
                    rows.append(
                        {
                            "pooling": pooling,
                            "activation": activation,
                            "dropout": dropout,
                            "seed": seed,
                            METRIC: value,
                        }
                    )
    return pd.DataFrame(rows)


def direct_anova(frame: pd.DataFrame, typ: int) -> tuple[pd.DataFrame, object]:
    data = frame.rename(columns={METRIC: "acc"})
    fit = ols("acc ~ " + (TERMS_II if typ == 2 else TERMS_III), data).fit()
    table = anova_lm(fit, typ=typ)
    table.index = [i.replace(", Sum", "").replace("C(", "").replace(")", "") for i in table.index]
    return table, fit


def check_anova(result: Effects, frame: pd.DataFrame, typ: int) -> None:
    table, fit = direct_anova(frame, typ)
    rows = {row.term: row for row in result.anova}
    assert set(rows) == set(table.index) - {"Intercept", "Residual"}
    for term, row in rows.items():
        ss, ss_resid = table.loc[term, "sum_sq"], table.loc["Residual", "sum_sq"]
        assert row.df == table.loc[term, "df"]
        assert row.df_residual == table.loc["Residual", "df"]
        assert row.F == pytest.approx(table.loc[term, "F"], rel=1e-9)
        assert row.p == pytest.approx(table.loc[term, "PR(>F)"], rel=1e-6, abs=1e-300)
        assert row.partial_eta2 == pytest.approx(ss / (ss + ss_resid), rel=1e-9)
        assert row.eta2 == pytest.approx(ss / fit.centered_tss, rel=1e-9)
        assert result.variance_explained[term] == row.eta2
    holm = multipletests([rows[t].p for t in rows], method="holm")[1]
    assert [rows[t].p_adjusted for t in rows] == pytest.approx(list(holm), rel=1e-6, abs=1e-300)


@pytest.fixture(scope="module")
def balanced() -> tuple[pd.DataFrame, Effects]:
    frame = grid()
    result = factorial_effects(frame, FACTORS, METRIC, reference=REFERENCE)
    assert result is not None
    return frame, result


def test_balanced_grid_matches_statsmodels_type_ii(balanced: tuple[pd.DataFrame, Effects]) -> None:
    frame, result = balanced
    assert result.anova_type == "II"
    assert (result.runs, result.cells, result.seeds_per_cell) == (48, 12, SeedsPerCell(min=4, max=4))
    check_anova(result, frame, typ=2)
    json.dumps(result.to_json(), allow_nan=False)  # JSON-able as summary.json writes it


def test_significant_terms_are_the_true_ones(balanced: tuple[pd.DataFrame, Effects]) -> None:
    _, result = balanced
    significant = {row.term for row in result.anova if row.p_adjusted < 0.05}
    assert significant == {"pooling", "activation", "pooling:activation"}
    assert result.variance_explained["pooling"] > 0.5
    assert any(line.startswith("`pooling` matters (F(2, 36) = ") for line in result.findings)
    assert "pooling:dropout" not in result.interactions


def test_null_factor_has_an_a_priori_verdict_not_post_hoc_power(balanced: tuple[pd.DataFrame, Effects]) -> None:
    """dropout does nothing: its verdict is equivalence within the SESOI or, if unresolved, the seeds for
    the SESOI at the pooled seed SD (TTestIndPower), never a power from the observed effect."""
    _, result = balanced
    model = result.cell_model
    assert model is not None and not hasattr(result, "power")
    test = model.tests["dropout"]
    level = test.levels[0]
    assert level.verdict.verdict in ("equivalent", "unresolved")
    if level.verdict.verdict == "unresolved":
        per_side = TTestIndPower().solve_power(0.5 / model.sd, alpha=0.05, power=0.8)
        assert level.verdict.seeds_per_cell == max(2, math.ceil(per_side / test.combinations))
    sentence = next(line for line in result.findings if line.startswith("`dropout`"))
    assert "Cohen" not in sentence and "power now" not in sentence


def test_marginal_means_and_welch_effects(balanced: tuple[pd.DataFrame, Effects]) -> None:
    frame, result = balanced
    for factor in FACTORS:
        effects = result.effects[factor]
        reference = REFERENCE.get(factor, sorted(frame[factor].unique())[0])
        assert effects.reference == reference == effects.levels[0].level
        base = frame.loc[frame[factor] == reference, METRIC] * 100
        for level in effects.levels:
            values = frame.loc[frame[factor] == level.level, METRIC] * 100
            low, high = stats.t.interval(0.95, len(values) - 1, values.mean(), stats.sem(values))
            assert level.n == len(values)
            assert level.mean == pytest.approx(frame.groupby(factor)[METRIC].mean()[level.level] * 100)
            assert (level.ci_low, level.ci_high) == pytest.approx((low, high))
            if level.level == reference:
                assert level.effect == 0 and level.p is None
                continue
            welch = stats.ttest_ind(values, base, equal_var=False)
            interval = welch.confidence_interval(0.95)
            assert level.effect == pytest.approx(values.mean() - base.mean())
            assert (level.effect_ci_low, level.effect_ci_high) == pytest.approx((interval.low, interval.high))
            assert level.p == pytest.approx(welch.pvalue)


def test_interaction_is_described_per_level(balanced: tuple[pd.DataFrame, Effects]) -> None:
    frame, result = balanced
    info = result.interactions["pooling:activation"]
    assert (info.factor, info.by, info.reference) == ("pooling", "activation", "max")
    relu = frame[frame["activation"] == "relu"]
    cost = (
        relu.loc[relu["pooling"] == "max", METRIC].mean() - relu.loc[relu["pooling"] == "min", METRIC].mean()
    ) * 100
    entry = next(e for e in info.effects if (e.by_level, e.level) == ("relu", "min"))
    assert -entry.effect == pytest.approx(cost)
    assert cost == pytest.approx(100 * (POOLING_COST["min"] + MIN_WITH_RELU), abs=0.5)
    sentence = next(line for line in result.findings if "interact" in line)
    assert "with `activation=relu`, `pooling=avg` costs" in sentence
    assert f"`pooling=min` costs {cost:.2f} points [" in sentence
    assert "against `pooling=max`; with `activation=tanh`," in sentence


def test_unbalanced_grid_uses_type_iii_with_sum_contrasts() -> None:
    frame = grid().drop(index=5)  # one failed run: its cell is short one seed
    result = factorial_effects(frame, FACTORS, METRIC, reference=REFERENCE)
    assert result is not None and result.anova_type == "III"
    assert result.seeds_per_cell == SeedsPerCell(min=3, max=4)
    check_anova(result, frame, typ=3)
    assert "type III" in effects_markdown(result)


def full_block_order_grid(identical_for: tuple[str, ...]) -> pd.DataFrame:
    """pooling x activation x block order; the two orders give the same runs for the poolings named."""
    frame = grid().query("dropout == '0.0'").drop(columns="dropout")
    swapped = frame.copy()
    rng = np.random.default_rng(1)
    changed = ~swapped["pooling"].isin(identical_for)
    swapped.loc[changed, METRIC] = swapped.loc[changed, METRIC] + rng.normal(0, 0.004, changed.sum())
    frame["model.net.block_order"], swapped["model.net.block_order"] = "conv-act-pool", "conv-pool-act"
    return pd.concat([frame, swapped], ignore_index=True)


def test_identical_cells_are_a_finding() -> None:
    frame = full_block_order_grid(identical_for=("max",))
    result = factorial_effects(frame, ["pooling", "activation", "model.net.block_order"], METRIC)
    assert result is not None
    assert result.identical == [
        IdenticalCells(
            factor="model.net.block_order",
            levels=["conv-act-pool", "conv-pool-act"],
            contexts=[{"pooling": "max", "activation": "relu"}, {"pooling": "max", "activation": "tanh"}],
            seeds=4,
        )
    ]
    assert result.findings[0].startswith(
        "`model.net.block_order` changes `pooling=max` not at all (identical runs)"
    )


def test_identical_cells_are_counted_once_before_the_anova() -> None:
    """The copies of an identical cell are left out before the ANOVA (type III), as statsmodels fits it."""
    frame = full_block_order_grid(identical_for=("max",))
    factors = ["pooling", "activation", "model.net.block_order"]
    result = factorial_effects(frame, factors, METRIC)
    assert result is not None
    kept = frame[~((frame["pooling"] == "max") & (frame["model.net.block_order"] == "conv-pool-act"))]
    assert result.runs == len(kept) == len(frame) - 8
    assert [c.runs for c in result.copies] == [4, 4]
    data = kept.rename(columns={METRIC: "acc", "model.net.block_order": "order"})
    # max pooling has no conv-pool-act cell left, so pooling:order cannot be estimated and is dropped
    terms = "C(pooling, Sum) * C(activation, Sum) + C(activation, Sum) * C(order, Sum)"
    table = anova_lm(ols("acc ~ " + terms, data).fit(), typ=3)
    pvalues = {row.term: row.p for row in result.anova}
    assert pvalues["pooling"] == pytest.approx(table.loc["C(pooling, Sum)", "PR(>F)"], rel=1e-6)
    assert pvalues["model.net.block_order"] == pytest.approx(table.loc["C(order, Sum)", "PR(>F)"], rel=1e-6)
    assert "pooling:model.net.block_order" not in pvalues
    assert any(n.startswith("8 runs are copies of other runs") for n in result.notes)
    assert result.cell_model is not None
    assert result.cell_model.tests["model.net.block_order"].where == "pooling in {avg, min}"


def test_a_factor_that_changes_nothing_is_not_tested() -> None:
    frame = full_block_order_grid(identical_for=tuple(POOLING_COST))
    result = factorial_effects(frame, ["pooling", "activation", "model.net.block_order"], METRIC)
    assert result is not None
    assert result.findings[0].startswith("`model.net.block_order` changes nothing at all (identical runs)")
    assert result.cell_model is not None and "model.net.block_order" not in result.cell_model.tests
    assert result.factors == ["pooling", "activation", "model.net.block_order"]


def test_partial_grid_drops_the_interaction_it_cannot_estimate() -> None:
    frame = full_block_order_grid(identical_for=()).query(
        "`model.net.block_order` == 'conv-act-pool' or pooling == 'max'"
    )
    result = factorial_effects(frame, ["pooling", "activation", "model.net.block_order"], METRIC)
    assert result is not None and result.anova_type == "III"
    terms = {row.term for row in result.anova}
    assert "pooling:model.net.block_order" not in terms
    assert {"pooling", "activation", "model.net.block_order", "activation:model.net.block_order"} <= terms
    note = next(n for n in result.notes if "pooling:model.net.block_order" in n)
    assert "not estimable" in note and "pooling=avg, model.net.block_order=conv-pool-act" in note


@pytest.mark.parametrize("anova_type", ["II", "III"])
def test_non_normal_residuals_trigger_the_permutation_check(anova_type: str) -> None:
    frame = grid()
    frame.loc[[3, 17, 30], METRIC] -= 0.05  # three crashed seeds: heavy-tailed residuals
    if anova_type == "III":
        frame = frame.drop(index=[8, 40])
    result = factorial_effects(frame, FACTORS, METRIC, reference=REFERENCE, resamples=999)
    assert result is not None and result.anova_type == anova_type
    checks = result.checks
    assert checks is not None and checks.shapiro is not None
    assert checks.shapiro.p < 0.05 and checks.doubtful
    permutation = checks.permutation
    assert permutation is not None
    assert set(permutation.p) == set(FACTORS) and permutation.resamples == 999
    rows = {row.term: row for row in result.anova}
    for factor in FACTORS:  # the permutation statistic is the ANOVA's F
        assert permutation.F[factor] == pytest.approx(rows[factor].F, rel=1e-6)
        assert rows[factor].p_permutation == permutation.p[factor]
    assert permutation.p["pooling"] == pytest.approx(1 / 1000)
    assert 0.05 < permutation.p["dropout"] <= 1
    assert any(
        n.startswith("Warning: the ANOVA's assumptions are doubtful (Shapiro-Wilk") for n in result.notes
    )
    assert "permutation p" in effects_markdown(result)


def test_clean_grid_needs_no_permutation(balanced: tuple[pd.DataFrame, Effects]) -> None:
    _, result = balanced
    assert result.checks is not None and not result.checks.doubtful and result.checks.permutation is None
    assert "permutation" not in result.to_json()["checks"]


def test_too_small_grids_degrade_with_a_note() -> None:
    rows = [("a", "x", 0.90), ("a", "x", 0.91), ("a", "y", 0.80), ("b", "x", 0.70), ("b", "y", 0.60)]
    frame = pd.DataFrame(rows, columns=["pooling", "activation", METRIC]).assign(seed=[0, 1, 0, 0, 0])
    result = factorial_effects(frame, ["pooling", "activation"], METRIC)
    assert result is not None
    assert [row.term for row in result.anova] == ["pooling", "activation"]
    assert any("main effects only" in n for n in result.notes)
    one_way = factorial_effects(frame.iloc[[0, 1, 3]], ["pooling"], METRIC)
    assert one_way is not None and one_way.anova == []
    assert any(n.startswith("Too few runs for an ANOVA: 1 residual") for n in one_way.notes)
    assert one_way.effects["pooling"].levels[1].effect == pytest.approx(-20.5)
    assert "## Effects" in effects_markdown(one_way)
    json.dumps(one_way.to_json(), allow_nan=False)


def test_no_grid_with_repeated_seeds_gives_none() -> None:
    frame = grid(seeds=1)
    assert factorial_effects(frame, FACTORS, METRIC) is None
    assert (
        factorial_effects(grid().assign(pooling="max", activation="relu", dropout="0.0"), FACTORS, METRIC)
        is None
    )


def test_plots_are_valid_pngs(balanced: tuple[pd.DataFrame, Effects], tmp_path: Path) -> None:
    _, result = balanced
    plots = effects_plots(result, tmp_path)
    assert set(plots) == {"effects_main", "effects_pooling_x_activation"} == set(plot_titles(result))
    for path in plots.values():
        assert path.parent == tmp_path
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 300
            image.verify()


def test_markdown_section(balanced: tuple[pd.DataFrame, Effects]) -> None:
    _, result = balanced
    text = effects_markdown(result)
    assert text.startswith("## Effects\n")
    assert "### ANOVA (type II)" in text and "| pooling:activation | 2 |" in text
    assert "| max | 16 |" in text and "reference" in text
    assert "### Interaction `pooling:activation`" in text
    assert all(f"- {line}" in text for line in result.findings)


def test_effects_frame_from_runs() -> None:
    def run(pooling: str, seed: int, acc: float | None, status: str = "ok") -> RunRecord:
        return RunRecord(
            path=f"/runs/{pooling}-{seed}",
            status=status,
            overrides=[f"pooling={pooling}", f"seed={seed}"],
            metrics={} if acc is None else {METRIC: acc},
        )

    runs = [run("max", 0, 0.9), run("max", 1, 0.91), run("min", 0, 0.5), run("min", 1, None, "failed")]
    frame = effects_frame(runs, ["pooling"], METRIC)
    assert list(frame.columns) == ["pooling", "seed", METRIC]
    assert frame.to_dict("records") == [
        {"pooling": "max", "seed": 0, METRIC: 0.9},
        {"pooling": "max", "seed": 1, METRIC: 0.91},
        {"pooling": "min", "seed": 0, METRIC: 0.5},
    ]
