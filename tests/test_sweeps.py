"""Sweeps: failures recorded and resumed, up-front validation, parallel device slots, SLURM, Optuna, W&B sweeps."""

from __future__ import annotations

import json
import multiprocessing
import shlex
import time
from pathlib import Path

import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from PIL import Image

from experiments.config import compose, config_dir, validate
from experiments.records.run_record import RunRecord
from experiments.sweeps.slots import DeviceSlots

from .conftest import TINY, compose_config, refusal, run_cli, start_cli


def results_in(sweep: Path) -> dict[int, RunRecord]:
    return {int(p.parent.name): RunRecord.read(p.parent) for p in RunRecord.files_of_sweep(sweep)}


def _hold_a_slot(lock_dir: str, devices: list[int], barrier, queue) -> None:
    slots = DeviceSlots(Path(lock_dir), devices)
    queue.put(slots.acquire(1, timeout=30))
    barrier.wait()  # every process holds its slot at the same time


def test_device_slots_give_concurrent_jobs_distinct_devices(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(4), context.Queue()
    workers = [
        context.Process(target=_hold_a_slot, args=(str(tmp_path), [0, 1, 2, 3], barrier, queue))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    taken = sorted(queue.get(timeout=60)[0] for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
    assert taken == [0, 1, 2, 3]


def test_device_slots_wait_while_all_are_held_and_free_on_release(tmp_path):
    first = DeviceSlots(tmp_path, [0, 1])
    assert first.acquire(2) == [0, 1]
    with pytest.raises(TimeoutError, match="no 1 free device"):
        DeviceSlots(tmp_path, [0, 1]).acquire(1, timeout=0.5)
    first.release()
    assert DeviceSlots(tmp_path, [0, 1]).acquire(1, timeout=5) == [0]
    with pytest.raises(ValueError, match="wants 3 devices"):
        DeviceSlots(tmp_path, [0, 1]).acquire(3)


def test_slurm_launcher_follows_the_trainer_and_uses_lightnings_requeue_signal():
    from submitit.slurm.slurm import _make_sbatch_string

    cfg = compose(
        ["hydra/launcher=slurm", "trainer=ddp", "trainer.accelerator=gpu", "trainer.devices=4", "trainer.num_nodes=2"],
        hydra_config=True,
        validated=False,
    )
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert (launcher["gpus_per_node"], launcher["tasks_per_node"], launcher["nodes"]) == (4, 4, 2)
    on_cpus = compose(["hydra/launcher=slurm", "trainer=ddp", "trainer.accelerator=cpu"], hydra_config=True, validated=False)
    assert OmegaConf.to_container(on_cpus.hydra.launcher, resolve=True)["gpus_per_node"] == 0  # a CPU job asks for none
    script = _make_sbatch_string(
        command="python -m experiments",
        folder="/tmp/x",
        job_name="experiments",
        nodes=launcher["nodes"],
        gpus_per_node=launcher["gpus_per_node"],
        ntasks_per_node=launcher["tasks_per_node"],
        signal_delay_s=launcher["signal_delay_s"],
        additional_parameters=launcher["additional_parameters"],
    )
    assert "#SBATCH --signal=USR1@120" in script and "USR2" not in script
    assert "#SBATCH --gpus-per-node=4" in script and "#SBATCH --ntasks-per-node=4" in script


def test_ablation_presets_sweep_each_model_on_data_it_fits_over_three_seeds():
    for kind in ("pooling", "padding", "activation"):
        cfg = compose([f"experiment=ablation_{kind}"], hydra_config=True, validated=False)
        params = cfg.hydra.sweeper.params
        assert params.setup == "lenet5_mnist,alexnet_flowers17" and params.seed == "0,1,2"
        assert len(params[kind].split(",")) >= 4
        for setup, model, data in (
            ("lenet5_mnist", "lenet5", "mnist"),
            ("alexnet_flowers17", "alexnet_bn", "flowers17"),
        ):
            for value in params[kind].split(","):
                cfg = compose_config(f"setup={setup}", f"{kind}={value}")
                validate(cfg)
                assert (cfg.model.name, cfg.data.name) == (model, data)
        assert "COST_PLACEHOLDER" not in (config_dir() / "experiment" / f"ablation_{kind}.yaml").read_text()


def test_wandb_sweep_file_yields_hydra_overrides():
    sweep = yaml.safe_load((config_dir() / "wandb_sweep" / "pooling_activation.yaml").read_text())
    assert (
        sweep["command"][:4] == ["${env}", "python", "-m", "experiments"]
        and "${args_no_hyphens}" in sweep["command"]
    )
    # W&B's agent expands ${args_no_hyphens} to `key=value` per parameter: Hydra must parse and compose them.
    for name, spec in sweep["parameters"].items():
        for value in spec["values"]:
            argument = f"{name}={value}"
            (parsed,) = OverridesParser.create().parse_overrides([argument])
            assert parsed.get_key_element() == name and not parsed.is_sweep_override()
            validate(compose_config(*shlex.split(argument), *[a for a in sweep["command"][4:] if "=" in a]))


@pytest.mark.slow
def test_a_failed_job_is_recorded_the_sweep_goes_on_and_resume_reruns_only_it(tmp_path):
    images, later = tmp_path / "images", tmp_path / "later"
    for root in (images, later):
        for label in ("a", "b"):
            (root / label).mkdir(parents=True)
            for i in range(12):
                Image.new("RGB", (12, 12), (i * 20, 100 if label == "a" else 200, 50)).save(
                    root / label / f"{i}.png"
                )
    broken = later / "b" / "3.png"
    good = broken.read_bytes()
    args = [
        "-m",
        "data=image_folder",
        f"data.root={images},{later}",
        "data.cache=false",
        "data.val_fraction=0.25",
        "data.test_fraction=0.25",
        *TINY,
    ]

    # The file goes bad once the sweep is under way: its up-front check passed, and the second job fails
    # when it decodes its images, after it started (a file changed on disk during a sweep).
    log = tmp_path / "first.log"
    process = start_cli(*args, cwd=tmp_path, log=log)
    deadline = time.monotonic() + 240
    while "[1/2] start" not in log.read_text():
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.02)
    broken.write_bytes(b"not a png")
    assert process.wait(timeout=300) == 1, log.read_text()[-3000:]
    first_output = log.read_text()
    (sweep,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    results = results_in(sweep)
    assert results[0].status == "ok" and results[1].status == "failed"
    assert "3.png" in results[1].error and results[1].traceback
    assert "[1/2] start" in first_output and "[2/2 done] failed" in first_output
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert summary["counts"] == {"failed": 1, "ok": 1}
    totals = summary["totals"]  # the sweep's wall time beside the training steps of its jobs
    assert totals["trained_jobs"] == 1
    assert totals["train_seconds"] == results[0].train_seconds > 0
    assert totals["sweep_wall_time_s"] > totals["train_seconds"]
    assert totals["training_share"] == totals["train_seconds"] / totals["sweep_wall_time_s"]
    markdown = (sweep / "sweep_summary.md").read_text()
    assert "2 jobs: 1 failed, 1 ok; 0:" in markdown and "of wall time; training steps" in markdown
    assert "{" not in markdown  # no raw Python dicts
    assert f"experiments compare {sweep.relative_to(tmp_path)}" in first_output
    finished_at = results[0].finished_at

    broken.write_bytes(good)
    second = run_cli(*args, "sweep.resume=true", cwd=tmp_path)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"Resuming sweep {sweep.relative_to(tmp_path)}" in second.stdout
    assert "Skipping finished job" in second.stdout
    results = results_in(sweep)
    assert results[0].finished_at == finished_at  # not re-run
    assert results[1].status == "ok"
    assert (
        RunRecord.from_json(json.loads((sweep / "1" / "results.attempt-1.json").read_text())).status
        == "failed"
    )
    assert len(list((tmp_path / "outputs" / "multirun").glob("*/*"))) == 1


def test_a_checked_grid_is_composed_once_a_job_and_its_jobs_skip_the_per_run_plots(tmp_path, monkeypatch):
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    from experiments import api

    loaded: list[list[str]] = []
    load = ConfigLoaderImpl.load_sweep_config

    def counted(self, master_config, sweep_overrides):
        loaded.append(sweep_overrides)
        return load(self, master_config, sweep_overrides)

    monkeypatch.setattr(ConfigLoaderImpl, "load_sweep_config", counted)
    ours = api.sweep(["seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path / 'grid'}"])
    assert len(loaded) == 2  # the launcher's composition only: the up-front check composed each job
    assert [r.status for r in ours.runs] == ["ok", "ok"]
    assert not any((r.run_dir / "plots").exists() for r in ours.runs)  # plots=auto: the sweep is compared
    loaded.clear()
    hydras = api.sweep(
        ["seed=0,1", *TINY, "hydra/sweeper=basic", "plots=true", f"hydra.sweep.dir={tmp_path / 'b'}"]
    )
    assert len(loaded) == 4  # Hydra's basic sweeper composes each job again before the launcher does
    assert all((r.run_dir / "plots" / "curves.png").is_file() for r in hydras.runs)


def test_a_sweep_with_an_unknown_option_starts_no_job_and_names_it(tmp_path):
    result = run_cli("-m", "pooling=max,median", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "Config error: sweep: no job was started; these jobs have bad values:",
        f"  job 1 (pooling=median): {refusal('pooling=median')}",
    ]
    assert not (tmp_path / "outputs" / "multirun").exists()


@pytest.mark.slow
def test_a_sweep_with_a_bad_value_starts_no_job(tmp_path):
    result = run_cli("-m", "optimizer.lr=0.001,-1", "pooling=max,avg", cwd=tmp_path)
    assert result.returncode == 2
    assert "no job was started" in result.stderr
    assert "job 2 (optimizer.lr=-1 pooling=max): optimizer.lr: must be a number > 0" in result.stderr
    assert not [path for path in tmp_path.rglob("*") if RunRecord.exists(path)]


def _take_a_gpu(sweep_dir: str, hold: float, queue) -> None:
    """One job of a parallel sweep on a machine with GPUs 0 and 1 (the device query is injected)."""
    import time

    from experiments.sweeps.slots import JobDevices

    share = JobDevices(Path(sweep_dir), "gpu", 1, n_jobs=2, gpus=lambda accelerator: [0, 1])
    queue.put((share.describe()["assigned"], share.trainer_overrides()))
    time.sleep(hold)
    share.release()


def test_jobs_running_side_by_side_get_distinct_gpus(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    jobs = [context.Process(target=_take_a_gpu, args=(str(tmp_path), 3.0, queue)) for _ in range(2)]
    for job in jobs:
        job.start()
    taken = sorted(queue.get(timeout=60) for _ in jobs)
    for job in jobs:
        job.join(timeout=60)
    assert [assigned for assigned, _ in taken] == ["gpu0", "gpu1"]
    assert [overrides for _, overrides in taken] == [
        {"accelerator": "gpu", "devices": [0]},
        {"accelerator": "gpu", "devices": [1]},
    ]


def _share_a_gpu(sweep_dir: str, barrier, queue) -> None:
    """One job of a 4-job parallel sweep on simulated GPUs 0 and 1, two jobs allowed on each."""
    from experiments.sweeps.slots import JobDevices

    share = JobDevices(Path(sweep_dir), "gpu", 1, n_jobs=4, gpus=lambda accelerator: [0, 1], per_device=2)
    queue.put(share.trainer_overrides()["devices"])
    barrier.wait()  # all four hold their slots at once
    share.release()


def test_jobs_per_device_lets_that_many_jobs_share_each_gpu_and_no_more(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(4), context.Queue()
    jobs = [context.Process(target=_share_a_gpu, args=(str(tmp_path), barrier, queue)) for _ in range(4)]
    for job in jobs:
        job.start()
    taken = sorted(queue.get(timeout=60)[0] for _ in jobs)
    for job in jobs:
        job.join(timeout=60)
    assert taken == [0, 0, 1, 1]
    slots = tmp_path / ".device_slots"
    first, second = DeviceSlots(slots, [0, 1], 2), DeviceSlots(slots, [0, 1], 2)
    assert first.acquire(2) == second.acquire(2) == [0, 1]
    with pytest.raises(TimeoutError):  # a third job on either GPU waits
        DeviceSlots(slots, [0, 1], 2).acquire(1, timeout=0.5)


def test_free_gpus_are_filled_before_a_second_job_joins_one(tmp_path):
    jobs = [DeviceSlots(tmp_path, [0, 1, 2], per_device=3) for _ in range(3)]
    assert [jobs[0].acquire(1), jobs[1].acquire(1), jobs[2].acquire(2)] == [[0], [1], [0, 2]]


def test_each_job_reads_jobs_per_device_from_the_parallel_launcher():
    from hydra.core.hydra_config import HydraConfig

    from experiments.sweeps.slots import jobs_per_device, parallel_jobs

    cfg = compose(
        ["hydra/launcher=parallel", "hydra.launcher.n_jobs=4", "hydra.launcher.jobs_per_device=2"],
        hydra_config=True,
        validated=False,
    )
    HydraConfig.instance().set_config(cfg)
    assert (parallel_jobs(), jobs_per_device()) == (4, 2)


@pytest.mark.parametrize("value", ["0", "two", "1.5"])
def test_a_bad_jobs_per_device_starts_no_job_and_names_the_key(tmp_path, value):
    sweep = tmp_path / "sweep"
    result = run_cli(
        "-m",
        "hydra/launcher=parallel",
        f"hydra.launcher.jobs_per_device={value}",
        "seed=0,1",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "hydra.launcher.jobs_per_device: must be a whole number >= 1" in result.stderr
    assert not sweep.exists()


def test_a_sequential_sweep_takes_no_device_slot(tmp_path):
    from experiments.sweeps.slots import JobDevices

    share = JobDevices(tmp_path, "gpu", 1, n_jobs=1, gpus=lambda accelerator: [0, 1])
    assert (
        share.describe() == {}
        and share.trainer_overrides() == {}
        and not (tmp_path / ".device_slots").exists()
    )


@pytest.mark.slow
def test_parallel_launcher_divides_the_cores_on_a_cpu(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli(
        "-m",
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=2",
        "seed=0,1",
        *TINY,
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    import os

    threads = max(1, (os.cpu_count() or 1) // 2)
    assert {r.device["assigned"] for r in results_in(sweep).values()} == {f"cpu x{threads} threads"}


@pytest.mark.slow
def test_submitit_local_executor_runs_the_sweep(submitit_sweep):
    _, sweep = submitit_sweep  # its progress lines: test_records_reruns
    results = results_in(sweep)
    assert sorted(results) == [0, 1] and all(r.status == "ok" for r in results.values())
    assert list((sweep / ".submitit").glob("*/*_result.pkl"))


@pytest.mark.slow
def test_optuna_search_returns_the_metric_and_resumes_its_study(optuna_study):
    """3 trials, then a second run of the same study adds 2 (new points: test_logging_sweeps)."""
    import optuna

    assert "Best value:" in optuna_study.first.stdout + optuna_study.first.stderr
    study = optuna.load_study(study_name=optuna_study.name, storage=optuna_study.storage)
    assert len(study.trials) == 5
    for sweep, trials in (
        (optuna_study.first_sweep, study.trials[:3]),
        (optuna_study.second_sweep, study.trials[3:]),
    ):
        best_values = sorted(r.metrics["val/acc_best"] for r in results_in(sweep).values())
        assert sorted(t.value for t in trials) == pytest.approx(best_values)
