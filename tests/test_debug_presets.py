"""The debug presets (``conf/debug``): each composes and validates; fast_dev_run, overfit and profile run
end to end through the command line on the bundled digits data (offline, a few seconds each). Also the
time-to-accuracy preset ``experiment=lenet5_mnist_fast``."""

from __future__ import annotations

import pytest

from experiments.config import config_dir, validate
from experiments.records.run_record import RunRecord

from .conftest import cli_env, compose_config, run_cli

PRESETS = ["fast_dev_run", "overfit", "limit", "profile"]
# One torch thread: on a shared 2-core machine two threads can oversubscribe and make a step 50x slower.
ENV = {"OMP_NUM_THREADS": "1"}


def debug_override(preset: str) -> str:
    """``debug=X`` once conf/config.yaml has ``- debug: null`` in its defaults, ``+debug=X`` until then."""
    defaults = (config_dir() / "config.yaml").read_text()
    return f"debug={preset}" if "- debug: null" in defaults else f"+debug={preset}"


def the_run(cwd) -> RunRecord:
    """The record of the one run under ``outputs/runs/<day>/<time>``."""
    (found,) = [run_dir for run_dir in cwd.glob("outputs/runs/*/*") if RunRecord.exists(run_dir)]
    return RunRecord.read(found)


@pytest.mark.parametrize("preset", PRESETS)
def test_debug_preset_composes_and_validates(preset):
    assert (config_dir() / "debug" / f"{preset}.yaml").is_file()
    cfg = compose_config(debug_override(preset))
    validate(cfg)
    if preset == "fast_dev_run":
        assert cfg.trainer.fast_dev_run is True
    if preset == "overfit":
        assert cfg.trainer.overfit_batches >= 1
    if preset == "limit":
        assert cfg.trainer.limit_train_batches == 10 and cfg.trainer.max_epochs == 2
    if preset == "profile":
        assert cfg.trainer.profiler == "simple"


def test_fast_dev_run_runs_end_to_end(tmp_path):
    result = run_cli(debug_override("fast_dev_run"), cwd=tmp_path, env=cli_env(**ENV), timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    results = the_run(tmp_path)
    assert results.status == "ok" and "test/acc" in results.metrics
    assert results.epochs <= 1


def test_overfit_runs_end_to_end_and_fits_its_batches(tmp_path):
    result = run_cli(debug_override("overfit"), cwd=tmp_path, env=cli_env(**ENV), timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    history = the_run(tmp_path).history
    assert len(history) == 30
    # The same 4 batches every epoch (no reshuffle), so LeNet-5 learns them by heart.
    assert history[-1]["train/acc"] == 1.0 and history[-1]["train/loss"] < 0.05


def test_profile_prints_where_the_step_time_goes(tmp_path):
    result = run_cli(
        debug_override("profile"),
        "trainer.limit_train_batches=5",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
        cwd=tmp_path,
        env=cli_env(**ENV),
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "FIT Profiler Report" in output
    for action in ("train_dataloader_next", "training_step", "backward", "optimizer_step"):
        assert action in output, action


def test_fast_mnist_preset_composes_and_validates():
    cfg = compose_config("experiment=lenet5_mnist_fast")
    validate(cfg)
    assert cfg.data.name == "mnist" and cfg.model.name == "lenet5"
    assert cfg.data.batch_size == 256 and cfg.trainer.max_epochs == 4
    assert cfg.channels_last is True and cfg.trainer.precision == "bf16-mixed" and cfg.threads == "auto"
    assert list(cfg.tags) == ["lenet5_mnist_fast"]  # a preset's top-level keys beat conf/config.yaml's
    assert cfg.scheduler.factory._target_ == "torch.optim.lr_scheduler.OneCycleLR"


@pytest.mark.slow
def test_fast_mnist_preset_runs_a_few_batches(tmp_path, data_dir):
    result = run_cli(
        "experiment=lenet5_mnist_fast",
        f"paths.data_dir={data_dir}",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
        cwd=tmp_path,
        env=cli_env(**ENV),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert the_run(tmp_path).status == "ok"
