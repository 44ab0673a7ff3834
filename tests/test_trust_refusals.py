"""Issue #26: a refused command writes nothing anywhere and changes no other run.

Each case runs the real CLI in a subprocess and asserts: exit code 2, one line on stderr naming the key,
no traceback, no new or changed file anywhere under the test's dir (the working dir, the image folders,
the earlier run dirs: every file hashed before and after).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from .conftest import compose_config, run_cli


def snapshot(root: Path) -> dict[str, str]:
    """Every file and dir under ``root``: its path and (files) the sha256 of its bytes."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        found[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return found


def refused(tmp_path: Path, key: str, *args: str, also: str = "") -> str:
    """Run ``experiments ARGS`` in ``tmp_path/work``; assert the refusal and that nothing changed under tmp_path."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    before = snapshot(tmp_path)
    result = run_cli(*args, cwd=work)
    after = snapshot(tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith(f"Config error: {key}: "), result.stderr
    assert also in lines[0]
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert not changed, sorted(changed)
    return lines[0]


VALUES = [
    (("optimizer.lr=inf",), "optimizer.lr", "got inf"),
    (("optimizer.lr=-inf",), "optimizer.lr", "got -inf"),
    (("optimizer.weight_decay=nan",), "optimizer.weight_decay", "got nan"),
    (("seed=4294967296",), "seed", "4294967295"),
    (("seed=-1",), "seed", "4294967295"),
    (("image_size=1000000",), "image_size", "GiB"),
    (("optimizer.lr=[1,2]",), "optimizer.lr", "got [1, 2]"),
    (("data.augment.hflip=maybe",), "data.augment.hflip", "true or false"),
    (("data=cifar10", "data.augment.hflip=maybe"), "data.augment.hflip", "true or false"),
    (("data.augment.translate=inf",), "data.augment.translate", "got inf"),
    (("sweep.dry_run=maybe",), "sweep.dry_run", "true or false"),
    (("trainer.enable_model_summary=maybe",), "trainer.enable_model_summary", "true or false"),
    (("pooling=méd",), "pooling", "choose one of avg, blurmax, lp, max, min, none, strided_conv"),
    (("poölïng=max",), "poölïng", "did you mean pooling"),
    (("pooling=[]",), "pooling", "choose one of avg, blurmax, lp, max, min, none, strided_conv"),
    (("pooling=",), "pooling", "choose one of avg, blurmax, lp, max, min, none, strided_conv"),
    (("-m", "seed=choice()"), "seed", "an empty sweep"),
    (("-m", "seed=range(0)"), "seed", "an empty sweep"),
    (("-m", "seed="), "seed", "got ''"),
    (("-m", "pooling=[]", "sweep.dry_run=true"), "pooling", "choose one of"),
    (("hydra.job.name=../../..",), "hydra.job.name", "plain name"),
    (("hydra.job.name=a/b",), "hydra.job.name", "plain name"),
    (("-m", "hydra.job.name=../x", "seed=1,2"), "hydra.job.name", "plain name"),
    (("model.features._target_=builtins.open",), "model.features._target_", "not an allowed target"),
    # a builder's word-valued option (models/choices.py): refused up front, not by the builder after the run dir
    (("model.net.block_order=foo",), "model.net.block_order", "conv-act-pool, conv-pool-act"),
    (("model=alexnet_paper", "model.net.groups=true"), "model.net.groups", "one of 1, 2"),
    (("model=lenet5_classic", "model.net.output=x"), "model.net.output", "one of rbf, linear"),
    # the other keys a library reads later (config/key_rules.py)
    (("data.seed=[1,2]",), "data.seed", "got [1, 2]"),
    (("trainer.deterministic=maybe",), "trainer.deterministic", "true, false, warn or null"),
    (("callbacks.checkpoint.mode=up",), "callbacks.checkpoint.mode", "min or max"),
    (("model.net.num_classes=zzz",), "model.net.num_classes", "integer >= 2"),
    (("trainer.accelerator=zzz",), "trainer.accelerator", "auto, cpu, gpu"),
    (("trainer.devices=zzz",), "trainer.devices", "a list of device indices"),
    (("data.mean=zzz",), "data.mean", "a list of numbers"),
    (("callbacks.checkpoint.monitor=val/accuracy",), "callbacks.checkpoint.monitor", "val/acc, val/loss"),
    (("optimized_metric=zzz",), "optimized_metric", "val/acc, val/loss"),
    (("model=lenet5_classic", "model.loss.criterion=zzz"), "model.loss.criterion", "cross_entropy or map"),
]


@pytest.mark.parametrize(("args", "key", "also"), VALUES, ids=[" ".join(a) for a, _, _ in VALUES])
def test_a_value_that_would_fail_later_is_refused_up_front(tmp_path, args, key, also):
    refused(tmp_path, key, *args, also=also)


def image_tree(root: Path) -> Path:
    from PIL import Image

    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (8, 8), (i * 40, 80, 20)).save(root / label / f"{i}.png")
    return root


FOLDERS = {
    "corrupt": lambda root: (root / "a" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png"),
    "empty_first": lambda root: (root / "a" / "0.png").write_bytes(b""),
    "not_an_image": lambda root: (root / "b" / "notes.jpg").write_text("hello"),
    "class_without_images": lambda root: ((root / "c").mkdir(), (root / "c" / "readme.txt").write_text("x")),
}


@pytest.mark.parametrize("case", sorted(FOLDERS))
def test_a_bad_image_folder_is_refused_before_any_run_dir(tmp_path, case):
    root = image_tree(tmp_path / "images")
    FOLDERS[case](root)
    line = refused(tmp_path, "data.root", "data=image_folder", f"data.root={root}")
    assert "cannot be resolved" not in line


def test_a_missing_dataset_is_refused_before_any_run_dir(tmp_path):
    refused(
        tmp_path,
        "data.root",
        "data=mnist",
        f"data.root={tmp_path / 'nowhere'}",
        also="train-images-idx3-ubyte",
    )


def finished_run(run_dir: Path, *overrides: str) -> Path:
    """A run dir as a finished lenet5 run leaves it: its config, overrides, results and a loadable checkpoint."""
    cfg = compose_config(*overrides, output_dir=str(run_dir))
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    (run_dir / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(list(overrides))))
    from experiments.records.record_writer import RecordWriter

    RecordWriter(run_dir).update(status="finished")
    (run_dir / "checkpoints").mkdir()
    torch.save({"state_dict": {}, "epoch": 1}, run_dir / "checkpoints" / "last.ckpt")
    return run_dir


def test_resume_of_a_file_that_is_no_checkpoint_writes_nothing_beside_it(tmp_path):
    notes = tmp_path / "elsewhere" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("mine")
    refused(tmp_path, "resume", f"resume={notes}", also="neither a run dir nor a .ckpt file")


def test_resume_of_a_ckpt_that_does_not_load_writes_nothing_beside_it(tmp_path):
    bad = tmp_path / "elsewhere" / "model.ckpt"
    bad.parent.mkdir()
    bad.write_text("not a checkpoint")
    refused(tmp_path, "resume", f"resume={bad}", also="model.ckpt is not a")


def test_resume_with_another_model_leaves_the_finished_run_as_it_was(tmp_path):
    run_dir = finished_run(tmp_path / "runs" / "lenet")
    refused(tmp_path, "resume", "model=alexnet", f"resume={run_dir}", also="model.name=lenet5")


def test_weights_that_do_not_fit_the_model_are_refused_before_any_run_dir(tmp_path):
    weights = tmp_path / "lenet.pt"
    torch.save({"features.0.weight": torch.zeros(6, 1, 5, 5), "features.0.bias": torch.zeros(6)}, weights)
    refused(
        tmp_path, "model.weights", "model=alexnet", f"model.weights={weights}", also="no tensor that fits"
    )


def test_weights_that_fit_pass_the_check(tmp_path):
    from hydra.utils import instantiate

    from experiments.cli.preflight import check_weights_fit

    path = tmp_path / "fit.pt"
    torch.save(instantiate(compose_config("model=alexnet").model.net).state_dict(), path)
    check_weights_fit(compose_config("model=alexnet", f"model.weights={path}"))
