"""Issue #27, point 6: per-image test predictions (saved, read as untrusted input) and the test-set
uncertainty of every accuracy (Wilson intervals, exact McNemar, paired and two-way bootstraps)."""

from __future__ import annotations

import io
import math
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from experiments.comparison.analysis import test_images as ti
from experiments.comparison.analysis import test_set_groups as tg
from experiments.comparison.analysis.grouping import Group
from experiments.comparison.writers.test_set_section import lines_of_test_set
from experiments.records.run_record import RunRecord
from experiments.records.test_predictions import (
    FILE,
    TestPredictions,
    predictions_of,
    read_predictions,
    write_predictions,
)

from .conftest import QUICK, run_cli

# ---- the file ---------------------------------------------------------------------------------------


def _preds(correct: np.ndarray, true: np.ndarray | None = None, num_classes: int = 10) -> TestPredictions:
    correct = np.asarray(correct, bool)
    true = np.arange(correct.size) % num_classes if true is None else np.asarray(true)
    predicted = np.where(correct, true, (true + 1) % num_classes)
    return TestPredictions(predicted, true, correct, num_classes)


@pytest.mark.parametrize(
    ("num_classes", "dtype"), [(10, np.uint8), (256, np.uint8), (1000, np.uint16), (70_000, np.int32)]
)
def test_the_file_round_trips_in_the_smallest_label_type(tmp_path, num_classes, dtype):
    rng = np.random.default_rng(0)
    true = rng.integers(0, num_classes, 500)
    predicted = np.where(rng.random(500) < 0.8, true, rng.integers(0, num_classes, 500))
    assert write_predictions(tmp_path, predicted, true, num_classes=num_classes) == FILE
    assert [p.name for p in tmp_path.iterdir()] == [FILE]  # no temporary file left behind
    loaded, reason = read_predictions(tmp_path / FILE)
    assert reason is None and loaded is not None
    assert loaded.predicted.dtype == dtype and loaded.true.dtype == dtype and loaded.correct.dtype == bool
    assert np.array_equal(loaded.predicted, predicted) and np.array_equal(loaded.true, true)
    assert loaded.n_correct == int((predicted == true).sum()) and loaded.num_classes == num_classes


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


GOOD = {
    "predicted": np.array([1, 2, 3], np.uint8),
    "true": np.array([1, 2, 0], np.uint8),
    "correct": np.array([True, True, False]),
    "num_classes": np.int64(10),
}


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"predicted": np.array([1, 2], np.uint8)}, "different lengths"),
        ({"true": np.array([[1, 2, 0]], np.uint8)}, "shape"),
        ({"predicted": np.array([1.0, 2.0, 3.0])}, "float64"),
        ({"predicted": np.array([1, 2, 30], np.uint8)}, "outside"),
        ({"correct": np.array([True, False, False])}, "disagrees"),
        ({"num_classes": np.array([10, 10])}, "num_classes"),
        ({"predicted": np.array([{"a": 1}, 2, 3], dtype=object)}, "object"),
    ],
)
def test_a_bad_file_is_none_with_a_reason(tmp_path, change, said):
    loaded, reason = read_predictions(_npz(tmp_path / "p.npz", **(GOOD | change)))
    assert loaded is None and said in reason


def test_a_missing_foreign_or_forged_file_is_none_never_a_crash(tmp_path):
    assert read_predictions(tmp_path / "absent.npz")[1].startswith("no file")
    (tmp_path / "text.npz").write_text("not a zip")
    assert "BadZipFile" in read_predictions(tmp_path / "text.npz")[1]
    partial = GOOD.copy()
    del partial["true"]
    assert "no true" in read_predictions(_npz(tmp_path / "partial.npz", **partial))[1]
    # An .npy header that claims 10^12 images: refused from the header, no array allocated.
    forged = tmp_path / "forged.npz"
    np.savez(forged, **GOOD)
    with zipfile.ZipFile(forged) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (10**12,)})
    members["predicted.npy"] = header.getvalue() + b"\0" * 16
    with zipfile.ZipFile(forged, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    loaded, reason = read_predictions(forged)
    assert loaded is None and "at most" in reason


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000), cut=st.integers(0, 3000))
def test_any_bytes_read_as_none_or_predictions(tmp_path, data, cut):
    """Random bytes, and a real file cut short or with random bytes spliced in: never an exception."""
    path = tmp_path / "fuzz.npz"
    path.write_bytes(data)
    loaded, reason = read_predictions(path)
    assert (loaded is None) != (reason is None)
    real = tmp_path / "real.npz"
    write_predictions(tmp_path, np.arange(300) % 7, np.arange(300) % 5, num_classes=7)
    (tmp_path / FILE).rename(real)
    raw = real.read_bytes()
    path.write_bytes(raw[:cut] + data + raw[cut + len(data) :])
    loaded, reason = read_predictions(path)
    assert (loaded is None) != (reason is None)


