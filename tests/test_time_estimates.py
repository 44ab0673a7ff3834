"""Time estimates (#29.1, #29.2): the arithmetic with a fixed calibration, the dry run's lines, and the
progress lines' time left. No timing is asserted: the calibration is a file, never measured here."""

from __future__ import annotations

import json
import re

import pytest

from experiments.records.run_record import RunRecord
from experiments.sweeps.time_estimate import (
    Rate,
    job_time,
    parallel_seconds,
    parallelism,
    rates_from_records,
    read_rates,
    split_sizes,
    write_rate,
)
from tests.conftest import TINY, compose_config, run_cli

RATE = Rate(train_flops_per_s=1e9, eval_flops_per_s=4e9, overhead_s=3.0)


def test_one_job_is_epochs_x_images_x_flops_over_the_rate_plus_evaluation_and_overhead():
    cfg = compose_config("data=mnist", "trainer.max_epochs=4")
    assert split_sizes(cfg) == {"train": 54_000, "val": 6_000, "test": 10_000}
    estimate = job_time(cfg, 1e6, RATE)
    assert estimate is not None and estimate.epochs == 4 and not estimate.up_to
    expected = 3.0 + 4 * 54_000 * 1e6 / 1e9 + (4 * 6_000 + 10_000) * 1e6 / 4e9
    assert estimate.seconds == pytest.approx(expected)


def test_split_fractions_limits_and_early_stopping():
    digits = compose_config("trainer.max_epochs=3")
    assert split_sizes(digits) == {"train": 1258, "val": 180, "test": 359}
    flowers = compose_config("data=flowers17")
    assert split_sizes(flowers) == {"train": 680, "val": 340, "test": 340}
    limited = compose_config("data=mnist", "+trainer.limit_train_batches=10", "callbacks=early_stopping")
    estimate = job_time(limited, 1e6, RATE)
    assert estimate.images["train"] == 640 and estimate.up_to


def test_a_sweep_in_parallel_hands_jobs_to_the_first_free_slot():
    assert parallel_seconds([10, 10, 10, 10], 2) == 20
    assert parallel_seconds([30, 10, 10, 10], 2) == 30
    assert parallel_seconds([5, 5], 1) == 10


def test_parallelism_is_the_parallel_launchers_n_jobs():
    from omegaconf import OmegaConf

    target = "hydra_plugins.experiments_launcher.parallel_launcher.ParallelLauncher"
    parallel = OmegaConf.create({"hydra": {"launcher": {"_target_": target, "n_jobs": 3}}})
    assert parallelism(parallel) == 3
    assert parallelism(OmegaConf.create({"hydra": {"launcher": {"_target_": "BasicLauncher"}}})) == 1


def test_calibration_file_round_trip_and_rates_from_records(tmp_path):
    path = tmp_path / "calibration.json"
    write_rate("cpu", RATE, path)
    assert read_rates(path)["cpu"] == RATE
    record = RunRecord(status="ok", flops=1_000_000, throughput={"train_images_per_s": 2000.0, "train_seconds": 5.0},
                       fit_time_s=7.0, wall_time_s=9.0, epochs=2, data_info={"sizes": {"val": 1000}},
                       device={"accelerator": "cpu", "world_size": 1})  # fmt: skip
    rate = rates_from_records([record])["cpu"]
    assert rate.train_flops_per_s == pytest.approx(2e9)
    assert rate.eval_flops_per_s == pytest.approx(1e6 * 1000 * 2 / 2.0)
    assert rate.overhead_s == pytest.approx(2.0)


def test_the_dry_run_of_a_study_prints_each_jobs_estimate_and_the_total(tmp_path):
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps({"version": 1, "devices": {"cpu": {
        "train_flops_per_s": 1e9, "eval_flops_per_s": 3e9, "overhead_s": 2.0, "source": "test", "when": "now"}}}))  # fmt: skip
    from tests.conftest import cli_env

    done = run_cli(
        "-m", "experiment=ablation_pooling", "trainer=cpu", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2",
        "sweep.dry_run=true", cwd=tmp_path, env=cli_env(EXPERIMENTS_CALIBRATION=str(calibration)),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "Measuring" not in out and "Time estimate on cpu (1.00 GFLOP/s training" in out
    jobs = re.findall(r"^  job +\d+  (?:up to )?~[\d h]+(?: s| min)", out, re.M)
    assert jobs, out
    assert re.search(r"^Total: .*~.* for \d+ jobs in a row, ~.* with 2 at once", out, re.M), out
    assert out.index("Dry run: no job was started") < out.index("Time estimate")
    assert json.loads(calibration.read_text())["devices"]["cpu"]["source"] == "test"  # not re-measured


def test_progress_lines_say_what_remains_once_a_job_finished(tmp_path):
    done = run_cli("-m", "seed=0,1,2", "trainer=cpu", *TINY, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
    first_done = next(i for i, line in enumerate(lines) if "done]" in line)
    assert all("left)" not in line for line in lines[:first_done])
    assert any("left)" in line and "sweep time" in line for line in lines[first_done:]), lines
    assert re.search(r"^Total: ~\d+ s for 3 jobs in a row", done.stdout, re.M), done.stdout
    assert re.search(r"^epoch 1/1 .*\(\d+\.\d s; run \d+:\d\d\)", done.stdout, re.M), done.stdout


def test_a_single_run_says_how_long_to_expect_before_it_loads_its_data(tmp_path):
    from tests.conftest import TINY, run_cli

    result = run_cli(*TINY, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    estimate = next(i for i, line in enumerate(lines) if line.startswith("Estimated time on cpu: ~"))
    assert estimate < next(i for i, line in enumerate(lines) if line.startswith("data digits"))
    assert "1 epoch(s) x 1,258 train" in lines[estimate] or "epoch(s)" in lines[estimate]
