"""The seed notebook's LeNet-5 recipe in Keras 3 (torch backend), as its own process, for a time-to-accuracy race.

MNIST read from its IDX files (as ``keras.datasets.mnist.load_data`` would give it: uint8 arrays, no
download here), scaled to [0, 1] and padded to 32x32; the model of ``bench_keras.py`` (Adam 1e-3, sparse
categorical cross-entropy), ``model.fit`` for one epoch of batch 64 at a time, ``--epochs`` times, and the
test accuracy after each. Prints one JSON line per epoch: ``{"epoch", "test_acc", "unix_time"}``, so the
caller, which knows when it started the process, has the time from process start to each accuracy.

    python benchmarks/keras_seed_recipe.py --data-dir $EXPERIMENTS_DATA_DIR [--epochs 10]

``--train-images N`` / ``--test-images N`` keep the first N of each split (the benchmarks' ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format: a big-endian header of dims, then uint8 values) as an array."""
    raw = path.read_bytes()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def images(path: Path) -> np.ndarray:
    return np.pad(read_idx(path).astype("float32") / 255.0, ((0, 0), (2, 2), (2, 2)))[..., None]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", default=os.environ.get("EXPERIMENTS_DATA_DIR", "data"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-images", type=int, default=None, help="the first N training images only")
    parser.add_argument("--test-images", type=int, default=None, help="the first N test images only")
    args = parser.parse_args()
    import keras
    from bench_keras import keras_lenet5  # benchmarks/, beside this script

    raw = Path(args.data_dir) / "mnist" / "MNIST" / "raw"
    x_train, y_train = images(raw / "train-images-idx3-ubyte"), read_idx(raw / "train-labels-idx1-ubyte")
    x_test, y_test = images(raw / "t10k-images-idx3-ubyte"), read_idx(raw / "t10k-labels-idx1-ubyte")
    x_train, y_train = x_train[: args.train_images], y_train[: args.train_images]
    x_test, y_test = x_test[: args.test_images], y_test[: args.test_images]
    keras.utils.set_random_seed(0)
    model = keras_lenet5(keras)
    for epoch in range(1, args.epochs + 1):
        model.fit(x_train, y_train, batch_size=args.batch_size, epochs=1, verbose=0)
        _, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
        print(json.dumps({"epoch": epoch, "test_acc": float(accuracy), "unix_time": time.time()}), flush=True)


if __name__ == "__main__":
    main()