def test_a_record_pointing_outside_its_run_dir_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_predictions(tmp_path, [1, 2], [1, 2], num_classes=3)  # beside, not inside, the run dir
    record = RunRecord(status="ok", path=str(run_dir), test_predictions=f"../{FILE}")
    loaded, reason = predictions_of(record)
    assert loaded is None and "outside the run dir" in reason
    record.test_predictions = str(tmp_path / FILE)  # an absolute path elsewhere
    assert "outside the run dir" in predictions_of(record)[1]
    assert "no per-image" in predictions_of(RunRecord(status="ok", path=str(run_dir)))[1]


# ---- intervals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accuracy", "n", "low", "high"), [(0.9936, 10_000, 99.18, 99.50), (0.8147, 340, 77.0, 85.2)]
)
def test_the_wilson_interval_of_a_reference_number(accuracy, n, low, high):
    w = ti.interval_of_accuracy(accuracy, n)
    digits = 2 if n > 1000 else 1
    assert (round(100 * w.low, digits), round(100 * w.high, digits)) == (low, high)
    assert (w.low, w.high) == pytest.approx(proportion_confint(w.correct, n, method="wilson"))


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 100_000), share=st.floats(0, 1))
def test_the_interval_holds_the_accuracy_and_is_statsmodels_wilson(n, share):
    correct = round(share * n)
    w = ti.accuracy_interval(correct, n)
    assert 0 <= w.low <= w.accuracy <= w.high <= 1
    assert (w.low, w.high) == pytest.approx(proportion_confint(correct, n, alpha=0.05, method="wilson"))


def test_one_seed_is_its_wilson_interval_several_add_the_seed_spread_in_quadrature():
    one = ti.reference_interval([0.8147], 340)
    assert one.seeds == 1 and (one.low, one.high) == (one.test_sampling.low, one.test_sampling.high)
    three = ti.reference_interval([0.9937, 0.9935, 0.9936], 10_000)
    t_half = stats.t.ppf(0.975, 2) * stats.sem([0.9937, 0.9935, 0.9936])
    assert three.seed_half_width == pytest.approx(t_half)
    w = three.test_sampling
    assert three.low == pytest.approx(three.mean - np.hypot(three.mean - w.low, t_half))
    assert three.high == pytest.approx(three.mean + np.hypot(w.high - three.mean, t_half))
    assert not three.clears(0.993) and three.clears(0.99)  # the 99.3 % goal is inside the interval


# ---- pairs of runs ----------------------------------------------------------------------------------


def test_a_known_disagreement_pattern_gives_the_binomial_mcnemar_p():
    """1,000 images: both right on 900, only A on 30, only B on 12, both wrong on 58."""
    a = np.r_[np.ones(900), np.ones(30), np.zeros(12), np.zeros(58)].astype(bool)
    b = np.r_[np.ones(900), np.zeros(30), np.ones(12), np.zeros(58)].astype(bool)
    result = ti.paired_comparison(_preds(a), _preds(b))
    assert isinstance(result, ti.PairedComparison)
    assert (result.both_right, result.only_a, result.only_b, result.both_wrong) == (900, 30, 12, 58)
    by_hand = 2 * stats.binom.cdf(12, 42, 0.5)  # two-sided exact binomial test of 12 of 42 at 1/2
    by_counting = 2 * sum(math.comb(42, k) for k in range(13)) / 2**42
    assert (
        result.mcnemar_p == pytest.approx(by_hand) == pytest.approx(by_counting) == pytest.approx(0.0079159)
    )
    assert result.difference == pytest.approx(0.018)
    # the paired bootstrap's interval is about the normal one of the difference of paired proportions
    se = np.sqrt(((30 + 12) / 1000 - 0.018**2) / 1000)
    assert result.low == pytest.approx(0.018 - 1.96 * se, abs=0.002)
    assert result.high == pytest.approx(0.018 + 1.96 * se, abs=0.002)
    assert ti.paired_comparison(_preds(a), _preds(b)) == result  # a fixed seed: the same interval


