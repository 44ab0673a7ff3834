"""A sweep in every logger: TensorBoard's HParams rows, W&B runs named by their overrides, W&B and Optuna sweeps."""

from __future__ import annotations

import csv
from itertools import product
from pathlib import Path

import pytest
import yaml

from experiments.config import compose, config_dir, validate
from experiments.records.run_record import RunRecord
from experiments.records.wandb_offline import read_offline_run

from .conftest import TINY, compose_config, run_cli

GRID = list(product(("max", "avg"), ("relu", "tanh"), (0, 1)))


def hparams_sessions(logdir: Path) -> dict[str, dict]:
    """Each TensorBoard run under ``logdir`` (named as TensorBoard names it) that holds an HParams session:
    its hparams, its status and the last value of each of its scalars, read with TensorBoard's own readers."""
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
    from tensorboard.plugins.hparams.api_pb2 import Status
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    multiplexer = EventMultiplexer().AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    sessions = {}
    for run, tags in multiplexer.PluginRunToTagToContent("hparams").items():
        data = {
            tag.rsplit("/", 1)[-1]: HParamsPluginData.FromString(content) for tag, content in tags.items()
        }
        if "session_start_info" not in data:
            continue
        hparams = {
            key: value.string_value if value.HasField("string_value") else value.number_value
            for key, value in data["session_start_info"].session_start_info.hparams.items()
        }
        scalars = {tag: multiplexer.Scalars(run, tag)[-1].value for tag in multiplexer.Runs()[run]["scalars"]}
        status = (
            Status.Name(data["session_end_info"].session_end_info.status)
            if "session_end_info" in data
            else None
        )
        sessions[run] = {"hparams": hparams, "status": status, "scalars": scalars}
    return sessions


@pytest.mark.slow
def test_a_sweep_with_many_loggers_gives_an_hparams_table_and_clean_wandb_runs(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "pooling=max,avg", "activation=relu,tanh", "seed=0,1", "logger=many", *TINY]
    result = run_cli(*args, f"hydra.sweep.dir={sweep}", cwd=tmp_path, timeout=590)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rest = ",".join(TINY)

    sessions = hparams_sessions(sweep / "tensorboard")
    assert sorted(sessions) == sorted(f"pooling={p},activation={a},seed={s},{rest}" for p, a, s in GRID)
    for pooling, activation, seed in GRID:
        session = sessions[f"pooling={pooling},activation={activation},seed={seed},{rest}"]
        assert session["status"] == "STATUS_SUCCESS"
        assert {k: session["hparams"][k] for k in ("pooling", "activation", "seed")} == {
            "pooling": pooling,
            "activation": activation,
            "seed": seed,
        }
        assert session["hparams"]["model"] == "lenet5" and session["hparams"]["params"] > 0
        assert "logger" not in session["hparams"]
        assert 0 <= session["scalars"]["test/acc"] <= 1
        assert not any(tag.startswith("model/") for tag in session["scalars"])

    results = {int(p.parent.name): RunRecord.read(p.parent) for p in RunRecord.files_of_sweep(sweep)}
    assert sorted(results) == list(range(8))
    runs = {job: read_offline_run(sweep / str(job)) for job in results}  # a run dir is read as its W&B run
    assert len({run.group for run in runs.values()}) == 1 and runs[0].group
    for job, run in runs.items():
        name = results[job].name
        assert run.name == name and name in sessions and "logger" not in name
        assert run.exit_code == 0 and run.config["choices"]["pooling"] == run.config["swept"]["pooling"]
        history_keys = set().union(*run.history)
        assert "test/acc" in history_keys and not any(key.startswith("model/") for key in history_keys)
        assert run.summary["model/params"] == run.config["params"]["total"] == results[job].params_total
        assert run.summary["test/acc"] == pytest.approx(sessions[name]["scalars"]["test/acc"])
        with open(sweep / str(job) / "metrics.csv") as handle:
            columns = next(csv.reader(handle))
        assert "test/acc" in columns and not any(column.startswith("model/") for column in columns)


@pytest.mark.parametrize("kind", ["pooling", "padding", "activation"])
def test_each_ablation_preset_has_a_wandb_sweep_file_with_its_grid(kind):
    preset = compose([f"experiment=ablation_{kind}"], hydra_config=True, validated=False).hydra.sweeper.params
    sweep = yaml.safe_load((config_dir() / "wandb_sweep" / f"ablation_{kind}.yaml").read_text())
    assert {name: [str(v) for v in spec["values"]] for name, spec in sweep["parameters"].items()} == {
        str(name): str(values).split(",") for name, values in preset.items()
    }
    command = sweep["command"]
    assert command[:4] == ["${env}", "python", "-m", "experiments"] and command[-1] == "${args_no_hyphens}"
    # The agent passes `key=value` per parameter; each combination composes and validates (one seed).
    fixed = [a for a in command[4:-1] if "=" in a]
    grid = {
        name: spec["values"][:1] if name == "seed" else spec["values"]
        for name, spec in sweep["parameters"].items()
    }
    for values in product(*grid.values()):
        validate(compose_config(*fixed, *(f"{name}={value}" for name, value in zip(grid, values))))


@pytest.mark.slow
def test_a_second_run_of_an_optuna_study_proposes_new_points(optuna_study):
    import optuna

    study = optuna.load_study(study_name=optuna_study.name, storage=optuna_study.storage)
    first, second = [t.params for t in study.trials[:3]], [t.params for t in study.trials[3:]]
    assert len(second) == 2 and not any(params in first for params in second)
