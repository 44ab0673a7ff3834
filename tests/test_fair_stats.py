"""Fair answers (issue #27): each distinct network once, each factor tested where it can act, SESOI
verdicts, the answer first; against statsmodels and scipy on synthetic data with known truth, and the
acceptance numbers of docs/study/pooling_mnist."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.weightstats import ttost_ind

from experiments.comparison.analysis.answer import answer
from experiments.comparison.analysis.cell_means import cell_means
from experiments.comparison.analysis.distinct import distinct_networks
from experiments.comparison.analysis.effects import REFERENCES, effects_frame, factorial_effects
from experiments.comparison.analysis.equivalence import seeds_for_sesoi, tost, welch_verdict
from experiments.comparison.analysis.grouping import group_runs
from experiments.comparison.analysis.insights import insights
from experiments.records.run_record import RunRecord
from experiments.records.runs_csv import records_from_runs_csv

METRIC = "test/acc"
STUDY = Path(__file__).resolve().parents[1] / "docs" / "study" / "pooling_mnist" / "runs.csv"
ORDER = "model.net.block_order"
KEYS = ["pooling", "activation", ORDER]


def factorial(seeds: int = 4, rng_seed: int = 0) -> pd.DataFrame:
    """a {x, y, z} x b {p, q} x c {u, v}: a main effect of a, an a:b interaction, noise 0.3 points."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for a, b, c in itertools.product("xyz", "pq", "uv"):
        for seed in range(seeds):
            mean = 0.95 - {"x": 0, "y": 0.01, "z": 0.02}[a] - (0.01 if (a, b) == ("z", "q") else 0)
            rows.append({"a": a, "b": b, "c": c, "seed": seed, METRIC: mean + rng.normal(0, 0.003)})
    return pd.DataFrame(rows)


def test_balanced_full_factorial_equals_type_iii_with_sum_contrasts() -> None:
    frame = factorial()
    result = factorial_effects(frame, ["a", "b", "c"], METRIC)
    assert result is not None and result.cell_model is not None
    data = frame.rename(columns={METRIC: "y"}).assign(y=lambda d: d["y"] * 100)
    fit = ols("y ~ C(a, Sum) * C(b, Sum) * C(c, Sum)", data).fit()
    table = anova_lm(fit, typ=3)
    for factor in "abc":
        test = result.cell_model.tests[factor]
        assert test.where == "everywhere" and test.df_residual == len(frame) - 12
        assert test.F == pytest.approx(table.loc[f"C({factor}, Sum)", "F"], rel=1e-8)
        assert test.p == pytest.approx(table.loc[f"C({factor}, Sum)", "PR(>F)"], rel=1e-6)
        # its interaction with the others: every term holding it, jointly (the full model's F-test)
        held = [n for n in fit.model.exog_names if f"C({factor}, Sum)" in n and ":" in n]
        joint = fit.f_test(np.array([[1.0 if n == h else 0.0 for n in fit.model.exog_names] for h in held]))
        assert test.interaction_F == pytest.approx(float(np.squeeze(joint.fvalue)), rel=1e-8)
        assert test.interaction_df == len(held)
    a = result.cell_model.tests["a"]
    assert [lv.level for lv in a.levels] == ["y", "z"] and a.verdict == "differs"
    assert a.levels[1].estimate == pytest.approx(-2.5, abs=0.3)  # z: -2 points, -1 more under b=q
    assert a.interacts and not result.cell_model.tests["c"].interacts


def inert_order_runs(effect: float = 0.8, seeds: int = 3) -> list[RunRecord]:
    """pooling {max, min, avg} x activation {relu, tanh} x block order; under max and min pooling the
    order cannot act (a monotone activation commutes with them): those jobs are reused records
    (``identical_to``). Under avg pooling conv-pool-act costs ``effect`` points."""
    rng = np.random.default_rng(3)
    base = {"max": 0.98, "min": 0.975, "avg": 0.97}
    runs, dirs = [], {}
    for num, (pooling, activation, order, seed) in enumerate(
        itertools.product(base, ("relu", "tanh"), ("conv-act-pool", "conv-pool-act"), range(seeds))
    ):
        overrides = [f"pooling={pooling}", f"activation={activation}", f"{ORDER}={order}", f"seed={seed}"]
        path = f"/sweep/{num}"
        first = dirs.get((pooling, activation, seed))
        if pooling != "avg" and first is not None:
            earlier = next(r for r in runs if r.path == first)
            runs.append(RunRecord(status="ok", overrides=overrides, seed=seed, metrics=dict(earlier.metrics),
                                  path=path, identical_to=f"../{Path(first).name}"))
            continue
        cost = effect / 100 if (pooling, order) == ("avg", "conv-pool-act") else 0.0
        value = base[pooling] - cost + rng.normal(0, 0.002)
        runs.append(RunRecord(status="ok", overrides=overrides, seed=seed, metrics={METRIC: value}, path=path))
        dirs.setdefault((pooling, activation, seed), path)
    return runs


