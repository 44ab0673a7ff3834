"""How training time and memory grow with image size (AlexNet / Flowers17) and dataset size (LeNet-5 / MNIST).

Both parts run the framework as it runs (config composed by Hydra, ``build_module(cfg)``, the
in-memory ``ClassificationData``, a real ``pytorch_lightning.Trainer`` with the config's CSV logger,
LR monitor and progress bar), 1 torch thread. Validation and checkpoint writing are switched off
(``limit_val_batches=0``, no ``ModelCheckpoint``): they happen after the timed span.

* ``image size``: ``model=alexnet data=flowers17 trainer=cpu``, batch 32, at each ``image_size``; each
  size trains a few batches in a fresh process (``--child``), which reports the steady-state seconds
  per batch (after warm-up batches), the forward FLOPs per image (``experiments.models.summary``),
  the decoded data's size in memory and its peak resident memory (``ru_maxrss``) after imports, after
  data setup, after building the model and after training (and ``torch.cuda.max_memory_allocated()``
  on a CUDA trainer). Epoch time is projected as seconds per batch x training batches per epoch.
* ``dataset size``: ``data=mnist data.fit=pad trainer=cpu``, batch 256; one full epoch over 25, 50
  and 100 % of the training split via ``trainer.limit_train_batches`` (a fraction of the batches),
  timed from the epoch's start to the end of its last batch.

Repeats are interleaved (every size once per repeat) so that load from other jobs falls on all alike;
tables give the median and min-max.

    EXPERIMENTS_DATA_DIR=/path/to/data python benchmarks/bench_scaling.py [--quick] [--repeats N]

Writes benchmarks/results/scaling.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from bench_overhead import BatchClock, compose_config, quiet, summarize  # beside this script
from hydra.utils import instantiate
from report import command, header, save, torch_machine  # benchmarks/report.py, beside this script

from experiments.models.layer_table import summarize as layer_table
from experiments.training.recipe import build_module, use_cuda_runtime_checks

ALEXNET_BATCH = 32
MNIST_BATCH = 256
MiB = 2**20


def max_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports ``ru_maxrss`` in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class EpochClock(BatchClock):
    """Batch end times (as :class:`BatchClock`) plus the epoch's start and the images trained."""

    def __init__(self, warmup: int = 1) -> None:
        super().__init__(warmup)
        self.start = 0.0
        self.images = 0
        self.device = torch.device("cpu")

    def on_train_start(self, trainer, pl_module) -> None:
        self.device = pl_module.device

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        self.images += len(batch[1])

    def seconds_per_batch(self) -> float:
        timed = self.ends[self.warmup - 1 :]
        return (timed[-1] - timed[0]) / (len(timed) - 1)

    def epoch_seconds(self) -> float:
        return self.ends[-1] - self.start


def fit(
    cfg: Any, module: pl.LightningModule, datamodule: pl.LightningDataModule, limit: float, warmup: int = 1
) -> EpochClock:
    """One epoch of ``limit`` training batches (an int, or a fraction of the epoch) with the config's
    logger and callbacks, without validation and checkpoints."""
    clock = EpochClock(warmup)
    callbacks = [
        instantiate(c) for name, c in cfg.callbacks.items() if c and name != "checkpoint"  # no checkpoints
    ]
    trainer = instantiate(
        cfg.trainer,
        logger=[instantiate(c) for c in cfg.logger.values() if c] or False,
        callbacks=[*callbacks, clock],
        max_epochs=1,
        limit_train_batches=limit,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
    )
    use_cuda_runtime_checks(trainer)  # as run.py does
    trainer.fit(module, datamodule=datamodule)
    return clock


# -- image size: one fresh process per measurement -------------------------------------------------


