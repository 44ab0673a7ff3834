"""Speed options matrix: training throughput of each option as a ratio to the plain fp32 baseline.

Models, each on the CPU (``trainer=cpu``, one torch thread unless the option says otherwise):

* LeNet-5 / MNIST 32x32 (``data=mnist data.fit=pad``), Adam lr 1e-3, batch 64 and 256 (and 512, baseline
  only, for the batch-size effect);
* AlexNet / Flowers-17 (``model=alexnet data=flowers17``), batch 32, at 64, 128 and 224 px
  (``--alexnet-sizes``; 64 and the baseline only with ``--quick``; compile at 224 only).

Options: ``baseline`` (fp32, NCHW), ``channels_last=true``, ``trainer.precision=bf16-mixed`` (CPU autocast),
both, ``threads=2`` (``torch.set_num_threads(2)`` around the fit) and ``compile=true`` (``torch.compile``; its
compile cost is reported apart: the wall time of the warm-up batches of the first fit against the
baseline's). With a CUDA GPU the same models also run with ``trainer=gpu``: fp32, channels_last, bf16-mixed,
16-mixed, channels_last + 16-mixed, compile; without one that part is skipped with a printed reason.

Each measurement is the experiment as the framework builds it: config composed by Hydra, the module from
``experiments.run.build_module`` (so ``channels_last``/``compile`` apply), the configured callbacks and
CSV logger and a real ``pytorch_lightning.Trainer``, fitted for warm-up + timed batches of one epoch; a
callback (``bench_overhead.BatchClock``) times only the timed batches (checkpointing and validation are
off: they would fall outside the timed window anyway). Each case keeps its module and data between fits;
compiled cases get one untimed fit first (compiling, from an empty Inductor cache). Every repeat fits all
cases of a model once, in a rotating order, so that load from other jobs on a shared machine falls on all
alike; the report gives median (min-max) images/s and the ratio of the option's median to its baseline's
(same model and batch, same process).

``--accuracy`` (default in full mode) also trains LeNet-5 one full MNIST epoch per option (baseline,
channels_last, bf16, compile, and batch 256 with ``experiment=lenet5_mnist_fast``'s one-cycle lr 6e-3) and
records the test accuracy, to show whether an option changes what the model learns.

    EXPERIMENTS_DATA_DIR=/path/to/data python benchmarks/bench_options.py [--quick]

Writes benchmarks/results/options.{json,md}.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from bench_overhead import BatchClock, compose_config, quiet, summarize  # beside this script
from hydra.utils import instantiate
from report import command, save, torch_machine

from experiments.training.recipe import build_module, use_cuda_runtime_checks

BF16 = "trainer.precision=bf16-mixed"
FP16 = "trainer.precision=16-mixed"
CHANNELS_LAST = "channels_last=true"
COMPILE = "compile=true"
FLOWERS17_TRAIN = 680  # training images: 40 per class, official split or the seeded 50/25/25 one


@dataclass(frozen=True)
class Option:
    """A speed option: config overrides and the torch threads the fit runs with."""

    name: str
    overrides: tuple[str, ...] = ()
    threads: int = 1


BASELINE = Option("baseline")
CPU_OPTIONS = (
    BASELINE,
    Option("channels_last", (CHANNELS_LAST,)),
    Option("bf16-mixed", (BF16,)),
    Option("channels_last+bf16", (CHANNELS_LAST, BF16)),
    Option("threads=2", threads=2),
    Option("compile", (COMPILE,)),
)
GPU_OPTIONS = (
    BASELINE,
    Option("channels_last", (CHANNELS_LAST,)),
    Option("bf16-mixed", (BF16,)),
    Option("16-mixed", (FP16,)),
    Option("channels_last+16-mixed", (CHANNELS_LAST, FP16)),
    Option("compile", (COMPILE,)),
)


@dataclass
class ModelPlan:
    """One model's cases, (batch size, option) pairs measured together and interleaved, and how long."""

    name: str
    overrides: list[str]  # after compose_config's data=mnist data.fit=pad trainer=cpu
    shown: str  # the plan's config as one would type it
    cases: list[tuple[int, Option]]
    warmup: int  # untimed batches at the start of every fit
    batches: dict[int, int]  # timed batches per fit, by batch size
    repeats: int
    budget_s: float  # a fit stops after this many seconds (counted from its first batch) ...
    min_timed: int  # ... once it has timed this many batches
    device: str = "cpu"
    skipped: dict[str, str] = field(default_factory=dict)  # option -> why it was left out


