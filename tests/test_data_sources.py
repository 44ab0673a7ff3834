"""Dataset readers: real MNIST/flowers17 where EXPERIMENTS_DATA_DIR is set, generated files otherwise;
and the data groups through the real CLI (slow)."""

from __future__ import annotations

import hashlib
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from experiments.data.cifar import CIFAR10, CIFAR10_MD5, FOLDER, META_FILE, TEST_FILES, TRAIN_FILES
from experiments.data.datamodule import ClassificationData
from experiments.data.folders import Flowers17
from experiments.data.sources import MNIST, DataSourceError, Digits, FashionMNIST
from experiments.data.splits import read_datasplits, stratified_split
from experiments.records.run_record import RunRecord


def shared_data(name: str) -> Path:
    root = os.environ.get("EXPERIMENTS_DATA_DIR")
    if not root:
        pytest.skip("EXPERIMENTS_DATA_DIR is not set: the real datasets are not available")
    path = Path(root) / name
    if not path.is_dir():
        pytest.skip(f"{path} does not exist")
    return path


def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX as in MNIST: big-endian magic (0, 0, type 0x08 = uint8, ndim), then the sizes, then the bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_fashion(root: Path, n_train: int = 40, n_test: int = 20) -> None:
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)


def write_cifar(root: Path, per_batch: int = 20) -> dict[str, str]:
    """CIFAR-10's own format: protocol-2 pickles of dicts with bytes keys; returns each file's MD5."""
    folder = root / FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in (*TRAIN_FILES, *TEST_FILES):
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"num_cases_per_batch": per_batch, b"label_names": [f"class{i}".encode() for i in range(10)]}
    (folder / META_FILE).write_bytes(pickle.dumps(meta, protocol=2))
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}


# -- MNIST and Fashion-MNIST ---------------------------------------------------------------------


def test_real_mnist_decodes_official_split() -> None:
    decoded = MNIST(shared_data("mnist")).decode()
    assert decoded.images.shape == (70000, 1, 28, 28)
    assert decoded.images.dtype == torch.uint8
    assert len(decoded.groups["train"]) == 60000 and len(decoded.groups["test"]) == 10000
    assert decoded.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert decoded.labels[60000:60010].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_fashion_mnist_reads_generated_idx_files(tmp_path: Path) -> None:
    write_fashion(tmp_path)
    decoded = FashionMNIST(tmp_path).decode()
    assert decoded.images.shape == (60, 1, 28, 28)
    assert decoded.classes[0] == "T-shirt/top"
    assert decoded.groups["test"].tolist() == list(range(40, 60))
    assert decoded.labels[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


@pytest.mark.parametrize("source", [MNIST, FashionMNIST])
def test_missing_idx_files_raise_one_clear_error(tmp_path: Path, source: type[MNIST]) -> None:
    with pytest.raises(DataSourceError) as caught:
        source(tmp_path / "nowhere").inputs()
    message = str(caught.value)
    assert "train-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message
    assert str(tmp_path / "nowhere" / source.dataset_class / "raw") in message
    assert "data.root" in message and "data.download=true" in message


def test_truncated_idx_file_is_a_data_error(tmp_path: Path) -> None:
    write_fashion(tmp_path)
    images = tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:500])
    with pytest.raises(
        DataSourceError, match=r"train-images-idx3-ubyte is truncated: its header says 40x28x28"
    ):
        FashionMNIST(tmp_path).decode()


def test_digits_are_bundled() -> None:
    decoded = Digits().decode()
    assert decoded.images.shape == (1797, 1, 8, 8) and int(decoded.images.max()) == 255
    assert Digits().inputs() == []


# -- CIFAR-10 ------------------------------------------------------------------------------------


def test_cifar_reads_generated_batches_with_their_checksums(tmp_path: Path) -> None:
    checksums = write_cifar(tmp_path)
    decoded = CIFAR10(tmp_path, checksums=checksums).decode()
    assert decoded.images.shape == (120, 3, 32, 32)
    assert decoded.classes == [f"class{i}" for i in range(10)]
    assert len(decoded.groups["train"]) == 100 and len(decoded.groups["test"]) == 20
    first = pickle.loads((tmp_path / FOLDER / "data_batch_1").read_bytes())
    assert torch.equal(decoded.images[0].flatten(), torch.from_numpy(first[b"data"][0]))
    assert decoded.labels[:20].tolist() == first[b"labels"]