def child(image_size: int, warmup: int, batches: int, trainer_name: str) -> dict[str, Any]:
    """Build AlexNet / Flowers17 at ``image_size``, train ``warmup + batches`` batches, report."""
    rss = {"imports": max_rss_mib()}
    output_dir = tempfile.mkdtemp(prefix="bench-scaling-")
    try:
        cfg = compose_config(
            ALEXNET_BATCH,
            output_dir,
            [
                "model=alexnet",
                "data=flowers17",
                "data.fit=resize",
                f"trainer={trainer_name}",
                f"image_size={image_size}",
            ],
        )
        pl.seed_everything(0, verbose=False)
        start = time.perf_counter()
        datamodule = instantiate(cfg.data)
        datamodule.setup()
        setup_s = time.perf_counter() - start
        rss["data"] = max_rss_mib()
        data_bytes = sum(images.nbytes for images, _ in datamodule.splits.values())
        train_images = datamodule.sizes()["train"]
        module = build_module(cfg)
        flops = layer_table(module.net, cfg.data.channels, cfg.image_size)["totals"]["flops"]
        rss["model"] = max_rss_mib()
        clock = fit(cfg, module, datamodule, warmup + batches, warmup)
        rss["trained"] = max_rss_mib()
        cuda = clock.device.type == "cuda"
        return {
            "image_size": image_size,
            "seconds_per_batch": clock.seconds_per_batch(),
            "images_per_s": clock.images_per_s(ALEXNET_BATCH),
            "warmup_batches": warmup,
            "timed_batches": batches,
            "train_images": train_images,
            "batches_per_epoch": math.ceil(train_images / ALEXNET_BATCH),
            "forward_flops_per_image": flops,
            "data_bytes": data_bytes,
            "train_data_shape": list(datamodule.splits["train"][0].shape),
            "data_setup_s": setup_s,
            "cache": datamodule.info.get("cache"),
            "max_rss_mib": rss,
            "cuda_max_memory_allocated": torch.cuda.max_memory_allocated() if cuda else None,
        }
    finally:
        shutil.rmtree(output_dir, ignore_errors=True)


def run_child(image_size: int, warmup: int, batches: int, trainer_name: str, data_dir: str) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        str(image_size),
        "--warmup",
        str(warmup),
        "--batches",
        str(batches),
        "--trainer",
        trainer_name,
        "--data-dir",
        data_dir,
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def image_size_part(sizes: list[int], repeats: int, warmup: int, batches: int, args: Any) -> dict | None:
    if not (Path(args.data_dir) / "flowers17" / "jpg").is_dir():
        print(f"image size: skipped, no flowers17/jpg under {args.data_dir}", flush=True)
        return None
    runs: dict[int, list[dict]] = {size: [] for size in sizes}
    for _ in range(repeats):
        for size in sizes:
            result = run_child(size, warmup, batches, args.trainer, args.data_dir)
            runs[size].append(result)
            print(
                f"alexnet {size}px: {result['seconds_per_batch']:.3f} s/batch, "
                f"max RSS {result['max_rss_mib']['trained']:.0f} MiB",
                flush=True,
            )
    rows = []
    for size in sizes:
        first = runs[size][0]
        per_batch = [r["seconds_per_batch"] for r in runs[size]]
        peaks = [r["max_rss_mib"]["trained"] for r in runs[size]]
        cuda = [r["cuda_max_memory_allocated"] for r in runs[size] if r["cuda_max_memory_allocated"]]
        rows.append(
            {
                "image_size": size,
                "pixels": size * size,
                "seconds_per_batch": spread(per_batch, 3),
                "epoch_seconds_projected": spread([s * first["batches_per_epoch"] for s in per_batch], 1),
                "images_per_s": summarize([r["images_per_s"] for r in runs[size]]),
                "forward_gflops_per_image": round(first["forward_flops_per_image"] / 1e9, 3),
                "data_mib": round(first["data_bytes"] / MiB, 1),
                "train_data_shape": first["train_data_shape"],
                "max_rss_mib": spread(peaks, 0),
                "max_rss_stages_mib": {
                    stage: statistics.median(r["max_rss_mib"][stage] for r in runs[size])
                    for stage in first["max_rss_mib"]
                },
                "cuda_max_memory_allocated_mib": round(statistics.median(cuda) / MiB, 1) if cuda else None,
                "train_images": first["train_images"],
                "batches_per_epoch": first["batches_per_epoch"],
                "cache": sorted({r["cache"] for r in runs[size]}),
                "runs": runs[size],
            }
        )
    base = rows[0]
    for row in rows:
        row["time_ratio"] = round(row["seconds_per_batch"]["median"] / base["seconds_per_batch"]["median"], 2)
        row["flops_ratio"] = round(row["forward_gflops_per_image"] / base["forward_gflops_per_image"], 2)
        row["pixels_ratio"] = round(row["pixels"] / base["pixels"], 2)
    return {
        "batch_size": ALEXNET_BATCH,
        "warmup_batches": warmup,
        "timed_batches": batches,
        "cuda": "recorded"
        if any(r["cuda_max_memory_allocated_mib"] for r in rows)
        else "skipped: no CUDA trainer",
        "rows": rows,
    }


