"""Training throughput of the framework against a hand-written loop and a DataLoader + transforms loop.

One process; LeNet-5 on MNIST (32x32, padded), Adam (lr 1e-3), batch 64 and 256, steady state:

* ``framework``: the experiment as ``python -m experiments data=mnist trainer=cpu`` builds it (config
  composed by Hydra; its callbacks: checkpoints, LR monitor, progress; its CSV logger; a
  ``pytorch_lightning.Trainer``; ``ClassificationModule``; ``ClassificationData`` with in-memory tensors);
* ``loop``: a hand-written pure-tensor loop over the same in-memory uint8 training tensor (shuffled
  index, slice, normalise, forward, cross-entropy, backward, Adam step), same model and optimizer;
* ``dataloader``: what the seed notebooks write: ``torchvision.datasets.MNIST`` with per-sample
  ``transforms`` (Pad, ToTensor, Normalize) and a ``DataLoader(shuffle=True)`` (0 workers).

Each measurement trains a fixed number of batches after a few warm-up batches and times only those
(the framework's from the end of warm-up batch to the end of the last batch, with a callback; so
Trainer construction, validation and checkpoints at epoch end are outside). Methods are interleaved
within each repeat so that load from other jobs on a shared machine falls on all alike. Reports the
median and min/max images/s and the ratios of medians. ``--variants`` (default without ``--quick``)
also measures the framework with parts switched off (progress bar, logger, per-step logging and
metrics) to show what each costs.

    EXPERIMENTS_DATA_DIR=/path/to/data python benchmarks/bench_overhead.py [--quick]

Writes benchmarks/results/overhead.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from report import command, header, save, torch_machine  # benchmarks/report.py, beside this script
from torch import nn

from experiments.config import compose
from experiments.training.module import ClassificationModule
from experiments.training.recipe import build_module, use_cuda_runtime_checks

WARMUP = 10
DEVICE = {"trainer": "cpu"}  # --device gpu: trainer=gpu, the data and the hand-written loop on CUDA


def compose_config(batch_size: int, output_dir: str, overrides: list[str] = ()) -> Any:
    return compose(
        [
            "data=mnist",
            "data.fit=pad",
            f"trainer={DEVICE['trainer']}",
            f"data.batch_size={batch_size}",
            f"paths.output_dir={output_dir}",
            *overrides,
        ],
        validated=False,
    )


class BatchClock(pl.Callback):
    """Times the training batches after ``warmup`` of them."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.ends: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.ends.append(time.perf_counter())

    def images_per_s(self, batch_size: int) -> float:
        timed = self.ends[self.warmup - 1 :]
        return (len(timed) - 1) * batch_size / (timed[-1] - timed[0])


class LeanStep(ClassificationModule):
    """The training step without the finite-loss check, the train accuracy metric and per-step logging
    (only the epoch-mean loss is logged): to measure what those cost."""

    def training_step(self, batch, batch_idx):
        images, labels = batch
        loss = self.loss(self.net(images), labels)
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss


class ManualStep(ClassificationModule):
    """The same training step under manual optimization (``automatic_optimization=False``): zero_grad,
    ``manual_backward`` and the Lightning optimizer's step (which counts ``global_step``) in the step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        optimizer = self.optimizers()
        loss = super().training_step(batch, batch_idx)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        optimizer.step()
        return loss


class Framework:
    """A module, datamodule and config; ``measure`` fits a new Trainer for ``batches`` batches."""

    def __init__(self, batch_size: int, variant: dict[str, Any], output_dir: str) -> None:
        self.batch_size = batch_size
        self.variant = variant
        self.output_dir = output_dir
        self.cfg = compose_config(batch_size, output_dir, variant.get("overrides", []))
        torch.manual_seed(0)
        self.datamodule = instantiate(self.cfg.data)
        if variant.get("lean_step") or variant.get("manual"):
            step = ManualStep if variant.get("manual") else LeanStep
            self.module = step(
                instantiate(self.cfg.model.net), num_classes=10, optimizer=instantiate(self.cfg.optimizer)
            )
        else:  # as run.py builds it, so config overrides such as channels_last and compile apply
            self.module = build_module(self.cfg)

    def measure(self, batches: int) -> float:
        clock = BatchClock(WARMUP)
        callbacks = [instantiate(c) for c in self.cfg.callbacks.values() if c]
        if self.variant.get("tqdm"):
            callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.ProgressBar)]
            callbacks.append(
                pl.callbacks.TQDMProgressBar(refresh_rate=self.cfg.callbacks.progress_bar.refresh_rate)
            )
        if self.variant.get("no_progress"):
            callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.ProgressBar)]
        if self.variant.get("no_logger"):  # the LR monitor needs a logger
            callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.LearningRateMonitor)]
        if self.variant.get("no_callbacks"):
            callbacks = []
        loggers = (
            [instantiate(c) for c in self.cfg.logger.values() if c]
            if not self.variant.get("no_logger")
            else []
        )
        trainer = instantiate(
            self.cfg.trainer,
            logger=loggers or False,
            callbacks=[*callbacks, clock],
            max_epochs=1,
            limit_train_batches=batches + WARMUP,
            limit_val_batches=2,
            num_sanity_val_steps=0,
            enable_progress_bar=not self.variant.get("no_progress", False),
            enable_checkpointing=not self.variant.get("no_callbacks", False),
            **self.variant.get("trainer", {}),
        )
        use_cuda_runtime_checks(trainer)  # as run.py does
        trainer.fit(self.module, datamodule=self.datamodule)
        return clock.images_per_s(self.batch_size)


class Loop:
    """The hand-written loop over the datamodule's own training tensors (uint8, in memory)."""

    def __init__(self, framework: Framework) -> None:
        data = framework.datamodule
        data.setup()
        self.device = device = torch.device("cuda" if DEVICE["trainer"] == "gpu" else "cpu")
        self.images, self.labels = (t.to(device) for t in data.splits["train"])  # resident on the device
        self.scale, self.shift = data._scale.to(device), data._shift.to(device)
        self.batch_size = framework.batch_size
        torch.manual_seed(0)
        self.model = instantiate(framework.cfg.model.net).to(device)
        self.optimizer = instantiate(framework.cfg.optimizer)(self.model.parameters())
        self.generator = torch.Generator().manual_seed(0)

    def batches(self):
        while True:
            order = torch.randperm(len(self.labels), generator=self.generator).to(self.labels.device)
            for start in range(0, len(order) - self.batch_size + 1, self.batch_size):
                index = order[start : start + self.batch_size]
                yield torch.addcmul(-self.shift, self.images[index].float(), self.scale), self.labels[index]

    def measure(self, batches: int) -> float:
        """Images per second over ``batches`` steps after a warm-up; taking a batch is inside the clock."""
        self.model.train()
        source = self.batches()
        start = 0.0
        for i in range(batches + WARMUP):
            if i == WARMUP:
                start = time.perf_counter()
            x, labels = next(source)
            loss = nn.functional.cross_entropy(self.model(x), labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return batches * self.batch_size / (time.perf_counter() - start)


class NotebookLoop(Loop):
    """torchvision MNIST + per-sample transforms + DataLoader(shuffle=True), as the seed notebooks."""

    def __init__(self, framework: Framework, root: Path) -> None:
        from torchvision import datasets, transforms

        self.batch_size = framework.batch_size
        self.device = torch.device("cpu")
        torch.manual_seed(0)
        self.model = instantiate(framework.cfg.model.net)
        self.optimizer = instantiate(framework.cfg.optimizer)(self.model.parameters())
        transform = transforms.Compose(
            [transforms.Pad(2), transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]
        )
        dataset = datasets.MNIST(str(root), train=True, transform=transform, download=False)
        self.loader = torch.utils.data.DataLoader(dataset, batch_size=self.batch_size, shuffle=True)

    def batches(self):
        while True:
            yield from self.loader


VARIANTS: dict[str, dict[str, Any]] = {
    "framework": {},
    "framework_tqdm_bar": {"tqdm": True},
    "framework_no_progress": {"no_progress": True},
    "framework_no_logger": {"no_logger": True},
    "framework_log_every_50": {"trainer": {"log_every_n_steps": 50}},
    "framework_lean_step": {"lean_step": True},
    "framework_manual": {"manual": True},
    "framework_bare": {"no_progress": True, "no_logger": True, "no_callbacks": True, "lean_step": True},
}


def profile_fit(framework: Framework, batches: int, top: int = 12) -> dict[str, Any]:
    """cProfile one framework fit: per training step, the Python time spent in Lightning's own code
    (``pytorch_lightning``/``lightning_fabric`` files, self time) and its largest functions."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    framework.measure(batches)
    profiler.disable()
    steps = batches + WARMUP
    rows = []
    for (path, line, function), (_, calls, own, cumulative, _) in pstats.Stats(profiler).stats.items():
        if "pytorch_lightning" in path or "lightning_fabric" in path:
            where = path.split("site-packages/")[-1]
            rows.append(
                {
                    "function": f"{where}:{line}({function})",
                    "calls": calls,
                    "self_s": own,
                    "cum_s": cumulative,
                }
            )
    rows.sort(key=lambda r: -r["self_s"])
    return {
        "steps": steps,
        "lightning_self_ms_per_step": round(1000 * sum(r["self_s"] for r in rows) / steps, 3),
        "top": [
            {
                **r,
                "self_us_per_step": round(1e6 * r["self_s"] / steps, 1),
                "cum_us_per_step": round(1e6 * r["cum_s"] / steps, 1),
            }
            for r in rows[:top]
        ],
    }


def quiet() -> None:
    """No Lightning warnings or info lines between the measurements."""
    import logging

    warnings.filterwarnings("ignore")
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


def summarize(values: list[float]) -> dict[str, Any]:
    return {
        "images_per_s": [round(v, 1) for v in values],
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="batch 64 only, 5 timed batches, 1 repeat, no variants"
    )
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--batches", type=int, default=None, help="timed batches per measurement")
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=None, help="default 64 256; 64 with --quick"
    )
    parser.add_argument("--variants", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument(
        "--only-variants",
        nargs="+",
        choices=list(VARIANTS),
        default=None,
        help="these variants (and the loops)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads for every method (default 1: on a shared 2-core machine 2 threads "
        "oversubscribe and run up to 50x slower; 0 keeps torch's default)",
    )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="cProfile one framework fit per batch size: Lightning's own time per step (default: on, off with --quick)",
    )
    parser.add_argument("--data-dir", default=os.environ.get("EXPERIMENTS_DATA_DIR", "data"))
    parser.add_argument(
        "--device",
        choices=["cpu", "gpu"],
        default="cpu",
        help="gpu: trainer=gpu, MNIST resident on the GPU for the framework and the loop (no notebook loop)",
    )
    args = parser.parse_args()
    if args.device == "gpu" and not torch.cuda.is_available():
        parser.error("--device gpu: torch.cuda.is_available() is False here")
    DEVICE["trainer"] = args.device
    if args.profile is None:
        args.profile = not args.quick
    os.environ["EXPERIMENTS_DATA_DIR"] = args.data_dir
    if args.threads:
        torch.set_num_threads(args.threads)
    quiet()
    repeats = args.repeats or (1 if args.quick else 5)
    variants = args.variants if args.variants is not None else not args.quick
    load_before = os.getloadavg()
    output_dir = tempfile.mkdtemp(prefix="bench-overhead-")
    rows = []
    for batch_size in args.batch_sizes or ([64] if args.quick else [64, 256]):
        batches = args.batches or (5 if args.quick else 300)
        names = list(VARIANTS) if variants else ["framework"]
        if args.only_variants:  # the framework as configured is always measured: the ratios are to it
            names = ["framework", *(n for n in args.only_variants if n != "framework")]
        methods: dict[str, Callable[[int], float]] = {}
        for name in names:
            methods[name] = Framework(batch_size, VARIANTS[name], f"{output_dir}/{batch_size}-{name}").measure
        methods["loop"] = Loop(Framework(batch_size, {}, f"{output_dir}/{batch_size}-loop")).measure
        if args.device == "cpu":
            methods["dataloader"] = NotebookLoop(
                Framework(batch_size, {}, f"{output_dir}/{batch_size}-dl"), Path(args.data_dir) / "mnist"
            ).measure
        for measure in methods.values():  # warm-up: first-call allocations, file cache
            measure(1 if args.quick else 5)
        values: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(repeats):
            for name, measure in methods.items():
                values[name].append(measure(batches))
        results = {name: summarize(v) for name, v in values.items()}
        loop = results["loop"]["median"]
        for name, result in results.items():
            result["ratio_to_loop"] = round(result["median"] / loop, 3)
            result["framework_speedup"] = round(results["framework"]["median"] / result["median"], 2)
            result["ms_per_step"] = round(1000 * batch_size / result["median"], 3)
            result["ms_per_step_over_loop"] = round(result["ms_per_step"] - 1000 * batch_size / loop, 3)
            print(
                f"batch {batch_size}: {name} {result['median']} img/s ({result['ratio_to_loop']}x loop)",
                flush=True,
            )
        row = {"batch_size": batch_size, "batches": batches, "results": results}
        if args.profile:
            row["profile"] = profile_fit(
                Framework(batch_size, {}, f"{output_dir}/{batch_size}-prof"), batches
            )
            print(f"batch {batch_size}: Lightning's own Python code {row['profile']['lightning_self_ms_per_step']} "
                  "ms/step under cProfile", flush=True)  # fmt: skip
        rows.append(row)
    report = {
        "command": command("bench_overhead.py"),
        "quick": args.quick,
        "device": args.device,
        "repeats": repeats,
        "warmup_batches": WARMUP,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": torch_machine(),
        "targets": {"framework / loop": ">= 0.95", "framework / dataloader": ">= 2.8"},
        "results": rows,
    }
    save("overhead" if args.device == "cpu" else "overhead_gpu", report, markdown(report))


def markdown(report: dict) -> str:
    lines = [
        "# Framework overhead: Lightning + experiments vs a hand-written loop vs DataLoader + transforms",
        "",
        header(report) + " "
        f"LeNet-5 / MNIST 32x32, Adam lr 1e-3; {report['repeats']} interleaved repeats of a fixed number of "
        f"batches after {report['warmup_batches']} warm-up batches; median (min-max) images/s.",
        "",
        "| batch | timed batches | method | img/s median | min | max | / loop | framework speed-up over it "
        "| ms/step | ms/step over loop |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        for name, r in row["results"].items():
            lines.append(
                f"| {row['batch_size']} | {row['batches']} | {name} | {r['median']} | {r['min']} | {r['max']} "
                f"| {r['ratio_to_loop']}x | {r['framework_speedup']}x | {r['ms_per_step']} "
                f"| {r['ms_per_step_over_loop']} |"
            )
    lines += [
        "",
        "Targets: framework >= 0.95x loop; framework >= 2.8x the DataLoader + transforms loop.",
        "`framework`: as `python -m experiments data=mnist trainer=cpu` (CSV logger, checkpoint, LR monitor and",
        "progress callbacks; the progress bar is one line per epoch when stdout is not a terminal).",
        "Variants: `_tqdm_bar` the live tqdm bar a terminal gets (refresh 10); `_no_progress` no bar; `_no_logger`",
        "no CSV logger; `_log_every_50` `trainer.log_every_n_steps=50`; `_lean_step` a training step without the",
        "finite-loss check, the train accuracy metric and per-step logging; `_manual` the framework's step under",
        "manual optimization (`automatic_optimization=False`); `_bare` all but `_manual` off and no callbacks.",
        "",
    ]
    for row in report["results"]:
        profile = row.get("profile")
        if not profile:
            continue
        lines += [
            f"### Where Lightning's time goes, batch {row['batch_size']} (cProfile of one `framework` fit)",
            "",
            f"Self time in `pytorch_lightning`/`lightning_fabric` code: **{profile['lightning_self_ms_per_step']} ms "
            f"per step** under cProfile ({profile['steps']} steps; cProfile slows Python code, so read it as shares).",
            "",
            "| function | calls | self us/step | cumulative us/step |",
            "|---|---|---|---|",
            *(
                f"| `{r['function']}` | {r['calls']} | {r['self_us_per_step']} | {r['cum_us_per_step']} |"
                for r in profile["top"]
            ),
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
