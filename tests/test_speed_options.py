"""Speed options and the cheap training step: channels_last, torch.compile, the epoch totals, NVML checks."""

from __future__ import annotations

import io
import math
import os
import warnings

import pytest
import torch

from experiments.training.module import EpochTotals
from experiments.training.recipe import build_module, use_cuda_runtime_checks

from .conftest import compose_config, train


class SingleProcess:
    """What ``EpochTotals.means`` needs of a Lightning strategy: ``reduce`` (a no-op on one process)."""

    @staticmethod
    def reduce(tensor: torch.Tensor, reduce_op: str) -> torch.Tensor:
        return tensor


def test_epoch_totals_equal_a_direct_count_and_restart_each_epoch():
    generator = torch.Generator().manual_seed(0)
    batches = [
        (torch.randn(n, 10, generator=generator), torch.randint(0, 10, (n,), generator=generator))
        for n in (64, 64, 17)
    ]
    totals = EpochTotals()
    losses = []
    for logits, labels in batches:
        loss = torch.nn.functional.cross_entropy(logits, labels)
        losses.append(float(loss) * len(labels))
        totals.add(0, loss, logits, labels)
    mean_loss, accuracy = totals.means(SingleProcess())
    correct = sum(int((logits.argmax(1) == labels).sum()) for logits, labels in batches)
    assert math.isclose(float(mean_loss), sum(losses) / 145, rel_tol=1e-6)
    assert math.isclose(float(accuracy), correct / 145, rel_tol=1e-6)

    buffer = io.BytesIO()  # a checkpoint holds the totals as plain values and tensors
    torch.save(totals.state_dict(), buffer)
    restored = EpochTotals()
    restored.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    logits, labels = batches[0]
    restored.add(0, torch.tensor(1.0), logits, labels)  # same epoch: carries on
    assert restored.seen == 145 + 64
    restored.add(1, torch.tensor(1.0), logits, labels)  # a new epoch: starts again
    assert restored.seen == 64 and math.isclose(restored.loss_sum(), 64.0)


def test_a_non_finite_loss_stays_in_the_sum():
    totals = EpochTotals()
    logits, labels = torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)
    totals.add(0, torch.tensor(float("nan")), logits, labels)
    totals.add(0, torch.tensor(0.5), logits, labels)
    assert math.isnan(totals.loss_sum())


def test_channels_last_reaches_the_weights_and_the_batches():
    from hydra.utils import instantiate

    def conv_weights(overrides: tuple[str, ...]) -> list[torch.Tensor]:
        module = build_module(compose_config(*overrides))
        return [m.weight for m in module.net.modules() if isinstance(m, torch.nn.Conv2d)]

    nhwc = torch.channels_last
    assert all(w.is_contiguous(memory_format=nhwc) for w in conv_weights(("channels_last=true",)))
    assert not conv_weights(())[1].is_contiguous(memory_format=nhwc)  # 6 input channels: layouts differ
    cfg = compose_config("channels_last=true", "data.channels=3")
    module, data = build_module(cfg), instantiate(cfg.data)
    data.setup()  # the datamodule converts the batches to the layout the module asks for
    batch = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    images = data.transform(batch, train=False, memory_format=module.input_memory_format)
    assert images.is_contiguous(memory_format=nhwc) and images.shape == (8, 3, 32, 32)


BOTH_HOOKS = (
    "You have overridden `on_after_batch_transfer` in both `LightningModule` and `LightningDataModule`"
)


@pytest.mark.parametrize("channels_last", [True, False])
def test_channels_last_batches_reach_the_steps_of_a_real_fit(tmp_path, monkeypatch, channels_last):
    import pytorch_lightning as pl
    from hydra.utils import instantiate
    from lightning_utilities.core.rank_zero import WarningCache
    from pytorch_lightning.trainer.connectors import data_connector

    # Lightning warns once per process; a fresh cache makes the warning visible to this test.
    monkeypatch.setattr(data_connector, "warning_cache", WarningCache())
    # 3 channels: NCHW and NHWC differ (with 1 channel a contiguous batch is both)
    cfg = compose_config(f"channels_last={str(channels_last).lower()}", "data.channels=3")
    module, datamodule = build_module(cfg), instantiate(cfg.data)
    seen: dict[str, list[torch.Tensor]] = {"train": [], "val": []}
    for stage, name in (("train", "training_step"), ("val", "validation_step")):
        step = getattr(module, name)

        def probe(batch, batch_idx, step=step, stage=stage):
            seen[stage].append(batch[0])
            return step(batch, batch_idx)

        setattr(module, name, probe)
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_epochs=1, limit_train_batches=2, limit_val_batches=1,
        num_sanity_val_steps=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(module, datamodule=datamodule)
    assert len(seen["train"]) == 2 and len(seen["val"]) == 1
    for images in seen["train"] + seen["val"]:
        assert images.dtype == torch.float32 and images.shape[1:] == (3, 32, 32)
        assert images.is_contiguous(memory_format=torch.channels_last) is channels_last
        assert images.is_contiguous() is not channels_last
    assert not [w for w in caught if BOTH_HOOKS in str(w.message)]


