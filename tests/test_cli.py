"""End to end through ``python -m experiments``: the default run, real datasets, DDP, every logger."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from experiments.records.run_record import RunRecord
from experiments.records.wandb_offline import read_offline_run

from .conftest import METRICS, QUICK, options, refusal, run_cli

pytestmark = pytest.mark.slow


def results_of(run_dir: Path) -> RunRecord:
    return RunRecord.read(run_dir)


def run_dirs_with_a_record(root: Path) -> list[Path]:
    return sorted(d for d in root.rglob("*") if RunRecord.exists(d))


def test_default_run_trains_lenet5_on_digits_to_95_percent(default_cli_run):
    result, run_dir = default_cli_run  # its console output: test_console
    assert f"Run dir: {run_dir}" in result.stdout and "test/acc" in result.stdout
    results = results_of(run_dir)
    assert results.status == "ok" and results.model == "lenet5" and results.data == "digits"
    assert results.metrics["test/acc"] >= 0.95
    assert results.epochs == 10
    assert (run_dir / ".hydra" / "config.yaml").is_file() and (run_dir / "metrics.csv").is_file()
    torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)


def test_runs_are_written_under_outputs_by_default(tmp_path):
    result = run_cli(*QUICK, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (found,) = run_dirs_with_a_record(tmp_path / "outputs" / "runs")
    assert len(found.relative_to(tmp_path / "outputs" / "runs").parts) == 2  # runs/<day>/<time>
    assert results_of(found).status == "ok"


def test_mnist_from_the_shared_files(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    result = run_cli(
        "data=mnist",
        *QUICK,
        "+trainer.limit_train_batches=100",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
        env=None,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = results_of(run_dir)
    assert results.data_info["sizes"] == {"train": 54_000, "val": 6_000, "test": 10_000}
    assert results.metrics["test/acc"] > 0.8


def test_mnist_missing_files_give_a_clear_error(tmp_path):
    result = run_cli(
        "data=mnist",
        f"data.root={tmp_path / 'nowhere'}",
        *QUICK,
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "train-images-idx3-ubyte" in result.stderr and "data.root" in result.stderr


def test_alexnet_on_flowers17(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    result = run_cli(
        "model=alexnet",
        "data=flowers17",
        "image_size=64",
        *QUICK,
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=2",
        "callbacks.checkpoint=null",  # ~700 MB of checkpoints that no assertion reads
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = results_of(run_dir)
    assert results.data_info["sizes"] == {"train": 680, "val": 340, "test": 340}
    assert results.classes is not None and results.classes[0] == "Daffodil" and len(results.classes) == 17
    assert results.params_total == 57_073_489
    assert METRICS <= set(results.metrics)


def test_ddp_sweep_runs_each_job_exactly_once_on_two_processes(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli(
        "-m",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "pooling=max,avg",
        *QUICK,
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = run_dirs_with_a_record(tmp_path)
    assert found == [sweep / "0", sweep / "1"]
    assert result.stdout.count(" done] ok") == 2  # one progress line per job, none from the extra ranks
    for job_dir, pooling in zip(found, ["max", "avg"]):
        results = results_of(job_dir)
        assert results.status == "ok" and results.device is not None and results.device["world_size"] == 2
        assert (
            results.overrides[-1].endswith(f"pooling={pooling}") or f"pooling={pooling}" in results.overrides
        )
        with open(job_dir / "metrics.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert sum(1 for row in rows if row.get("test/acc")) == 1  # logged once, by rank zero


def test_many_loggers_write_csv_tensorboard_and_wandb_offline(tmp_path):
    from omegaconf import OmegaConf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    run_dir = tmp_path / "run"
    result = run_cli("logger=many", "pooling=avg", *QUICK, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    results = results_of(run_dir)
    assert (result.stdout + result.stderr).count("wandb sync") == 1  # once, in the run's last lines
    assert results.wandb_sync is not None and results.wandb_sync.startswith("wandb sync ")

    with open(run_dir / "metrics.csv") as handle:
        columns = set(next(csv.reader(handle)))
    assert METRICS <= columns and not any(c.startswith("model/") for c in columns)  # static facts: no columns
    assert OmegaConf.load(run_dir / "hparams.yaml").params.total == results.params_total

    accumulator = EventAccumulator(str(run_dir / "tensorboard"))
    accumulator.Reload()
    scalars = set(accumulator.Tags()["scalars"])
    assert METRICS <= scalars and not any(tag.startswith("model/") for tag in scalars)
    (start,) = [
        HParamsPluginData.FromString(content).session_start_info
        for tag, content in accumulator.PluginTagToContent("hparams").items()
        if tag.endswith("session_start_info")
    ]
    assert start.hparams["pooling"].string_value == "avg" and start.hparams["seed"].number_value == 0
    assert start.hparams["params"].number_value == results.params_total

    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    run = read_offline_run(offline)
    assert run.name == "pooling=avg,trainer.max_epochs=1,trainer.num_sanity_val_steps=0"  # no logger=
    assert run.config["model"]["name"] == "lenet5" and run.config["pooling"] == {
        "_target_": "torch.nn.AvgPool2d",
        "_partial_": True,
    }
    assert run.config["optimizer"]["lr"] == 0.001
    logged = set().union(*(row.keys() for row in run.history))
    assert METRICS <= logged and not any(key.startswith("model/") for key in logged)
    assert run.summary["model/params"] == results.params_total == run.config["params"]["total"]
    assert run.summary["model/flops"] == results.flops == run.config["flops"]
    assert run.summary["test/acc"] == pytest.approx(results.metrics["test/acc"])
    assert run.exit_code == 0
    assert results.wandb is not None
    assert results.wandb["run_id"] == run.run_id and results.wandb["mode"] == "offline"

    assert results.plots == ["plots/curves.png", "plots/confusion_matrix.png"]
    assert all((run_dir / plot).stat().st_size > 10_000 for plot in results.plots)
    for plot in ("curves", "confusion_matrix"):  # logged to W&B as images
        assert (
            run.summary[f"plots/{plot}/_type"] == "images/separated"
            and run.summary[f"plots/{plot}/count"] == 1
        )


def test_wandb_sweep_groups_jobs_and_tags_swept_keys(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli(
        "-m", "logger=wandb", "pooling=max,min", "seed=0", *QUICK, f"hydra.sweep.dir={sweep}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [read_offline_run(next((sweep / job / "wandb").glob("offline-run-*"))) for job in ("0", "1")]
    assert runs[0].group == runs[1].group == "multirun-" + "_".join(sweep.parts[-2:])
    assert runs[0].tags == ["pooling=max"] and runs[1].tags == ["pooling=min"]
    assert [r.exit_code for r in runs] == [0, 0]
    assert runs[0].run_id != runs[1].run_id
    assert f"wandb sync {sweep}/*/wandb/offline-run-*" in result.stdout


def test_help_lists_groups_and_options_and_the_composed_config(tmp_path):
    result = run_cli("--help", "model=alexnet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"pooling: {', '.join(options('pooling'))}" in result.stdout
    assert f"hydra/launcher: {', '.join(options('hydra/launcher'))}" in result.stdout
    assert "name: alexnet" in result.stdout and "input_size: 224" in result.stdout
    bad = run_cli("--help", "pooling=median", cwd=tmp_path)
    assert bad.returncode == 2 and refusal("pooling=median") in bad.stderr
    hydra_help = run_cli("--hydra-help", cwd=tmp_path)
    assert hydra_help.returncode == 0 and "--multirun" in hydra_help.stdout


COUNTING_DRIVER = """
import sys
from hydra._internal.config_loader_impl import ConfigLoaderImpl
import experiments.cli.train as train