def test_a_factor_inert_in_some_cells_is_tested_where_it_can_act() -> None:
    runs = inert_order_runs()
    frame = effects_frame(runs, KEYS, METRIC, provenance=True)
    result = factorial_effects(frame, KEYS, METRIC, reference=REFERENCES)
    assert result is not None and result.runs == 24 and result.cells == 8
    assert sum(c.runs for c in result.copies) == 12 and {c.how for c in result.copies} == {"identical_to"}
    test = result.cell_model.tests[ORDER]
    assert test.where == "pooling in {avg}" and test.combinations == 2
    assert {tuple(sorted(c.items())) for c in map(dict, test.inert)} == {
        (("activation", a), ("pooling", p)) for p in ("max", "min") for a in ("relu", "tanh")
    }
    # the same test on the avg runs alone, with the full model's within-cell error (statsmodels directly)
    data = frame.rename(columns={METRIC: "y", ORDER: "o"}).assign(y=lambda d: d["y"] * 100)
    distinct = data[data["copy_source"] == ""]
    distinct = distinct.assign(cell=distinct["pooling"] + distinct["activation"] + np.where(distinct["pooling"] == "avg", distinct["o"], ""))
    fit = ols("y ~ C(cell) - 1", distinct).fit()
    names = fit.model.exog_names
    row = np.zeros(len(names))
    for activation in ("relu", "tanh"):
        row[names.index(f"C(cell)[avg{activation}conv-pool-act]")] += 0.5
        row[names.index(f"C(cell)[avg{activation}conv-act-pool]")] -= 0.5
    direct = fit.t_test(row)
    assert test.levels[0].estimate == pytest.approx(float(direct.effect[0]))
    assert test.levels[0].estimate == pytest.approx(-0.8, abs=0.3)
    assert (test.F, test.df, test.df_residual) == pytest.approx((float(direct.tvalue[0][0]) ** 2, 1, 16))
    assert "tested where it can act: pooling in {avg}" in " ".join(result.findings)
    first = " ".join(answer(result))
    assert "`model.net.block_order` matters" in first and "pooling in {avg}" in first


def test_cell_tost_agrees_with_ttost_ind_on_two_cells() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(98.0, 0.2, 5), rng.normal(98.1, 0.2, 5)
    frame = pd.DataFrame({"f": ["a"] * 5 + ["b"] * 5, "seed": list(range(5)) * 2, METRIC: np.r_[a, b] / 100})
    networks = distinct_networks(frame, ["f"], METRIC)
    model = cell_means(networks, ["f"], METRIC, {"f": "a"}, {"f": ["a", "b"]}, sesoi=0.5)
    level = model.tests["f"].levels[0]
    expected = ttost_ind(b, a, -0.5, 0.5, usevar="pooled")[0]
    assert level.verdict.p_tost == pytest.approx(expected, rel=1e-6)
    assert tost(level.estimate, level.se, 8, 0.5) == pytest.approx(expected, rel=1e-6)
    assert level.verdict.verdict == "equivalent"


def test_unresolved_seeds_are_sized_a_priori_for_the_sesoi() -> None:
    sd, sesoi = 0.4, 0.5
    per_side = TTestIndPower().solve_power(sesoi / sd, alpha=0.05, power=0.8)
    assert seeds_for_sesoi(sd, sesoi) == math.ceil(per_side)
    assert seeds_for_sesoi(sd, sesoi, combinations=3) == max(2, math.ceil(per_side / 3))
    verdict = welch_verdict([98.0, 98.6, 97.6], [98.2, 97.7, 98.5], sesoi)
    assert verdict.verdict == "unresolved" and verdict.seeds_per_cell and verdict.seeds_per_cell > 3


def test_acceptance_block_order_where_it_can_act_on_the_pooling_study() -> None:
    """docs/study/pooling_mnist (test/acc in fractions): block order on avg/lp pooling, 12 cells, 36 runs."""
    runs = records_from_runs_csv(STUDY)
    assert all(0 < r.metric(METRIC) < 1 for r in runs)  # fractions, shown in points
    subset = [r for r in runs if r.override_values["pooling"] in ("avg", "lp")]
    result = factorial_effects(effects_frame(subset, KEYS, METRIC, provenance=True), KEYS, METRIC)
    test = result.cell_model.tests[ORDER]
    assert (result.runs, result.cell_model.cells, test.df, test.df_residual) == (36, 12, 1, 24)
    assert round(test.F, 1) == 10.9 and round(test.p, 3) == 0.003
    # the whole study: 12 copies counted once, 20 networks; the order also acts under gelu with max/min
    whole = factorial_effects(effects_frame(runs, KEYS, METRIC, provenance=True), KEYS, METRIC, reference=REFERENCES)
    assert (whole.runs, whole.cells) == (60, 20)
    assert whole.cell_model.tests[ORDER].where == (
        "pooling in {avg, lp}; pooling in {max, min} with activation in {gelu}"
    )