def test_channels_last_run_learns_like_the_default(tmp_path, default_run):
    _, default = default_run
    nhwc = train(tmp_path / "nhwc", "channels_last=true")
    assert nhwc.status == "ok"
    assert abs(nhwc.metrics["test/acc"] - default.metrics["test/acc"]) < 0.03


@pytest.mark.slow
def test_compiled_run_trains_and_saves_plain_state_dict_keys(tmp_path):
    compiled = train(tmp_path / "compiled", "compile=true", "trainer.max_epochs=1")
    assert compiled.status == "ok" and compiled.metrics["test/acc"] > 0.5
    checkpoint = torch.load(tmp_path / "compiled" / "checkpoints" / "best.ckpt", weights_only=True)
    assert "net.features.0.weight" in checkpoint["state_dict"]
    assert not any("_orig_mod" in key for key in checkpoint["state_dict"])


def test_lightning_nvml_check_is_undone_unless_a_strategy_forks(monkeypatch):
    import pytorch_lightning as pl

    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    use_cuda_runtime_checks(pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False))
    assert "PYTORCH_NVML_BASED_CUDA_CHECK" not in os.environ

    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    forking = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp_fork", logger=False)
    use_cuda_runtime_checks(forking)
    assert os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] == "1"


def test_auto_threads_follow_the_idle_cores(monkeypatch):
    from experiments.training import threads as cpu_threads

    default = cpu_threads.torch_default_threads()
    monkeypatch.setattr(cpu_threads, "idle_cores", lambda since: 0.3)  # another process keeps the cores busy
    assert cpu_threads.choose_threads("auto") == 1
    monkeypatch.setattr(cpu_threads, "idle_cores", lambda since: 64.0)  # idle: up to torch's default
    assert cpu_threads.choose_threads("auto") == default
    assert cpu_threads.choose_threads("auto", deterministic=True) == default  # resumes use the same count
    assert cpu_threads.choose_threads(None) == default and cpu_threads.choose_threads(3) == 3


def test_idle_cores_are_read_from_proc_stat():
    from experiments.training.threads import STAT, idle_cores

    if not STAT.is_file():
        pytest.skip(f"{STAT} is missing (not Linux): auto uses torch's default there")
    idle = idle_cores(window_s=0.05)
    assert idle is not None and 0 <= idle <= (os.cpu_count() or 1) + 0.01


def test_idle_cores_count_this_process_own_work_as_idle_and_wait_only_for_a_short_window(
    tmp_path, monkeypatch
):
    from experiments.training import threads as cpu_threads

    stat = tmp_path / "stat"
    monkeypatch.setattr(cpu_threads, "STAT", stat)
    monkeypatch.setattr(cpu_threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(cpu_threads.os, "sysconf", lambda name: 100)  # 100 jiffies a second
    own = iter([1.0, 1.5])  # this process worked 0.5 s (50 jiffies) between the two samples
    monkeypatch.setattr(cpu_threads.os, "times", lambda: os.times_result((next(own), 0, 0, 0, 0)))
    stat.write_text("cpu  100 0 100 1000 0 0 0 0 0 0\ncpu0 ...\n")
    before = cpu_threads.sample_cpu()
    stat.write_text("cpu  200 0 100 1100 0 0 0 0 0 0\ncpu0 ...\n")  # 200 jiffies: 100 busy, 100 idle
    slept: list[float] = []
    monkeypatch.setattr(cpu_threads.time, "sleep", slept.append)
    old = cpu_threads.CpuSample(before.idle, before.total, before.own_seconds, before.at - 1.0)
    assert cpu_threads.idle_cores(old) == (100 + 50) / 200 * 2  # others kept only half a core busy
    assert slept == []  # a window of a second needs no wait


def test_a_run_records_its_thread_count(tmp_path):
    results = train(tmp_path, "threads=1")
    assert results.device["cpu_threads"] == 1