@settings(max_examples=60, deadline=None)
@given(cells=st.tuples(*[st.integers(0, 400)] * 4).filter(lambda c: sum(c) > 0))
def test_any_agreement_table_gives_statsmodels_exact_mcnemar(cells):
    both, only_a, only_b, neither = cells
    a = np.r_[[1] * both, [1] * only_a, [0] * only_b, [0] * neither].astype(bool)
    b = np.r_[[1] * both, [0] * only_a, [1] * only_b, [0] * neither].astype(bool)
    result = ti.paired_comparison(_preds(a), _preds(b), resamples=500)
    table = [[both, only_a], [only_b, neither]]
    expected = mcnemar(table, exact=True).pvalue if only_a + only_b else 1.0
    assert result.mcnemar_p == pytest.approx(expected)
    assert result.low <= result.difference + 1e-12 and result.difference - 1e-12 <= result.high
    assert -1 <= result.low <= result.high <= 1
    if only_a + only_b == 0:
        assert result.low == result.high == 0


def test_runs_on_different_test_sets_are_not_paired():
    a = _preds(np.ones(100))
    assert "100 and 99 images" in ti.paired_comparison(a, _preds(np.ones(99))).reason
    other_labels = _preds(np.ones(100), true=(np.arange(100) + 3) % 10)
    assert "true labels differ, first at image 0" in ti.paired_comparison(a, other_labels).reason


def test_the_two_way_bootstrap_varies_images_and_seeds():
    rng = np.random.default_rng(1)
    one = rng.random((1, 2000)) < 0.9
    means = ti.two_way_bootstrap([one], resamples=2000)[:, 0]
    w = ti.accuracy_interval(int(one.sum()), 2000)  # one seed: about the Wilson interval
    assert np.percentile(means, [2.5, 97.5]) == pytest.approx([w.low, w.high], abs=0.004)
    # seeds that differ only by a constant image set: the spread is the seeds' as well as the images'
    seeds = np.stack([np.arange(2000) < k for k in (1700, 1800, 1900)])
    spread = ti.two_way_bootstrap([seeds], resamples=2000)[:, 0]
    assert spread.mean() == pytest.approx(0.9, abs=0.005) and spread.std() > means.std()


# ---- a compare report's groups ----------------------------------------------------------------------


def _run(root: Path, name: str, correct: np.ndarray, seed: int, **fields) -> RunRecord:
    run_dir = root / name
    run_dir.mkdir()
    p = _preds(correct)
    path = write_predictions(run_dir, p.predicted, p.true, num_classes=10)
    return RunRecord(status="ok", name=name, seed=seed, path=str(run_dir), test_predictions=path,
                     metrics={"test/acc": p.accuracy}, data_info={"sizes": {"test": p.n}}, **fields)  # fmt: skip