def test_cifar_verify_false_skips_the_checksum_for_test_files(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    assert len(CIFAR10(tmp_path, verify=False).decode().labels) == 120


def test_cifar_refuses_files_that_do_not_match_torchvisions_md5(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    assert CIFAR10(tmp_path).checksums == CIFAR10_MD5
    with pytest.raises(DataSourceError, match="MD5") as caught:
        CIFAR10(tmp_path).decode()
    assert "batches.meta" in str(caught.value) and CIFAR10_MD5["batches.meta"] in str(caught.value)


class _Exploit:
    """Unpickling this would create a file: proof of code execution."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.target,))


def test_cifar_never_unpickles_a_tampered_file(tmp_path: Path) -> None:
    checksums = write_cifar(tmp_path)
    proof = tmp_path / "pwned"
    (tmp_path / FOLDER / "data_batch_1").write_bytes(pickle.dumps({"data": _Exploit(proof)}))
    with pytest.raises(DataSourceError, match="MD5"):
        CIFAR10(tmp_path, checksums=checksums).decode()
    assert not proof.exists()
    with pytest.raises(DataSourceError, match="refused global"):  # even unverified, only arrays load
        CIFAR10(tmp_path, verify=False).decode()
    assert not proof.exists()


def test_cifar_missing_files_name_the_folder_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError) as caught:
        CIFAR10(tmp_path).inputs()
    message = str(caught.value)
    for name in (*TRAIN_FILES, *TEST_FILES, META_FILE):
        assert name in message
    assert str(tmp_path / FOLDER) in message and "data.download=true" in message and "data.root" in message


# -- Oxford 17 Flowers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_flowers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,360 tiny JPEGs in the official layout; image n's colour encodes its class."""
    root = tmp_path_factory.mktemp("flowers17")
    (root / "jpg").mkdir()
    for n in range(1, 1361):
        label = (n - 1) // 80
        Image.new("RGB", (12, 10), (label * 15, 100, 200)).save(root / "jpg" / f"image_{n:04d}.jpg")
    (root / "classes.txt").write_text("\n".join(f"flower{i}" for i in range(17)) + "\n")
    return root


def official_splits(seed: int = 0) -> dict[str, np.ndarray]:
    """A datasplits.mat-like layout: trn/val/tst 1..3, 40/20/20 per class, 1-based, 1 x N doubles."""
    rng = np.random.default_rng(seed)
    content = {}
    for k in (1, 2, 3):
        parts: dict[str, list[int]] = {"trn": [], "val": [], "tst": []}
        for label in range(17):
            members = rng.permutation(np.arange(label * 80, label * 80 + 80)) + 1
            parts["trn"] += members[:40].tolist()
            parts["val"] += members[40:60].tolist()
            parts["tst"] += members[60:].tolist()
        for key, numbers in parts.items():
            content[f"{key}{k}"] = np.array(numbers, dtype=np.float64)[None, :]
    return content


def flowers_module(root: Path, **options: object) -> ClassificationData:
    source_options = {k: options.pop(k) for k in ("split", "splits_file") if k in options}
    return ClassificationData(
        source=Flowers17(root, **source_options),
        name="flowers17",
        num_classes=17,
        channels=3,
        image_size=16,
        val_fraction=0.25,
        test_fraction=0.25,
        cache=False,
        **options,
    )


def per_class(labels: torch.Tensor) -> set[int]:
    return set(torch.bincount(labels, minlength=17).tolist())


def test_flowers_without_datasplits_uses_seeded_stratified_40_20_20(fake_flowers: Path) -> None:
    data = flowers_module(fake_flowers, seed=3)
    data.setup()
    assert data.sizes() == {"train": 680, "val": 340, "test": 340}
    assert [per_class(data.splits[p][1]) for p in ("train", "val", "test")] == [{40}, {20}, {20}]
    assert data.protocol.startswith("seeded stratified 50/25/25% train/val/test split (seed 3)")
    assert "datasplits.mat not found" in data.protocol
    assert data.describe()["classes"][:2] == ["flower0", "flower1"]
    again = flowers_module(fake_flowers, seed=3)
    again.setup()
    assert torch.equal(again.splits["test"][0], data.splits["test"][0])


@pytest.mark.parametrize("split", [1, 3])
def test_flowers_reads_the_official_datasplits_mat(fake_flowers: Path, tmp_path: Path, split: int) -> None:
    mat = tmp_path / "datasplits.mat"
    content = official_splits()
    savemat(mat, content)
    data = flowers_module(fake_flowers, split=split, splits_file=mat)
    data.setup()
    info = data.describe()
    assert info["protocol"].startswith(f"official datasplits.mat split {split}")
    assert info["official_split"] is True
    assert data.sizes() == {"train": 680, "val": 340, "test": 340}
    expected = (
        np.sort(content[f"tst{split}"].ravel().astype(int) - 1) // 80
    )  # labels of the official test images
    # served class-interleaved (#29.3): the official test images, in data.eval_order's order
    assert data.splits["test"][1].tolist() == expected[data.eval_order["test"]].tolist()


def test_datasplits_reader_checks_its_input(tmp_path: Path) -> None:
    mat = tmp_path / "datasplits.mat"
    content = official_splits()
    savemat(mat, content)
    groups = read_datasplits(mat, 2, 1360)
    assert groups["train"].tolist() == sorted(int(v) - 1 for v in content["trn2"].ravel())
    with pytest.raises(DataSourceError, match="1, 2 or 3"):
        read_datasplits(mat, 4, 1360)
    content["val1"] = content["trn1"][:, :5]
    savemat(mat, content)
    with pytest.raises(DataSourceError, match="overlap"):
        read_datasplits(mat, 1, 1360)
    content["tst1"] = np.array([[0.0, 5.0]])
    savemat(mat, content)
    with pytest.raises(DataSourceError, match=r"outside 1\.\.1360"):
        read_datasplits(mat, 1, 1360)


def test_flowers_missing_images_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError) as caught:
        Flowers17(tmp_path).inputs()
    message = str(caught.value)
    assert "image_0001.jpg" in message and str(tmp_path / "jpg") in message and "17flowers.tgz" in message


def test_real_flowers17(tmp_path: Path) -> None:
    root = shared_data("flowers17")
    data = flowers_module(root, seed=0)
    data.cache_dir = tmp_path
    data.setup()
    assert data.sizes() == {"train": 680, "val": 340, "test": 340}
    assert data.classes[:3] == ["Daffodil", "Snowdrop", "LilyValley"]
    assert data.splits["train"][0].shape[1:] == (3, 16, 16)
    assert data.describe()["cache"] == "miss"


def test_stratified_split_is_seeded_and_disjoint() -> None:
    labels = torch.arange(100) % 4
    a = stratified_split(labels, [0.6, 0.2, 0.2], seed=5)
    b = stratified_split(labels, [0.6, 0.2, 0.2], seed=5)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert sorted(torch.cat(a).tolist()) == list(range(100))
    assert [len(p) for p in a] == [60, 20, 20]


# -- through the CLI ------------------------------------------------------------------------------


def run_cli(tmp_path: Path, *overrides: str) -> RunRecord:
    env = {**os.environ, "EXPERIMENTS_CACHE_DIR": str(tmp_path / "cache"), "WANDB_MODE": "disabled"}
    command = [
        sys.executable, "-m", "experiments", f"hydra.run.dir={tmp_path / 'run'}", "trainer.max_epochs=1",
        "trainer.accelerator=cpu", "logger=csv", *overrides,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return RunRecord.read(tmp_path / "run")


@pytest.mark.slow
def test_cifar10_from_generated_batches(tmp_path: Path) -> None:
    write_cifar(tmp_path / "cifar10", per_batch=12)
    results = run_cli(tmp_path, "data=cifar10", f"data.root={tmp_path / 'cifar10'}", "data.verify=false")
    info = results.data_info
    assert results.status == "ok"
    assert info["sizes"]["train"] + info["sizes"]["val"] == 60 and info["sizes"]["test"] == 12
    assert 5 <= info["sizes"]["val"] <= 8  # 10% of train, stratified over random labels
    assert info["protocol"].startswith("the dataset's own train/test split")
    assert info["cache"] == "miss" and info["augment"] == {"crop_padding": 4, "hflip": True}


@pytest.mark.slow
def test_image_folder_with_a_corrupt_file_skipped(tmp_path: Path) -> None:
    root = tmp_path / "images"
    for name, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (root / name).mkdir(parents=True)
        for i in range(10):
            Image.new("RGB", (40, 30), colour).save(root / name / f"{i}.jpg")
    (root / "red" / "bad.jpg").write_bytes(b"not a jpeg")
    results = run_cli(
        tmp_path, "data=image_folder", f"data.root={root}", "data.num_classes=2", "data.skip_corrupt=true"
    )
    info = results.data_info
    assert info["skipped_files"] == 1 and info["skipped"] == [str(root / "red" / "bad.jpg")]
    assert info["classes"] == ["blue", "red"] and sum(info["sizes"].values()) == 20


@pytest.mark.slow
def test_list_valued_augment_options_reach_results_json(tmp_path: Path) -> None:
    """A run with a list in data.augment (a ListConfig from Hydra) records it as plain JSON."""
    results = run_cli(
        tmp_path,
        "data.augment={translate: 1, scale: [0.9, 1.1], shear: 0.1}",
        "trainer.limit_train_batches=3",
    )
    assert results.status == "ok"
    assert results.data_info["augment"] == {"translate": 1, "scale": [0.9, 1.1], "shear": 0.1}