class FitClock(BatchClock):
    """BatchClock plus the start of the epoch (for the wall time of the warm-up batches, compile
    included), a CUDA synchronise before each time stamp (GPU times of finished work), and a time budget:
    after ``min_timed`` timed batches, a fit that has run ``budget_s`` stops at the end of the batch
    (so that a pathologically slow option, e.g. 2 threads on a busy 2-core machine, cannot take minutes)."""

    def __init__(self, warmup: int, min_timed: int = 1, budget_s: float = float("inf")) -> None:
        super().__init__(warmup)
        self.min_timed = min_timed
        self.budget_s = budget_s
        self.start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if len(self.ends) >= self.warmup + self.min_timed and self.ends[-1] - self.start > self.budget_s:
            trainer.should_stop = True

    def timed_batches(self) -> int:
        return len(self.ends) - self.warmup

    def warmup_seconds(self) -> float:
        return self.ends[self.warmup - 1] - self.start


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Case:
    """One (model, batch, option): its composed config, module and (shared) datamodule; ``measure`` fits a
    new Trainer for ``warmup + batches`` batches of one epoch and returns the timed images/s."""

    def __init__(
        self, plan: ModelPlan, batch_size: int, option: Option, output_dir: str, datamodule: Any = None
    ) -> None:
        self.plan = plan
        self.batch_size = batch_size
        self.option = option
        self.cfg = compose_config(batch_size, output_dir, [*plan.overrides, *option.overrides])
        torch.manual_seed(0)
        self.datamodule = datamodule if datamodule is not None else instantiate(self.cfg.data)
        self.module = build_module(self.cfg)
        self.warmup_s: list[float] = []  # wall time of the warm-up batches, per fit
        self.timed_batches: list[int] = []  # per fit: fewer than planned where the time budget ran out

    @property
    def key(self) -> str:
        return f"{self.plan.name}/{self.plan.device}/{self.batch_size}/{self.option.name}"

    def measure(self) -> float:
        plan = self.plan
        clock = FitClock(plan.warmup, plan.min_timed, plan.budget_s)
        callbacks = [instantiate(c) for name, c in self.cfg.callbacks.items() if c and name != "checkpoint"]
        loggers = [instantiate(c) for c in self.cfg.logger.values() if c]
        trainer = instantiate(
            self.cfg.trainer,
            logger=loggers or False,
            callbacks=[*callbacks, clock],
            max_epochs=1,
            limit_train_batches=plan.warmup + plan.batches[self.batch_size],
            limit_val_batches=0,
            num_sanity_val_steps=0,
            enable_checkpointing=False,
        )
        use_cuda_runtime_checks(trainer)  # as run.py does
        with torch_threads(self.option.threads):
            trainer.fit(self.module, datamodule=self.datamodule)
        self.warmup_s.append(clock.warmup_seconds())
        self.timed_batches.append(clock.timed_batches())
        return clock.images_per_s(self.batch_size)