def test_the_section_pairs_the_best_group_with_each_other_on_the_same_images(tmp_path):
    rng = np.random.default_rng(3)
    base = rng.random(1000) < 0.9
    best = [_run(tmp_path, f"max{s}", base | (rng.random(1000) < 0.5), s) for s in range(2)]
    copy = _run(tmp_path, "copy", base, 0, identical_to="max0")  # counted once: skipped
    worse = [_run(tmp_path, f"avg{s}", base & (rng.random(1000) < 0.95), s) for s in range(2)]
    no_files = RunRecord(
        status="ok", name="min0", seed=0, metrics={"test/acc": 0.9}, data_info={"sizes": {"test": 1000}}
    )
    groups = [
        Group((("pooling", "max"),), [*best, copy], is_best=True),
        Group((("pooling", "avg"),), worse),
        Group((("pooling", "min"),), [no_files]),
    ]
    analysis = tg.analyse_test_set(groups, resamples=1000)
    by_label = {g.label: g for g in analysis.groups}
    assert (
        by_label["pooling=max"].runs == 2
        and by_label["pooling=max"].method == "bootstrap over images and seeds"
    )
    assert by_label["pooling=min"].method == "Wilson, one run (no per-image files)"
    w = ti.accuracy_interval(900, 1000)
    assert (by_label["pooling=min"].low, by_label["pooling=min"].high) == (w.low, w.high)
    (pairing,) = analysis.pairings  # min has no files: not paired
    assert pairing.other == "pooling=avg" and [p.seed for p in pairing.pairs] == [0, 1]
    assert pairing.low <= pairing.difference <= pairing.high and pairing.low > 0
    lines = lines_of_test_set(analysis)
    assert lines[0] == "## Test-set uncertainty"
    assert any(line.startswith("| pooling=max | 2 | 2 | 1,000 |") for line in lines)
    assert any(
        line.startswith("- pooling=max vs pooling=avg: +") and "seed 1: McNemar" in line for line in lines
    )


def test_a_group_on_another_test_set_is_refused_and_a_bad_file_is_noted(tmp_path):
    a = _run(tmp_path, "a", np.ones(100, bool), 0)
    b = _run(tmp_path, "b", np.ones(50, bool), 0)
    c = _run(tmp_path, "c", np.ones(100, bool), 1)
    (Path(c.path) / FILE).write_bytes(b"garbage")
    groups = [Group((("x", "1"),), [a], is_best=True), Group((("x", "2"),), [b]), Group((("x", "3"),), [c])]
    analysis = tg.analyse_test_set(groups, resamples=200)
    assert analysis.pairings[0].refusal == "different test sets: 100 and 50 images"
    assert any(note.startswith("x=3: unreadable") for note in analysis.notes)
    assert any("not paired (different test sets" in line for line in lines_of_test_set(analysis))
    assert lines_of_test_set(tg.analyse_test_set([])) == []


def test_the_interval_command_prints_the_wilson_interval(capsys):
    assert ti.main(["99.36", "10000"]) == 0
    assert capsys.readouterr().out.strip() == "99.36 % (9,936 of 10,000): 95 % Wilson [99.18, 99.50] %"


# ---- runs save them ---------------------------------------------------------------------------------


def test_a_run_saves_its_predictions_and_they_give_its_test_accuracy(default_run):
    run_dir, record = default_run
    assert record.test_predictions == FILE
    size = os.path.getsize(run_dir / FILE)
    assert size < 4000  # 360 digits test images
    loaded, reason = predictions_of(record)
    assert reason is None and loaded.n == record.data_info["sizes"]["test"] == 360
    assert loaded.accuracy == pytest.approx(record.metrics["test/acc"], abs=1e-6)
    confusion = np.array(record.confusion_matrix)
    assert np.array_equal(np.bincount(loaded.true, minlength=10), confusion.sum(axis=1))


@pytest.mark.slow
def test_ddp_ranks_gather_the_whole_test_set_in_order(tmp_path, default_run):
    """Two CPU processes (gloo): rank zero writes every test image once, in the one-process order."""
    run_dir = tmp_path / "ddp"
    result = run_cli("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", *QUICK,
                     f"hydra.run.dir={run_dir}", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    record = RunRecord.read(run_dir)
    loaded, reason = predictions_of(record)
    assert reason is None, reason
    single, _ = predictions_of(default_run[1])
    assert np.array_equal(loaded.true, single.true)  # the same 360 labels in the same order
    # torchmetrics' DDP accuracy also counts the sampler's padding copies (360 = 2 x 180: none here)
    assert loaded.accuracy == pytest.approx(record.metrics["test/acc"], abs=1e-6)