# -- dataset size: one process, interleaved epochs -------------------------------------------------


def dataset_size_part(fractions: list[float], repeats: int, args: Any) -> dict | None:
    if not (Path(args.data_dir) / "mnist" / "MNIST" / "raw").is_dir():
        print(f"dataset size: skipped, no mnist/MNIST/raw under {args.data_dir}", flush=True)
        return None
    output_dir = tempfile.mkdtemp(prefix="bench-scaling-")
    try:
        cfg = compose_config(MNIST_BATCH, output_dir, [f"trainer={args.trainer}"])
        pl.seed_everything(0, verbose=False)
        datamodule = instantiate(cfg.data)
        module = build_module(cfg)
        fit(cfg, module, datamodule, 3)  # warm-up: first-call allocations
        runs: dict[float, list[EpochClock]] = {f: [] for f in fractions}
        for _ in range(repeats):
            for fraction in fractions:
                clock = fit(cfg, module, datamodule, fraction)
                runs[fraction].append(clock)
                print(
                    f"lenet5 mnist {fraction:.0%}: {clock.images} images in {clock.epoch_seconds():.2f} s",
                    flush=True,
                )
        train_images = datamodule.sizes()["train"]
    finally:
        shutil.rmtree(output_dir, ignore_errors=True)
    rows = []
    for fraction in fractions:
        clocks = runs[fraction]
        seconds = [c.epoch_seconds() for c in clocks]
        rows.append(
            {
                "fraction": fraction,
                "batches": len(clocks[0].ends),
                "images": clocks[0].images,
                "epoch_seconds": spread(seconds, 2),
                "images_per_s": summarize([c.images / s for c, s in zip(clocks, seconds)]),
            }
        )
    base = rows[0]
    for row in rows:
        row["images_ratio"] = round(row["images"] / base["images"], 2)
        row["time_ratio"] = round(row["epoch_seconds"]["median"] / base["epoch_seconds"]["median"], 2)
    return {
        "batch_size": MNIST_BATCH,
        "train_split_images": train_images,
        "limited_by": "trainer.limit_train_batches (fraction of the epoch's batches)",
        "rows": rows,
    }


def spread(values: list[float], digits: int) -> dict[str, Any]:
    return {
        "values": [round(v, digits + 2) for v in values],
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="size 64, 2/4 %% of MNIST, 1 repeat, 1+1 batches"
    )
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 3, quick 1)")
    parser.add_argument("--data-dir", default=os.environ.get("EXPERIMENTS_DATA_DIR", "data"))
    parser.add_argument("--trainer", default="cpu", help="trainer config group (gpu records CUDA memory)")
    parser.add_argument("--child", type=int, metavar="IMAGE_SIZE", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=None, help="warm-up batches per AlexNet run")
    parser.add_argument("--batches", type=int, default=None, help="timed batches per AlexNet run")
    args = parser.parse_args()
    os.environ["EXPERIMENTS_DATA_DIR"] = args.data_dir
    torch.set_num_threads(1)
    quiet()
    if args.child:
        print(json.dumps(child(args.child, args.warmup, args.batches, args.trainer)), flush=True)
        return
    repeats = args.repeats or (1 if args.quick else 3)
    sizes = [64] if args.quick else [64, 128, 224]
    fractions = [0.02, 0.04] if args.quick else [0.25, 0.5, 1.0]
    warmup = args.warmup or (1 if args.quick else 2)
    batches = args.batches or (1 if args.quick else 8)
    load_before = os.getloadavg()
    start = time.perf_counter()
    images = image_size_part(sizes, repeats, warmup, batches, args)
    dataset = dataset_size_part(fractions, repeats, args)
    report = {
        "command": command("bench_scaling.py"),
        "quick": args.quick,
        "repeats": repeats,
        "wall_s": round(time.perf_counter() - start, 1),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": torch_machine(),
        "image_size": images,
        "dataset_size": dataset,
    }
    save("scaling", report, markdown(report))