def measure_plan(plan: ModelPlan, output_dir: str) -> dict[str, Any]:
    """Builds every case of ``plan``, fits each compiled case once untimed (compiling), then measures all
    cases in ``plan.repeats`` rounds. A case whose fit raises is dropped and reported."""
    started = time.perf_counter()
    shared: dict[int, Any] = {}
    cases: list[Case] = []
    for batch_size, option in plan.cases:
        case = Case(
            plan, batch_size, option, f"{output_dir}/{plan.name}-{plan.device}", shared.get(batch_size)
        )
        shared.setdefault(batch_size, case.datamodule)
        cases.append(case)
    values: dict[str, list[float]] = {case.key: [] for case in cases}
    first_fit: dict[str, float] = {}
    failed: set[str] = set()

    def measure(case: Case) -> float | None:
        try:
            return case.measure()
        except Exception as error:  # e.g. torch.compile without a working C++ compiler
            plan.skipped[f"{case.option.name} (batch {case.batch_size})"] = (
                f"failed: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
            )
            failed.add(case.key)
            print(f"{case.key}: failed: {type(error).__name__}: {error}", flush=True)
            return None

    first_fit_warmup_s: dict[str, float] = {}
    for case in cases:
        if COMPILE in case.option.overrides and (value := measure(case)) is not None:
            first_fit[case.key] = value
            first_fit_warmup_s[case.key] = case.warmup_s.pop()
            case.timed_batches.pop()
    for repeat in range(plan.repeats):
        shift = repeat % len(cases)
        for case in cases[shift:] + cases[:shift]:
            if case.key not in failed and (value := measure(case)) is not None:
                values[case.key].append(value)
        print(f"{plan.name} ({plan.device}) repeat {repeat + 1}/{plan.repeats} done", flush=True)
    cases = [c for c in cases if c.key not in failed]
    rows = []
    for case in cases:
        base = next(c for c in cases if c.batch_size == case.batch_size and c.option == BASELINE)
        median = statistics.median(values[case.key])
        rows.append(
            {
                "model": plan.name,
                "device": plan.device,
                "batch_size": case.batch_size,
                "option": case.option.name,
                "overrides": list(case.option.overrides),
                "torch_threads": case.option.threads,
                **summarize(values[case.key]),
                "ratio": round(median / statistics.median(values[base.key]), 3),
                "paired_ratios": [round(v / b, 3) for v, b in zip(values[case.key], values[base.key])],
                "untimed_first_fit_images_per_s": first_fit.get(case.key),
                "untimed_first_fit_warmup_seconds": first_fit_warmup_s.get(case.key),
                "warmup_seconds_per_fit": [round(s, 3) for s in case.warmup_s],
                "timed_batches_per_fit": case.timed_batches,
            }
        )
    default_batch = plan.cases[0][0]
    base_default = next(r for r in rows if r["batch_size"] == default_batch and r["option"] == BASELINE.name)
    for row in rows:
        row["ratio_to_default_batch_baseline"] = round(row["median"] / base_default["median"], 3)
        print(
            f"{plan.name} ({plan.device}) batch {row['batch_size']} {row['option']}: {row['median']} img/s "
            f"({row['ratio']}x baseline)",
            flush=True,
        )
    return {
        "model": plan.name,
        "device": plan.device,
        "config": plan.shown,
        "seconds": round(time.perf_counter() - started, 1),
        "warmup_batches": plan.warmup,
        "timed_batches": plan.batches,
        "fit_budget_s": plan.budget_s,
        "min_timed_batches": plan.min_timed,
        "repeats": plan.repeats,
        "skipped": plan.skipped,
        "rows": rows,
    }


BATCH_256_RUN = "batch 256, lr 6e-3 one-cycle"
ACCURACY_RUNS: dict[str, tuple[int, tuple[str, ...]]] = {
    "baseline": (64, ()),
    "channels_last": (64, (CHANNELS_LAST,)),
    "bf16-mixed": (64, (BF16,)),
    "compile": (64, (COMPILE,)),
    BATCH_256_RUN: (256, ("experiment=lenet5_mnist_fast",)),
}


def accuracy_run(batch_size: int, overrides: tuple[str, ...], output_dir: str) -> dict[str, Any]:
    """One full epoch of LeNet-5 / MNIST as run.py trains it (seeded), then the test split."""
    cfg = compose_config(batch_size, output_dir, [*overrides, "trainer.max_epochs=1"])
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    module = build_module(cfg)
    callbacks = [instantiate(c) for name, c in cfg.callbacks.items() if c and name != "checkpoint"]
    loggers = [instantiate(c) for c in cfg.logger.values() if c]  # the LR monitor needs one
    trainer = instantiate(
        cfg.trainer, logger=loggers or False, callbacks=callbacks, enable_checkpointing=False
    )
    use_cuda_runtime_checks(trainer)
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    fit_seconds = time.perf_counter() - start
    val_acc = float(trainer.callback_metrics["val/acc"])
    tested = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    return {
        "batch_size": batch_size,
        "overrides": list(overrides),
        "test_acc": round(float(tested["test/acc"]), 4),
        "val_acc": round(val_acc, 4),
        "fit_seconds": round(fit_seconds, 1),
    }


