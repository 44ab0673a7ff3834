"""Reliability: resume after a real SIGTERM, signals, clear refusals of bad input, unique run dirs, no leaked secrets."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import torch

from experiments.config import ConfigError
from experiments.data.archives import safe_extract
from experiments.data.sources import DataSourceError
from experiments.records.run_record import RunRecord
from experiments.records.wandb_offline import read_offline_run

from .conftest import QUICK, cli_env, refusal, run_cli, start_cli

# 3 short epochs of 200 batches (of digits' ~315 at batch 4): the SIGTERM, sent once epoch 1's line is
# printed, still lands in epoch 2 (at 100 batches, under load 5-6, it once came after the last batch);
# the identity check does not need full epochs.
EPOCH_BATCHES = 200
DETERMINISTIC = [
    "data.batch_size=4",
    "trainer.max_epochs=3",
    f"trainer.limit_train_batches={EPOCH_BATCHES}",
    "deterministic=true",
    "logger=many",
]


def results_of(run_dir: Path) -> RunRecord:
    return RunRecord.read(run_dir)


@pytest.mark.slow
def test_sigterm_mid_epoch_then_resume_ends_identical_to_an_uninterrupted_run(tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    reference = run_cli(*DETERMINISTIC, f"hydra.run.dir={whole}", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr[-3000:]

    log = tmp_path / "cut.log"
    process = start_cli(*DETERMINISTIC, f"hydra.run.dir={cut}", cwd=tmp_path, log=log)
    deadline = time.monotonic() + 240
    while "epoch 1/3" not in log.read_text():  # wait for epoch 2 to begin, then a real SIGTERM
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    interrupted = results_of(cut)
    assert interrupted.status == "interrupted" and "signal 15" in interrupted.error
    state = torch.load(cut / "checkpoints" / "interrupted.ckpt", weights_only=True)
    assert state["epoch"] == 1  # stopped during the second epoch ...
    served = state["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]["batches_served"]
    assert 0 < served <= EPOCH_BATCHES  # ... after some of its batches (how many depends on the load)
    first_run_id = interrupted.wandb["run_id"]

    resumed = run_cli(f"resume={cut}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming {cut} from interrupted.ckpt" in resumed.stdout
    done, expected = results_of(cut), results_of(whole)
    assert done.status == "ok" and done.metrics == expected.metrics
    assert [e["val/acc"] for e in done.history] == [e["val/acc"] for e in expected.history]
    assert (
        RunRecord.from_json(json.loads((cut / "results.attempt-1.json").read_text())).status == "interrupted"
    )

    rows = (cut / "metrics.csv").read_text().splitlines()
    assert (
        sum(1 for row in rows if row.startswith("0,")) >= 1 and len(rows) > 20
    )  # epoch-0 rows kept, appended to
    runs = [read_offline_run(d) for d in sorted((cut / "wandb").glob("offline-run-*"))]
    assert len(runs) == 2 and {r.run_id for r in runs} == {first_run_id} == {done.wandb["run_id"]}
    assert [r.exit_code for r in runs] == [1, 0]  # the interrupted attempt finished its W&B run too
    assert len(list((cut / "tensorboard").glob("events.out.tfevents.*"))) > len(
        list((whole / "tensorboard").glob("events.out.tfevents.*"))
    )  # the resumed attempt adds its events next to the first attempt's


def test_second_sigint_exits_at_once(tmp_path):
    code = (
        "import os, signal\n"
        "from experiments.training.signals import GracefulStop\n"
        "GracefulStop('x').install()\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "print('first signal noted', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "print('still running', flush=True)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 128 + signal.SIGINT
    assert "first signal noted" in result.stdout and "still running" not in result.stdout


BAD_INPUTS = [
    (["pooling=median"], refusal("pooling=median")),  # its wording: test_config
    (["optimizer.lr=abc"], "optimizer.lr: must be a number > 0"),
    (["optimizer.lr=0"], "optimizer.lr: must be a number > 0"),
    (["data.batch_size=0"], "data.batch_size: must be an integer >= 1"),
    (["model.net.dropout=1.5"], "model.net.dropout: must be a number in [0, 1)"),
    (["trainer.max_epochs=0"], "trainer.max_epochs: must be an integer >= 1"),
    (["data.val_fraction=0.5", "data.test_fraction=0.5"], "leaves no training data"),
    (["model=alexnet", "image_size=16"], "smallest input this network accepts is 63x63"),
    (["optimizer.momentum=0.9"], "optimizer.momentum: no such key in the config"),
    (["resume=/no/such/run"], "resume: /no/such/run does not exist"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_clear_paragraph_with_exit_code_2_and_writes_nothing(tmp_path, args, message):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "outputs").rglob("*.yaml"))  # no run dir was made


def test_full_error_shows_the_traceback(tmp_path):
    result = run_cli("optimizer.lr=-1", cwd=tmp_path, env=cli_env(HYDRA_FULL_ERROR="1"))
    assert result.returncode != 0 and "Traceback" in result.stderr and "ConfigError" in result.stderr


@pytest.mark.slow
def test_missing_dataset_is_a_clear_error(tmp_path):
    result = run_cli("data=mnist", f"data.root={tmp_path / 'nowhere'}", *QUICK, cwd=tmp_path)
    assert result.returncode == 2
    assert (
        "Config error: data.root: " in result.stderr  # #26: refused before any run dir, naming the key
        and "train-images-idx3-ubyte" in result.stderr
        and "data.root" in result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_truncated_idx_file_is_named(tmp_path, data_dir):
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).symlink_to(data_dir / "mnist" / "MNIST" / "raw" / name)
    original = (data_dir / "mnist" / "MNIST" / "raw" / "t10k-images-idx3-ubyte").read_bytes()
    (raw / "t10k-images-idx3-ubyte").write_bytes(original[: len(original) // 3])
    result = run_cli(
        "data=mnist", f"data.root={tmp_path / 'mnist'}", "data.cache=false", *QUICK, cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "t10k-images-idx3-ubyte" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_corrupt_jpeg_is_named(tmp_path):
    from PIL import Image

    root = tmp_path / "images"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (10, 10), (i * 30, 80, 20)).save(root / label / f"{i}.jpg")
    (root / "b" / "3.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    args = ["data=image_folder", f"data.root={root}", "data.num_classes=2", "data.cache=false", *QUICK]
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2 and "3.jpg" in result.stderr and "Traceback" not in result.stderr


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    from experiments.training.checkpoints import load_checkpoint

    unsafe = tmp_path / "unsafe.ckpt"
    torch.save({"state_dict": {}, "payload": ConfigError("x", "an arbitrary object")}, unsafe)
    with pytest.raises(
        ConfigError, match=r"not a plain tensor file \(it pickles [\w.]+\) and was refused by torch\.load"
    ):
        load_checkpoint(unsafe)


@pytest.mark.slow
def test_resume_from_a_checkpoint_of_another_model_is_refused(tmp_path, one_epoch_run):
    checkpoint = one_epoch_run / "checkpoints" / "last.ckpt"  # only read: the resume is refused
    result = run_cli("model=alexnet", f"resume={checkpoint}", cwd=tmp_path)
    assert result.returncode == 2
    assert "is a checkpoint of model=lenet5, but this run is model=alexnet" in result.stderr


def test_archive_members_cannot_leave_the_target(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"owned"
        info = tarfile.TarInfo("../outside.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DataSourceError, match=r"member '\.\./outside\.txt' would be extracted outside"):
        safe_extract(archive, tmp_path / "target")
    assert not (tmp_path / "outside.txt").exists()

    link = tmp_path / "link.tar"
    with tarfile.open(link, "w") as tar:
        info = tarfile.TarInfo("data/passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(DataSourceError, match="points outside"):
        safe_extract(link, tmp_path / "target")

    good = tmp_path / "good.tar"
    with tarfile.open(good, "w") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/readme.html")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"ok"))
    safe_extract(good, tmp_path / "target")
    assert (tmp_path / "target" / "cifar-10-batches-py" / "readme.html").read_text() == "ok"


@pytest.mark.slow
def test_ddp_with_more_devices_than_exist_is_refused(tmp_path):
    result = run_cli("trainer=ddp", "trainer.accelerator=gpu", "trainer.devices=2", *QUICK, cwd=tmp_path)
    assert result.returncode == 2
    assert "trainer.devices: 2 GPU(s) asked for, 0 found" in result.stderr


@pytest.mark.slow
def test_two_runs_started_together_get_their_own_dirs_and_a_used_dir_is_refused(tmp_path):
    logs = [tmp_path / f"{i}.log" for i in range(2)]
    processes = [start_cli(*QUICK, "+trainer.limit_train_batches=2", cwd=tmp_path, log=log) for log in logs]
    assert [p.wait(timeout=300) for p in processes] == [0, 0], [log.read_text()[-2000:] for log in logs]
    dirs = sorted(d for d in (tmp_path / "outputs" / "runs").glob("*/*") if RunRecord.exists(d))
    assert len(dirs) == 2 and dirs[0] != dirs[1]
    again = run_cli(*QUICK, f"hydra.run.dir={dirs[0]}", cwd=tmp_path)
    assert again.returncode == 2 and "already holds a run" in again.stderr
    assert results_of(dirs[0]).status == "ok"


@pytest.mark.slow
def test_secrets_from_the_environment_never_reach_a_file(tmp_path):
    planted = {
        "MY_SERVICE_TOKEN": "tok-5f1e2d3c4b",
        "WANDB_API_KEY": "k" * 40,
        "LAB_DB_SECRET": "hunter2-sekrit",
    }
    env = cli_env(**planted)  # WANDB_MODE=offline stays: no network
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments",
            "logger=many",
            *QUICK,
            "+notes.token=${oc.env:MY_SERVICE_TOKEN}",
            "+notes.db=${oc.env:LAB_DB_SECRET}",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert results_of(run_dir).status == "ok"
    checked = 0
    for path in run_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            checked += 1
            for name, value in planted.items():
                assert value.encode() not in content, f"{name} leaked into {path}"
    assert checked > 15
    for value in planted.values():
        assert value not in result.stdout and value not in result.stderr
    hparams = (run_dir / "hparams.yaml").read_text()
    assert "token: '***'" in hparams or "token: ***" in hparams