def markdown(report: dict) -> str:
    lines = [
        "# Scaling: epoch time and memory against image size and dataset size",
        "",
        header(report, "thread")
        + f" {report['repeats']} interleaved repeat(s); median (min-max). The framework as it runs "
        "(composed config, `build_module`, in-memory data, Trainer with CSV logger, LR monitor, progress bar); "
        "no validation or checkpoints.",
        "",
    ]
    images = report["image_size"]
    if images:
        rows = images["rows"]
        lines += [
            f"## Image size: AlexNet / Flowers17, batch {images['batch_size']}",
            "",
            f"Each run is a fresh process: {images['warmup_batches']} warm-up + {images['timed_batches']} timed "
            f"training batches. Epoch = {rows[0]['train_images']} training images = "
            f"{rows[0]['batches_per_epoch']} batches (the last one partial); projected epoch = s/batch x "
            f"{rows[0]['batches_per_epoch']}. Data: decoded uint8 images of all splits held in memory. "
            "Peak RSS: `ru_maxrss` of the process (imports, data, model, Adam state, training). "
            f"CUDA `max_memory_allocated`: {images['cuda']}.",
            "",
            "| image | s/batch | projected epoch s | img/s | fwd GFLOPs/img | pixels x | FLOPs x | time x "
            "| data MiB | peak RSS MiB | peak RSS after imports / data / model |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            stages = r["max_rss_stages_mib"]
            lines.append(
                f"| {r['image_size']} | {fmt(r['seconds_per_batch'])} | {fmt(r['epoch_seconds_projected'])} "
                f"| {fmt(r['images_per_s'])} | {r['forward_gflops_per_image']} | {r['pixels_ratio']} "
                f"| {r['flops_ratio']} | {r['time_ratio']} | {r['data_mib']} | {fmt(r['max_rss_mib'])} "
                f"| {stages['imports']:.0f} / {stages['data']:.0f} / {stages['model']:.0f} |"
            )
        caches = sorted({c for r in rows for c in r["cache"]})
        lines += ["", f"Decoded-data cache: {', '.join(caches)} (a miss decodes the JPEGs in that run).", ""]
    dataset = report["dataset_size"]
    if dataset:
        lines += [
            f"## Dataset size: LeNet-5 / MNIST 32x32, batch {dataset['batch_size']}",
            "",
            f"One epoch over a fraction of the {dataset['train_split_images']}-image training split (MNIST's "
            f"60,000 less the 10 % validation split), limited by {dataset['limited_by']}; time from the "
            "epoch's start to the end of its last batch.",
            "",
            "| fraction | batches | images | epoch s | img/s | images x | time x |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in dataset["rows"]:
            lines.append(
                f"| {r['fraction']:.0%} | {r['batches']} | {r['images']} | {fmt(r['epoch_seconds'])} "
                f"| {fmt(r['images_per_s'])} | {r['images_ratio']} | {r['time_ratio']} |"
            )
        lines.append("")
    return "\n".join(lines)


def fmt(summary: dict[str, Any]) -> str:
    return f"{summary['median']} ({summary['min']}-{summary['max']})"


if __name__ == "__main__":
    main()