def lenet_plan(quick: bool, batches: int | None, repeats: int, device: str) -> ModelPlan:
    """``batches``: timed batches at batch 64; larger batches time as many images (at least 5 batches)."""
    options = CPU_OPTIONS if device == "cpu" else GPU_OPTIONS
    skipped = {}
    if quick and device == "cpu":
        options = tuple(o for o in options if o.name != "compile")
        skipped["compile"] = "not in --quick (compiling takes longer than the whole quick run)"
    sizes = (64, 256) if device == "cpu" else (256,)
    if quick:  # the options at one batch size; the baseline at twice it for the batch-size effect
        sizes = sizes[:1]
    cases = [(size, option) for size in sizes for option in options]
    cases.append((2 * sizes[0] if quick else 512, BASELINE))
    at_64 = batches or (2 if quick else 150)
    return ModelPlan(
        name="lenet5",
        overrides=["trainer=gpu"] if device == "gpu" else [],
        shown=f"data=mnist data.fit=pad trainer={device}",
        cases=cases,
        warmup=1 if quick else 10,
        batches={size: max(1 if quick else 5, at_64 * 64 // size) for size, _ in cases},
        repeats=repeats,
        budget_s=1.0 if quick else 6.0,
        min_timed=1 if quick else 5,
        device=device,
        skipped=skipped,
    )


def alexnet_plan(
    quick: bool, batches: int | None, repeats: int, device: str, compile_alexnet: bool, image_size: int = 224
) -> ModelPlan:
    options = CPU_OPTIONS if device == "cpu" else GPU_OPTIONS
    skipped = {}
    if not compile_alexnet or (device == "cpu" and (quick or image_size != 224)):
        options = tuple(o for o in options if o.name != "compile")
        skipped["compile"] = (
            "not in --quick"
            if quick
            else "left out (--no-compile-alexnet)"
            if not compile_alexnet
            else "at 224 px only"
        )
    if quick:  # AlexNet's fits take seconds each: the plan runs, LeNet-5 covers the options
        skipped |= {o.name: "not in --quick (LeNet-5 runs every option)" for o in options if o != BASELINE}
        options = (BASELINE,)
    batch_size = 32 if device == "cpu" else 64
    warmup = 1 if quick else 2
    # Warm-up + timed batches stay within one epoch of full batches (680 training images).
    timed = min(batches or (1 if quick else 8), FLOWERS17_TRAIN // batch_size - warmup)
    return ModelPlan(
        name="alexnet" if image_size == 224 else f"alexnet_{image_size}",
        overrides=[
            "model=alexnet",
            "data=flowers17",
            "data.fit=resize",
            f"image_size={image_size}",
            *(["trainer=gpu"] if device == "gpu" else []),
        ],
        shown=f"model=alexnet data=flowers17 image_size={image_size} trainer={device}",
        cases=[(batch_size, option) for option in options],
        warmup=warmup,
        batches={batch_size: timed},
        repeats=repeats,
        budget_s=(10.0 if quick else 25.0) * (image_size / 224) ** 2,
        min_timed=1 if quick else 2,
        device=device,
        skipped=skipped,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="LeNet-5 at batch 64 (and 128, baseline), AlexNet's baseline at 64 px; 1 warm-up and 1-2 "
        "timed batches a fit, 1 repeat; no compile, no accuracy",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="LeNet-5 rounds (default 5, 1 with --quick)"
    )
    parser.add_argument(
        "--batches",
        type=int,
        default=None,
        help="LeNet-5 timed batches per fit at batch 64 (same images at larger)",
    )
    parser.add_argument("--alexnet-repeats", type=int, default=None, help="default 3, 1 with --quick")
    parser.add_argument("--alexnet-batches", type=int, default=None, help="AlexNet timed batches per fit")
    parser.add_argument(
        "--accuracy",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="one LeNet-5 epoch per option, test accuracy (default: on, off with --quick)",
    )
    parser.add_argument("--compile-alexnet", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--alexnet-sizes",
        type=int,
        nargs="+",
        default=None,
        help="AlexNet image sizes (default 64 128 224; 64, the smallest AlexNet takes, with --quick)",
    )
    parser.add_argument("--models", nargs="+", default=["lenet5", "alexnet"], choices=["lenet5", "alexnet"])
    parser.add_argument("--data-dir", default=os.environ.get("EXPERIMENTS_DATA_DIR", "data"))
    parser.add_argument(
        "--devices",
        nargs="+",
        choices=["cpu", "gpu"],
        default=None,
        help="default: cpu, and gpu where there is one",
    )
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    if not any((data_dir / "mnist" / "MNIST" / "raw").glob("train-images*")):
        print(f"bench_options: skipped, no MNIST under {data_dir / 'mnist' / 'MNIST' / 'raw'}")
        return
    os.environ["EXPERIMENTS_DATA_DIR"] = str(data_dir)
    output_dir = tempfile.mkdtemp(prefix="bench-options-")
    # Compile costs as a first run pays them: an empty Inductor cache (removed at the end).
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = f"{output_dir}/inductor"
    # Each compiled batch size gets its own static graph, as in a run with one batch size (otherwise the
    # second batch size compiled in this process would get a dynamic-shape graph).
    torch._dynamo.config.automatic_dynamic_shapes = False
    torch.set_num_threads(1)
    quiet()
    repeats = args.repeats or (1 if args.quick else 5)
    alexnet_repeats = args.alexnet_repeats or (1 if args.quick else 3)
    accuracy = args.accuracy if args.accuracy is not None else not args.quick
    load_before = os.getloadavg()
    devices = list(args.devices or ["cpu", "gpu"])
    gpu_note = None
    if "gpu" in devices and not torch.cuda.is_available():
        devices.remove("gpu")
        gpu_note = "no CUDA GPU (torch.cuda.is_available() is False): GPU part skipped"
        print(f"bench_options: {gpu_note}", flush=True)
    plans = []
    for device in devices:
        if "lenet5" in args.models:
            plans.append(lenet_plan(args.quick, args.batches, repeats, device))
        if "alexnet" in args.models:
            if any((data_dir / "flowers17" / "jpg").glob("*.jpg")):
                sizes = args.alexnet_sizes or ([64] if args.quick else [64, 128, 224])
                plans += [
                    alexnet_plan(
                        args.quick, args.alexnet_batches, alexnet_repeats, device, args.compile_alexnet, size
                    )
                    for size in sizes
                ]
            else:
                print(f"bench_options: AlexNet skipped, no Flowers-17 under {data_dir / 'flowers17' / 'jpg'}")
    started = time.perf_counter()
    load_during = []
    try:
        results = []
        for plan in plans:
            results.append(measure_plan(plan, output_dir))
            load_during.append(os.getloadavg())
        accuracy_results = {}
        if accuracy:
            for name, (batch_size, overrides) in ACCURACY_RUNS.items():
                accuracy_results[name] = accuracy_run(batch_size, overrides, f"{output_dir}/accuracy")
                print(f"accuracy {name}: test acc {accuracy_results[name]['test_acc']}", flush=True)
    finally:
        shutil.rmtree(output_dir, ignore_errors=True)
    report = {
        "command": command("bench_options.py"),
        "quick": args.quick,
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_before": load_before,
        "load_average_after_each_model": load_during,
        "load_average_after": os.getloadavg(),
        "machine": torch_machine(
            cpu_bf16=bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()),
        ),
        "gpu_note": gpu_note,
        "results": results,
        "accuracy": accuracy_results,
    }
    # A part of the matrix gets its own files: options.{json,md} stay the whole of it.
    name = (
        "options"
        + ("" if len(args.models) == 2 else f"_{args.models[0]}")
        + ("" if "cpu" in devices else "_gpu")
    )
    save(name, report, markdown(report))


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    accuracy = report["accuracy"]
    lines = [
        "# Speed options: training throughput of each option against the fp32 baseline",
        "",
        f"Command: `{report['command']}` ({report['seconds']:.0f} s after imports). {machine['cpus']} CPUs "
        f"(AVX-512 bf16: {machine['cpu_bf16']}), GPU: {machine['gpu'] or 'none'}, torch {machine['torch']}, "
        f"pytorch-lightning {machine['pytorch_lightning']}; load average "
        f"{report['load_average_before'][0]:.1f} before, {report['load_average_after'][0]:.1f} after.",
        "",
        "Each fit is a real Trainer built from the composed config (callbacks, CSV logger; checkpointing and "
        "validation off), images/s over its timed batches after its warm-up batches; cases interleaved within "
        "each repeat. Median (min-max) over the repeats; x baseline = median / the baseline's median (same "
        "model, device and batch). One torch thread unless the option says otherwise.",
        "",
        "| model | device | batch | option | img/s median (min-max) | x baseline | test acc (1 epoch) | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in report["results"]:
        rows = result["rows"]
        for row in rows:
            notes = []
            base = next(
                r for r in rows if r["batch_size"] == row["batch_size"] and r["option"] == BASELINE.name
            )
            if row["untimed_first_fit_warmup_seconds"] is not None:
                notes.append(
                    f"compile: the first fit's {result['warmup_batches']} warm-up batches took "
                    f"{row['untimed_first_fit_warmup_seconds']:.1f} s (baseline "
                    f"{base['warmup_seconds_per_fit'][0]:.2f} s; later fits "
                    f"{statistics.median(row['warmup_seconds_per_fit']):.2f} s)"
                )
            planned = result["timed_batches"][row["batch_size"]]
            if min(row["timed_batches_per_fit"]) < planned:
                notes.append(
                    f"time budget: {min(row['timed_batches_per_fit'])}-{max(row['timed_batches_per_fit'])} "
                    f"of {planned} timed batches per fit"
                )
            if row["option"] == BASELINE.name and row["ratio_to_default_batch_baseline"] != 1:
                notes.append(f"{row['ratio_to_default_batch_baseline']:.2f}x batch {rows[0]['batch_size']}")
            acc = ""
            if result["model"] == "lenet5" and result["device"] == "cpu":
                if row["batch_size"] == 64 and row["option"] in accuracy:
                    acc = f"{accuracy[row['option']]['test_acc']:.4f}"
                if row["batch_size"] == 256 and row["option"] == BASELINE.name:
                    run = accuracy.get(BATCH_256_RUN)
                    if run:
                        acc = f"{run['test_acc']:.4f}"
                        notes.append("accuracy at lenet5_mnist_fast's one-cycle lr 6e-3")
            lines.append(
                f"| {result['model']} | {result['device']} | {row['batch_size']} | {row['option']} "
                f"| {row['median']:.0f} ({row['min']:.0f}-{row['max']:.0f}) | {row['ratio']:.2f} | {acc} "
                f"| {'; '.join(notes)} |"
            )
        for option, why in result["skipped"].items():
            lines.append(f"| {result['model']} | {result['device']} | | {option} | - | - | | {why} |")
    lines.append("")
    for r in report["results"]:
        timed = ", ".join(f"{n} at batch {size}" for size, n in r["timed_batches"].items())
        lines.append(
            f"- {r['model']} ({r['device']}): `{r['config']}`; repeats: {r['repeats']}; warm-up batches per "
            f"fit: {r['warmup_batches']}; timed: {timed} (fewer, but at least {r['min_timed_batches']}, once "
            f"a fit has run {r['fit_budget_s']:g} s); {r['seconds']:.0f} s."
        )
    if report["gpu_note"]:
        lines.append(f"- GPU: {report['gpu_note']}.")
    if accuracy:
        lines += [
            "",
            "Accuracy: LeNet-5 / MNIST 32x32, one full epoch from seed 0, then the 10,000 test images "
            "(fit seconds include compiling):",
            "",
            "| run | batch | overrides | test acc | val acc | fit s |",
            "|---|---|---|---|---|---|",
        ]
        for name, run in accuracy.items():
            lines.append(
                f"| {name} | {run['batch_size']} | `{' '.join(run['overrides']) or '-'}` | {run['test_acc']:.4f} "
                f"| {run['val_acc']:.4f} | {run['fit_seconds']} |"
            )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
