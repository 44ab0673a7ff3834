"""Training throughput of the framework against the seed's Keras LeNet-5 (Keras 3 on its torch backend).

One process, one torch thread, LeNet-5 on MNIST padded to 32x32, Adam (lr 1e-3), batch 64:

* ``framework``: as in ``bench_overhead.py`` (the experiment as ``python -m experiments data=mnist
  trainer=cpu`` builds it; only the training batches are timed);
* ``keras``: the seed notebook's model (Conv 6@5x5 ReLU, MaxPool 2, Conv 16@5x5 ReLU, MaxPool 2, Dense
  120 ReLU, Dense 84 ReLU, Dense 10 softmax; the same 61,706 parameters) compiled with Adam and sparse
  categorical cross-entropy, ``model.fit`` over the same normalised training images held in memory as
  a NumPy array (channels last, Keras' default), one epoch of a fixed number of batches, ``verbose=0``.

Interleaved repeats after a warm-up of each; median and min/max images/s and the ratio (target: the
framework >= 2x Keras). Keras is not a project dependency: ``pip install keras`` first; without it
the script says so and exits 0.

    EXPERIMENTS_DATA_DIR=/path/to/data python benchmarks/bench_keras.py [--quick]

Writes benchmarks/results/keras.{json,md}.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from report import machine, save  # benchmarks/report.py, beside this script

os.environ.setdefault("KERAS_BACKEND", "torch")


def keras_lenet5(keras):
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            layers.Conv2D(6, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(120, activation="relu"),
            layers.Dense(84, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


FAST_OPTIONS = ["channels_last=true", "trainer.precision=bf16-mixed"]  # the winners of bench_options.py


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5 batches, 1 repeat, 2 warm-up batches")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--batches", type=int, default=None, help="timed batches per measurement")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (both)")
    parser.add_argument("--data-dir", default=os.environ.get("EXPERIMENTS_DATA_DIR", "data"))
    args = parser.parse_args()
    if importlib.util.find_spec("keras") is None:
        print("bench_keras: keras is not installed (pip install keras); skipped")
        return
    os.environ["EXPERIMENTS_DATA_DIR"] = args.data_dir
    import keras
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_overhead import VARIANTS, Framework, quiet

    torch.set_num_threads(args.threads)
    quiet()
    repeats = args.repeats or (1 if args.quick else 5)
    batches = args.batches or (5 if args.quick else 300)
    size = args.batch_size
    load_before = os.getloadavg()
    framework = Framework(size, VARIANTS["framework"], tempfile.mkdtemp(prefix="bench-keras-"))
    data = framework.datamodule
    data.setup()
    images, labels = data.splits["train"]
    x = torch.addcmul(-data._shift, images.float(), data._scale).permute(0, 2, 3, 1).contiguous().numpy()
    y = labels.numpy()
    keras.utils.set_random_seed(0)
    model = keras_lenet5(keras)
    generator = torch.Generator().manual_seed(0)

    def keras_measure(count: int) -> float:
        index = torch.randperm(len(y), generator=generator)[: count * size].numpy()
        xs, ys = x[index], y[index]
        start = time.perf_counter()
        model.fit(xs, ys, batch_size=size, epochs=1, shuffle=False, verbose=0)
        return count * size / (time.perf_counter() - start)

    fast = Framework(size, {"overrides": FAST_OPTIONS}, tempfile.mkdtemp(prefix="bench-keras-"))
    methods = {"framework": framework.measure, "framework_fast_options": fast.measure, "keras": keras_measure}
    for measure in methods.values():
        measure(2 if args.quick else 20)
    values: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(repeats):
        for name, measure in methods.items():
            values[name].append(measure(batches))
    results = {
        name: {
            "images_per_s": [round(v, 1) for v in vs],
            "median": round(statistics.median(vs), 1),
            "min": round(min(vs), 1),
            "max": round(max(vs), 1),
        }
        for name, vs in values.items()
    }
    ratio = round(results["framework"]["median"] / results["keras"]["median"], 2)
    ratio_fast = round(results["framework_fast_options"]["median"] / results["keras"]["median"], 2)
    print(
        f"framework {results['framework']['median']} img/s ({ratio}x keras), with {' '.join(FAST_OPTIONS)} "
        f"{results['framework_fast_options']['median']} ({ratio_fast}x), keras {results['keras']['median']} img/s"
    )
    report = {
        "command": " ".join(["python", "benchmarks/bench_keras.py", *sys.argv[1:]]),
        "quick": args.quick,
        "repeats": repeats,
        "batches": batches,
        "batch_size": size,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": machine(
            torch_threads=torch.get_num_threads(),
            torch=torch.__version__,
            keras=keras.__version__,
            keras_backend=keras.backend.backend(),
        ),
        "target": "framework / keras >= 2",
        "ratio": ratio,
        "ratio_fast_options": ratio_fast,
        "fast_options": FAST_OPTIONS,
        "results": results,
    }
    host = report["machine"]
    lines = [
        "# Framework vs the seed's Keras LeNet-5",
        "",
        f"Command: `{report['command']}`. {host['cpus']} CPUs, torch {host['torch']} "
        f"({host['torch_threads']} thread), Keras {host['keras']} on the {host['keras_backend']} backend, "
        f"load average {load_before[0]:.1f} before and {report['load_average_after'][0]:.1f} after. LeNet-5 / MNIST "
        f"32x32, Adam lr 1e-3, batch {size}, {batches} timed batches, {repeats} interleaved repeats.",
        "",
        "| method | img/s median | min | max |",
        "|---|---|---|---|",
        *(f"| {n} | {r['median']} | {r['min']} | {r['max']} |" for n, r in results.items()),
        "",
        f"Framework / Keras: **{ratio}x** as configured by default (fp32), **{ratio_fast}x** with "
        f"`{' '.join(FAST_OPTIONS)}` (target >= 2x). Keras' model is channels-last (NHWC) by default.",
        "",
    ]
    save("keras", report, "\n".join(lines))


if __name__ == "__main__":
    main()
