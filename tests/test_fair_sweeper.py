"""``hydra/sweeper=fair``: the same tuning budget for every arm, choices on validation, evaluation on fresh seeds."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from experiments.records.run_record import RunRecord
from experiments.sweeps.adaptive_seeds import arm_interval, arms_needing_seeds
from experiments.sweeps.fair_plan import (
    FairSettings,
    arm_twins,
    at_edge,
    choose_points,
    evaluation_identical,
    evaluation_jobs,
    extra_seed_jobs,
    planned_total,
    tuning_jobs,
)
from tests.conftest import TINY, run_cli

LR = ["optimizer.lr=0.001", "optimizer.lr=0.01"]


def settings_of(arms: int, points: int, tuning_seeds: int, seeds: int, max_seeds: int | None = None) -> FairSettings:
    return FairSettings(
        arms=[[f"pooling=p{a}"] for a in range(arms)],
        tune=[[f"optimizer.lr={10.0 ** -(p + 1)}"] for p in range(points)],
        tuned_keys=["optimizer.lr"],
        tuning_seeds=list(range(1000, 1000 + tuning_seeds)),
        seeds=list(range(seeds)),
        max_seeds=max_seeds,
    )


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 5), st.integers(1, 4), st.integers(1, 2), st.integers(1, 3), st.integers(0, 3),
    st.lists(st.integers(0, 3), min_size=5, max_size=5),
)
def test_every_stage_has_numbers_of_its_own(arms, points, tuning_seeds, seeds, extra, picks):
    """Tuning, best, shared and extra-seed jobs never share a number, whatever the choices: a resumed sweep
    finds each job where it left it."""
    fair = settings_of(arms, points, tuning_seeds, seeds, max_seeds=seeds + extra if extra else None)
    chosen = [p % points for p in picks[:arms]]
    numbers = [j.number for j in tuning_jobs(fair)] + [j.number for j in evaluation_jobs(fair, chosen)]
    assert sorted(numbers) == list(range(planned_total(fair)))
    for index in range(fair.extra_per_arm):
        numbers += [j.number for j in extra_seed_jobs(fair, chosen, list(range(arms)), index)]
    assert len(numbers) == len(set(numbers)) == planned_total(fair) + arms * fair.extra_per_arm
    extra_seeds = fair.extra_seeds()
    assert not set(extra_seeds) & (set(fair.seeds) | set(fair.tuning_seeds))


def test_the_choice_is_the_best_mean_validation_score_and_ties_go_to_the_earlier_point():
    fair = settings_of(arms=3, points=3, tuning_seeds=2, seeds=1)
    scores = {  # arm 0: point 2 best; arm 1: points 0 and 1 tie; arm 2: nothing scored
        0: 0.90, 1: 0.92, 2: 0.95, 3: 0.95, 4: 0.97, 5: 0.99,
        6: 0.93, 7: 0.95, 8: 0.94, 9: 0.94, 10: 0.80, 11: None,
    }
    chosen, curves = choose_points(fair, scores)
    assert chosen == [2, 0, 0]
    assert curves[0] == pytest.approx([0.91, 0.95, 0.98])
    assert curves[1][2] == pytest.approx(0.80)  # a failed seed is left out of the mean, not read as 0
    assert curves[2] == [None, None, None]
    assert at_edge(fair, 0) and at_edge(fair, 2) and not at_edge(fair, 1)


def test_twin_arms_and_a_chosen_shared_setting_reuse_a_record():
    fair = settings_of(arms=3, points=2, tuning_seeds=1, seeds=2)
    tuning_identical = {2: 0, 3: 1}  # arm 1 builds arm 0's network
    twins = arm_twins(fair, tuning_identical)
    assert twins == {1: 0}
    chosen = [1, 1, 0]
    jobs = evaluation_jobs(fair, chosen)
    same = evaluation_identical(fair, jobs, twins, chosen, {0: 0, 1: 0, 2: 0})
    number = {(j.arm, j.stage, j.seed): j.number for j in jobs}
    assert same[number[(1, "best", 0)]] == number[(0, "best", 0)]
    assert same[number[(1, "shared", 1)]] == number[(0, "shared", 1)]
    assert same[number[(2, "shared", 0)]] == number[(2, "best", 0)]  # arm 2 chose the shared value
    assert number[(0, "shared", 0)] not in same  # arm 0 chose another value: trained at the shared one


def test_an_arms_interval_is_scipys_t_interval_and_seeds_go_to_the_wide_arms():
    scores = [99.1, 99.3, 98.9]
    interval = arm_interval(0, scores)
    low, high = stats.t.interval(0.95, 2, loc=sum(scores) / 3, scale=stats.sem(scores))
    assert interval.half_width == pytest.approx((high - low) / 2)
    narrow = [99.10, 99.12, 99.11]
    wide = [98.0, 99.5, 99.0]
    assert arms_needing_seeds({0: narrow, 1: wide, 2: wide}, sesoi=0.5, max_seeds=5, twins={2: 1}) == [1, 2]
    assert arms_needing_seeds({0: narrow, 1: wide}, sesoi=0.5, max_seeds=3) == []  # at max_seeds already
    assert arms_needing_seeds({0: [99.0]}, sesoi=0.5, max_seeds=3) == [0]  # one seed: no interval yet
    assert not math.isnan(arm_interval(0, [1.0, float("nan"), 2.0]).half_width)


REFUSED = [
    (["seed=0,1"], "hydra/sweeper=fair owns the seeds"),
    (["optimizer.lr=0.1,0.01"], "is also an arm of the study"),
    (["trainer.max_epochs=1,2"], "every arm trains to the same stopping rule"),
    (["hydra.sweeper.metric=test/acc"], "scored on validation"),
    (["hydra.sweeper.tuning_seeds=[0]"], "seeds of its own"),
    (["hydra.sweeper.max_seeds=2"], "max_seeds"),
    (["hydra.sweeper.tune=null", "activation=relu,nope"], "no option 'nope'"),  # no tuning stage: arms checked
]


@pytest.mark.parametrize(("overrides", "message"), REFUSED)
def test_an_unfair_study_is_refused_before_anything_is_written(tmp_path, overrides, message):
    result = run_cli("-m", "hydra/sweeper=fair", "pooling=max,avg", *overrides, f"hydra.sweep.dir={tmp_path / 's'}",
                     cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


FAIR = ["-m", "hydra/sweeper=fair", "pooling=max,min", "model.net.block_order=conv-act-pool,conv-pool-act",
        "activation=relu,gelu", *TINY, "hydra.sweeper.tune={optimizer.lr:'0.001,0.01'}", "hydra.sweeper.seeds=[0,1]",
        "hydra.sweeper.max_seeds=3"]


@pytest.fixture(scope="module")
def fair_sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fair")
    result = run_cli(*FAIR, f"hydra.sweep.dir={root / 'sweep'}", cwd=root)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (root / "first.log").write_text(result.stdout)
    return root / "sweep"


def records(sweep: Path) -> dict[int, RunRecord]:
    return {int(d.name): RunRecord.read(d) for d in sweep.iterdir() if d.name.isdigit()}


def test_every_arm_is_tuned_on_the_same_grid_and_evaluated_at_its_own_choice(fair_sweep):
    by_number = records(fair_sweep)
    plan = json.loads((fair_sweep / "fair_study.json").read_text())
    arms = len(plan["arms"])
    assert arms == 8
    tuning = [r for r in by_number.values() if r.study_stage == "tune"]
    assert len(tuning) == arms * 2 and {r.seed for r in tuning} == {1000}
    for arm in plan["arms"]:
        mine = [r for r in tuning if all(o in r.overrides for o in arm["overrides"])]
        assert sorted(r.override_values["optimizer.lr"] for r in mine) == ["0.001", "0.01"]
        scores = [r.metric("val/acc_best") for r in sorted(mine, key=lambda r: float(r.override_values["optimizer.lr"]))]
        assert arm["curve"] == pytest.approx(scores)
        assert arm["chosen"] == max(range(2), key=lambda p: (scores[p], -p))
        best = [r for r in by_number.values() if r.study_stage == "best" and all(o in r.overrides for o in arm["overrides"])]
        assert {r.seed for r in best} >= {0, 1}
        assert {r.override_values["optimizer.lr"] for r in best} == {plan["grid"][arm["chosen"]][0]}
        shared = [r for r in by_number.values() if r.study_stage == "shared" and all(o in r.overrides for o in arm["overrides"])]
        assert {r.seed for r in shared} == {0, 1} and all("optimizer.lr" not in r.override_values for r in shared)
        if arm["chosen"] == arm["shared_point"]:  # the same experiment as its best job: reused, not retrained
            assert all(r.identical_to for r in shared)
    for record in by_number.values():
        assert record.ok and record.tuned_keys == ["optimizer.lr"]
        assert record.stopping["max_epochs"] == 1 and record.stopped_by == "budget"


def test_block_orders_that_build_one_network_share_every_stage(fair_sweep):
    by_number = records(fair_sweep)
    copies = [r for r in by_number.values() if r.identical_to]
    # max and min pooling with relu: both orders build one network, in each of the tuning and later stages
    assert any(r.study_stage == "tune" for r in copies) and any(r.study_stage == "best" for r in copies)
    for record in copies:
        assert record.override_values.get("activation") == "relu" or record.study_stage == "shared"


def test_the_dry_run_lists_every_stage_and_writes_nothing(tmp_path):
    result = run_cli(*FAIR, "sweep.dry_run=true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "the tuning stage" in result.stdout
    assert "optimizer.lr=<chosen in the tuning stage>" in result.stdout
    assert "extra seed(s) per arm ([2])" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_a_resumed_study_reruns_only_what_is_missing_and_chooses_as_before(fair_sweep, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(fair_sweep, sweep)
    before = json.loads((sweep / "fair_study.json").read_text())
    by_number = records(sweep)
    lost = next(n for n, r in by_number.items() if r.study_stage == "best" and not r.identical_to)
    shutil.rmtree(sweep / str(lost))
    result = run_cli(*FAIR, f"sweep.resume={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    after = json.loads((sweep / "fair_study.json").read_text())
    assert [a["chosen"] for a in after["arms"]] == [a["chosen"] for a in before["arms"]]
    trained = [line for line in result.stdout.splitlines() if line.startswith("epoch 1/")]
    assert len(trained) == 1  # the lost job alone
    assert RunRecord.read(sweep / str(lost)).ok


def test_the_stopping_rule_and_what_ended_the_fit_are_recorded(tmp_path):
    from tests.conftest import train

    flat = train(tmp_path / "flat", "callbacks=early_stopping", "callbacks.early_stopping.patience=1",
                 "trainer.max_epochs=6", "optimizer.lr=1e-12")
    assert flat.stopped_by == "patience" and flat.epochs < 6 and flat.still_improving is None
    assert flat.stopping == {"monitor": "val/acc", "mode": "max", "patience": 1, "min_delta": 0.0, "max_epochs": 6}
    rising = train(tmp_path / "rising", "callbacks=early_stopping", "callbacks.early_stopping.patience=3",
                   "trainer.max_epochs=2", "optimizer.lr=0.003")
    assert rising.stopped_by == "budget" and rising.epochs == 2
    assert rising.still_improving is (rising.best_epoch == 2 or rising.best_epoch > 2 - 3)
    assert rising.still_improving is True


def test_a_grid_sweep_ends_with_the_answer_before_its_table_and_one_seed_has_none(tmp_path):
    seeds = run_cli("-m", "pooling=max,avg", "seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path / 'two'}", cwd=tmp_path)
    assert seeds.returncode == 0, seeds.stderr[-2000:]
    end = seeds.stdout[seeds.stdout.index("Sweep finished"):]
    assert "The answer: " in end and end.index("The answer: ") < end.index("| job |")
    assert "pooling" in end[end.index("The answer: "):end.index("| job |")]
    one = run_cli("-m", "pooling=max,avg", *TINY, f"hydra.sweep.dir={tmp_path / 'one'}", cwd=tmp_path)
    assert one.returncode == 0 and "The answer" not in one.stdout


def test_extra_seeds_go_to_exactly_the_arms_whose_interval_was_too_wide(fair_sweep):
    """The round's arms are those whose two first seeds' t-interval was wider than +-SESOI/2; they, and only
    they, have a record for the extra seed."""
    plan = json.loads((fair_sweep / "fair_study.json").read_text())
    by_number = records(fair_sweep)
    first_seeds: dict[int, list[float]] = {}
    for index, arm in enumerate(plan["arms"]):
        mine = [r for r in by_number.values() if r.study_stage == "best" and r.seed in (0, 1)
                and all(o in r.overrides for o in arm["overrides"])]
        first_seeds[index] = [100 * r.metric("test/acc") for r in mine]
    expected = [arm for arm, scores in first_seeds.items()
                if not arm_interval(arm, scores).narrow_enough(plan["sesoi"])]
    rounds = plan["extra_rounds"]
    assert [r["arms"] for r in rounds] == ([expected] if expected else [])
    for index, arm in enumerate(plan["arms"]):
        extra = [r for r in by_number.values() if r.seed == 2 and all(o in r.overrides for o in arm["overrides"])]
        assert len(extra) == (1 if index in expected else 0)
        assert all(r.study_stage == "best" and r.ok for r in extra)


def test_the_command_line_narrows_a_presets_arms(tmp_path):
    """``experiment=study_pooling activation=relu``: the arms hold relu only, as a grid sweep would."""
    result = run_cli("-m", "experiment=study_pooling", "data=digits", "activation=relu", "sweep.dry_run=true",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "activation=tanh" not in result.stdout and "activation=relu" in result.stdout
    assert "The 24 jobs above are the tuning stage" in result.stdout  # 3 poolings x 2 orders x 4 learning rates


def test_without_a_tuning_stage_arms_that_build_one_network_still_share_their_records(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli("-m", "hydra/sweeper=fair", "pooling=max,avg", "model.net.block_order=conv-act-pool,conv-pool-act",
                     "hydra.sweeper.tune=null", "hydra.sweeper.seeds=[0,1]", *TINY, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    by_number = records(sweep)
    copies = {n: r.identical_to for n, r in by_number.items() if r.identical_to}
    assert copies == {2: "../0", 3: "../1"}  # max pooling under conv-pool-act is max under conv-act-pool
    assert "At the config's own setting (no tuning stage" in result.stdout
