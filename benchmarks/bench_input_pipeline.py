"""Epoch time of the fast input pipeline against a plain DataLoader + torchvision transforms pipeline.

One process, same model, batch size, optimizer and step for both; only the input pipeline differs:

* ``fast``: :class:`experiments.data.datamodule.ClassificationData` (decoded uint8 tensors from the
  disk cache, batches sliced by a shuffled index, batched augmentation and normalisation);
* ``baseline``: what the seed notebooks write, a ``torchvision.datasets`` dataset with per-sample
  ``transforms`` (PIL resize, flip, ToTensor, Normalize) and a ``DataLoader`` (shuffle, workers).

Cases: LeNet-5 on MNIST (32x32) and AlexNet on Oxford 17 Flowers (224x224). Reports the median
of repeats, the ratio, and peak resident memory (this process plus DataLoader workers) per run.

    EXPERIMENTS_DATA_DIR=/path/to/data python benchmarks/bench_input_pipeline.py [--quick]

Writes benchmarks/results/input_pipeline.{json,md}.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from report import machine, save  # benchmarks/report.py, beside this script
from torch import nn

from experiments.data.datamodule import ClassificationData
from experiments.data.folders import Flowers17
from experiments.data.sources import MNIST
from experiments.models.alexnet import alexnet
from experiments.models.lenet import lenet5


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in task.read_text().split()]
    return found


class PeakMemory:
    """Samples the resident memory of this process and its children every 20 ms; keeps the peak."""

    def __enter__(self) -> PeakMemory:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        pid = os.getpid()
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(pid) + sum(rss_bytes(c) for c in children(pid)))
            self._stop.wait(0.02)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Case:
    name: str
    model: Callable[[], nn.Module]
    batch_size: int
    batches: int | None  # None: a full epoch
    fast: Callable[[], tuple[Iterable, Callable[[torch.Tensor], torch.Tensor]]]
    baseline: Callable[[int], Iterable]  # DataLoader workers -> the plain pipeline


def train_epoch(
    model: nn.Module, optimizer: torch.optim.Optimizer, batches: Iterable, prepare, limit: int | None
) -> int:
    """The same step for both pipelines; returns the number of images seen."""
    model.train()
    seen = 0
    for i, (images, labels) in enumerate(batches):
        if limit is not None and i >= limit:
            break
        images = prepare(images)
        loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += len(labels)
    return seen


def fast_mnist(root: Path, cache: Path, batch_size: int):
    data = ClassificationData(
        source=MNIST(root), name="mnist", num_classes=10, channels=1, image_size=32, batch_size=batch_size,
        val_fraction=0.1, test_fraction=0.0, mean=[0.1307], std=[0.3081], cache_dir=str(cache), device="cpu",
    )  # fmt: skip
    data.setup()
    return data.train_dataloader(), lambda x: data.transform(x, train=True)


def baseline_mnist(root: Path, batch_size: int, workers: int):
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [transforms.Resize(32), transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]
    )
    dataset = datasets.MNIST(str(root), train=True, transform=transform, download=False)
    subset = torch.utils.data.Subset(dataset, range(54000))  # the same 54,000 training images
    return torch.utils.data.DataLoader(
        subset, batch_size=batch_size, shuffle=True, num_workers=workers, persistent_workers=workers > 0
    )


def fast_flowers(root: Path, cache: Path, batch_size: int):
    data = ClassificationData(
        source=Flowers17(root), name="flowers17", num_classes=17, channels=3, image_size=224,
        batch_size=batch_size, val_fraction=0.25, test_fraction=0.25, mean=[0.485, 0.456, 0.406],
        std=[0.229, 0.224, 0.225], augment={"hflip": True}, cache_dir=str(cache), device="cpu",
    )  # fmt: skip
    data.setup()
    return data.train_dataloader(), lambda x: data.transform(x, train=True)


def baseline_flowers(root: Path, batch_size: int, workers: int):
    from PIL import Image
    from torchvision import transforms

    transform = transforms.Compose(
        [
            transforms.Resize(224),
            transforms.CenterCrop(224),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )

    class Flowers(torch.utils.data.Dataset):
        def __init__(self) -> None:
            self.paths = [root / "jpg" / f"image_{n:04d}.jpg" for n in range(1, 1361)]

        def __len__(self) -> int:
            return len(self.paths)

        def __getitem__(self, i: int):
            with Image.open(self.paths[i]) as image:
                return transform(image.convert("RGB")), i // 80

    return torch.utils.data.DataLoader(
        Flowers(), batch_size=batch_size, shuffle=True, num_workers=workers, persistent_workers=workers > 0
    )


def measure(case: Case, repeats: int, workers: list[int]) -> dict[str, dict]:
    """Median epoch time of both pipelines over ``repeats``, alternating them so that load on a shared
    machine falls on both alike; one warm-up epoch each first (which also builds the pipeline)."""
    runs = {}
    for pipeline in [*(f"baseline_{w}_workers" for w in workers), "fast"]:
        torch.manual_seed(0)
        model = case.model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        with PeakMemory() as memory:
            start = time.perf_counter()
            if pipeline == "fast":
                batches, prepare = case.fast()
            else:
                batches, prepare = case.baseline(int(pipeline.split("_")[1])), lambda x: x
            setup = time.perf_counter() - start
            train_epoch(model, optimizer, batches, prepare, 2)
        runs[pipeline] = {"model": model, "optimizer": optimizer, "batches": batches, "prepare": prepare,
                          "setup": setup, "times": [], "images": 0, "peak": memory.peak}  # fmt: skip
    for _ in range(repeats):
        for run in runs.values():
            with PeakMemory() as memory:
                start = time.perf_counter()
                run["images"] = train_epoch(
                    run["model"], run["optimizer"], run["batches"], run["prepare"], case.batches
                )
                run["times"].append(time.perf_counter() - start)
            run["peak"] = max(run["peak"], memory.peak)
    results = {}
    for pipeline, run in runs.items():
        median = statistics.median(run["times"])
        results[pipeline] = {
            "setup_s": round(run["setup"], 3),
            "epoch_s": [round(t, 3) for t in run["times"]],
            "median_epoch_s": round(median, 3),
            "images_per_epoch": run["images"],
            "images_per_s": round(run["images"] / median, 1),
            "peak_rss_mib": round(run["peak"] / 2**20, 1),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="LeNet-5 only: 10 batches, 1 repeat, 0 workers")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=None,
        help="DataLoader workers of the baselines, one run each (default 0 and 2; --quick: 0)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (both pipelines)")
    parser.add_argument("--data-dir", default=os.environ.get("EXPERIMENTS_DATA_DIR", "data"))
    parser.add_argument(
        "--cache-dir", default=None, help="decoded-tensor cache (default: a temporary folder)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    data_dir = Path(args.data_dir)
    cache = Path(args.cache_dir or tempfile.mkdtemp(prefix="bench-cache-"))
    repeats = 1 if args.quick else 5
    workers = args.workers or ([0] if args.quick else [0, 2])
    cases = [
        Case(
            "LeNet-5 / MNIST 32x32",
            lambda: lenet5(num_classes=10, in_channels=1),
            64,
            10 if args.quick else None,
            lambda: fast_mnist(data_dir / "mnist", cache, 64),
            lambda w: baseline_mnist(data_dir / "mnist", 64, w),
        ),
        Case(
            "AlexNet / flowers17 224x224",
            lambda: alexnet(num_classes=17),
            32,
            4 if args.quick else 8,
            lambda: fast_flowers(data_dir / "flowers17", cache, 32),
            lambda w: baseline_flowers(data_dir / "flowers17", 32, w),
        ),
    ]
    if args.quick:  # one AlexNet step at 224x224 takes ~3 s on 2 cores: too long for the quick run
        print("AlexNet / flowers17: full mode only (without --quick)")
        cases = cases[:1]
    rows = []
    for case in cases:
        results = measure(case, repeats, workers)
        fast = results["fast"]["median_epoch_s"]
        for pipeline, result in results.items():
            result["speedup_of_fast"] = round(result["median_epoch_s"] / fast, 2)
            print(
                f"{case.name}: {pipeline} {result['median_epoch_s']} s ({result['speedup_of_fast']}x)",
                flush=True,
            )
        rows.append({"case": case.name, "batch_size": case.batch_size, "batches": case.batches or "full epoch",
                     "pipelines": results})  # fmt: skip
    report = {
        "command": " ".join(["python", "benchmarks/bench_input_pipeline.py", *sys.argv[1:]]),
        "quick": args.quick,
        "repeats": repeats,
        "baseline_workers": workers,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": machine(torch_threads=torch.get_num_threads(), torch=torch.__version__),
        "optimizer": "SGD(lr=0.01, momentum=0.9)",
        "results": rows,
    }
    save("input_pipeline", report, markdown(report))


def markdown(report: dict) -> str:
    machine = report["machine"]
    lines = [
        "# Input pipeline: fast path vs DataLoader + torchvision transforms",
        "",
        f"Command: `{report['command']}`. {machine['cpus']} CPUs, torch {machine['torch']}, "
        f"{machine['torch_threads']} torch thread(s), load average {report['load_average_before'][0]:.1f} before "
        f"and {report['load_average_after'][0]:.1f} after (other jobs shared the machine). Median of "
        f"{report['repeats']} epochs after a warm-up; optimizer {report['optimizer']}; same model and batch size "
        "for every pipeline. Speed-up = pipeline's epoch time / fast path's.",
        "",
        "| case | batch | batches per epoch | pipeline | epoch s | img/s | speed-up of fast | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        for pipeline, r in row["pipelines"].items():
            lines.append(
                f"| {row['case']} | {row['batch_size']} | {row['batches']} | {pipeline} | {r['median_epoch_s']} "
                f"| {r['images_per_s']} | {r['speedup_of_fast']}x | {r['peak_rss_mib']} |"
            )
    lines += [
        "",
        "`baseline_N_workers`: `torchvision.datasets` / PIL files + `transforms` (Resize, [CenterCrop, RandomHorizontalFlip,]",
        "ToTensor, Normalize) + `DataLoader(shuffle=True, num_workers=N)`; N=0 is the DataLoader default a notebook gets.",
        "`fast`: `ClassificationData` with the decoded-tensor cache, sliced batches, batched flip and normalisation.",
        "Peak RSS is this process plus its DataLoader workers, sampled every 20 ms while a pipeline is built and run;",
        "all pipelines (and torch) live in the one process, so compare the columns rather than read them alone.",
        "Epochs alternate between the pipelines so that load from other jobs on a shared machine hits each alike.",
        "The fast path's setup (decode, or cache load) is outside the epoch time; see `setup_s` in the JSON.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