counts = {"compose": 0, "validate": 0}
load = ConfigLoaderImpl.load_configuration
def counted_load(self, *args, **kwargs):
    counts["compose"] += 1
    return load(self, *args, **kwargs)
ConfigLoaderImpl.load_configuration = counted_load
validate = train.validate
def counted_validate(cfg):
    counts["validate"] += 1
    return validate(cfg)
train.validate = counted_validate
try:
    train.main(sys.argv[1:])
finally:
    print("COUNTS", counts["compose"], counts["validate"])
"""


def test_a_run_composes_and_validates_its_config_once(tmp_path):
    import subprocess
    import sys

    from .conftest import cli_env

    result = subprocess.run(
        [sys.executable, "-c", COUNTING_DRIVER, *QUICK, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "COUNTS 1 1" in result.stdout, result.stdout[-2000:]
    assert results_of(tmp_path / "run").status == "ok"


def test_help_lists_config_groups_only_and_each_command_names_itself(tmp_path):
    from experiments.config import config_groups

    listed = run_cli("--help", cwd=tmp_path)
    assert listed.returncode == 0
    assert "pooling: avg, blurmax, lp, max, min, none, strided_conv" in listed.stdout and "wandb_sweep" not in listed.stdout
    assert (
        "wandb_sweep" not in config_groups()
    )  # W&B sweep files, not a group: `wandb_sweep=...` is no option
    for command in ("compare", "layers"):
        result = run_cli(command, "--help", cwd=tmp_path)
        assert result.returncode == 0 and f"usage: experiments {command}" in result.stdout
    version = run_cli("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == "experiments 0.1.0"


@pytest.mark.parametrize("entry", [("-m", "experiments.summary"), ("-m", "experiments", "layers")])
def test_layer_table_entry_points_refuse_bad_input_in_one_line(tmp_path, entry):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, *entry, "pooling=foo"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"Config error: {refusal('pooling=foo')}"


def test_tab_completion_of_the_console_script_offers_options_and_keys(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from .conftest import cli_env

    script = Path(sys.executable).parent / "experiments"
    for line, expected in (
        ("experiments pooling=", "pooling=max"),
        ("experiments trainer.max_ep", "trainer.max_epochs="),
    ):
        env = cli_env(COMP_LINE=line, COMP_POINT=str(len(line)))
        result = subprocess.run(
            [str(script), "-sc", "query=bash"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0 and expected in result.stdout.split(), result.stdout + result.stderr
    install = subprocess.run(
        [str(script), "-sc", "install=bash"], capture_output=True, text=True, env=dict(os.environ)
    )
    assert (
        "complete -o nospace -o default -F hydra_bash_completion experiments"
        in install.stdout.splitlines()[-1]
    )