def test_acceptance_relu_min_against_max_is_three_seeds_against_three() -> None:
    runs = records_from_runs_csv(STUDY)
    _, groups = group_runs(runs, metric=METRIC)
    copies = [g for g in groups if g.copy_of]
    assert len(copies) == 4 and all(g.comparison is None for g in copies)
    whole = factorial_effects(effects_frame(runs, KEYS, METRIC, provenance=True), KEYS, METRIC, reference=REFERENCES)
    relu = next(
        e for e in whole.interactions["pooling:activation"].effects if (e.by_level, e.level) == ("relu", "min")
    )
    assert relu.n == 3
    assert (-relu.effect_ci_high, -relu.effect_ci_low) == pytest.approx((1.14, 1.37), abs=0.005)
    assert relu.p == pytest.approx(3.8e-5, rel=0.02)
    mx = [r.metric(METRIC) * 100 for r in runs if r.name.startswith("pooling=max,activation=relu,model.net.block_order=conv-act")]
    mn = [r.metric(METRIC) * 100 for r in runs if r.name.startswith("pooling=min,activation=relu,model.net.block_order=conv-act")]
    assert relu.p == pytest.approx(stats.ttest_ind(mn, mx, equal_var=False).pvalue)


def _groups(min_values: list[float]) -> tuple[list, list[RunRecord]]:
    runs = [
        RunRecord(status="ok", overrides=[f"pooling={p}", f"seed={s}"], seed=s, metrics={METRIC: v}, path=f"/r/{p}{s}")
        for p, values in (("max", [0.98, 0.981, 0.979]), ("min", min_values))
        for s, v in enumerate(values)
    ]
    return group_runs(runs)[1], runs


def test_the_min_pooling_explanation_only_beside_a_resolved_loss() -> None:
    groups, runs = _groups([0.10, 0.11, 0.09])  # collapsed and resolved: explained
    assert "min pooling after ReLU" in " ".join(insights(groups, runs, ["pooling"]))
    groups, runs = _groups([0.10, 0.98, 0.09])  # near chance on average, but not resolved: no story
    text = " ".join(insights(groups, runs, ["pooling"]))
    assert "min pooling after ReLU" not in text


def test_a_level_that_is_another_levels_network_is_tested_once_as_that_network() -> None:
    """padding {zeros, constant (= zeros), reflect, valid}: constant's runs copy zeros' (``identical_to``); the
    factor is tested on the three distinct networks, as statsmodels' one-way ANOVA on them says."""
    rng = np.random.default_rng(5)
    means = {"zeros": 0.990, "reflect": 0.9905, "valid": 0.980}
    runs: list[RunRecord] = []
    for num, (padding, seed) in enumerate(itertools.product(["zeros", "constant", "reflect", "valid"], range(3))):
        overrides = [f"padding={padding}", f"seed={seed}"]
        if padding == "constant":
            earlier = runs[seed]
            runs.append(RunRecord(status="ok", overrides=overrides, seed=seed, metrics=dict(earlier.metrics),
                                  path=f"/sweep/{num}", identical_to=f"../{Path(earlier.path).name}"))
            continue
        value = means[padding] + rng.normal(0, 0.0005)
        runs.append(RunRecord(status="ok", overrides=overrides, seed=seed, metrics={METRIC: value}, path=f"/sweep/{num}"))
    frame = effects_frame(runs, ["padding"], METRIC, provenance=True)
    result = factorial_effects(frame, ["padding"], METRIC, reference={"padding": "zeros"})
    test = result.cell_model.tests["padding"]
    assert test.aliases == {"constant": "zeros"}
    assert [lv.level for lv in test.levels] == ["reflect", "valid"]
    distinct = frame[frame["copy_source"] == ""].rename(columns={METRIC: "y"}).assign(y=lambda d: d["y"] * 100)
    table = anova_lm(ols("y ~ C(padding)", distinct).fit(), typ=2)
    assert test.F == pytest.approx(table.loc["C(padding)", "F"], rel=1e-8) and test.df == 2 and test.df_residual == 6
    assert test.levels[1].verdict.verdict == "differs" and test.levels[0].estimate == pytest.approx(0.05, abs=0.15)
