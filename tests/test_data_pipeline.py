"""The fast path: sharded sliced batches, batched augmentation, normalisation and the decoded-tensor cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch.utils.data import DistributedSampler

from experiments.data.augment import Augment, random_crop, random_distortion, random_resized_crop
from experiments.data.batches import TensorBatches, shard_indices
from experiments.data.cache import load_or_decode
from experiments.data.channels import channel_stats
from experiments.data.datamodule import ClassificationData
from experiments.data.folders import ImageFolder
from experiments.data.sources import Digits

# -- batches and shards --------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 10, 33])
@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_shards_match_distributed_sampler(n: int, world_size: int, drop_last: bool, shuffle: bool) -> None:
    for epoch in (0, 1):
        for rank in range(world_size):
            sampler = DistributedSampler(
                range(n), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=11, drop_last=drop_last
            )
            sampler.set_epoch(epoch)
            ours = shard_indices(
                n,
                shuffle=shuffle,
                seed=11,
                epoch=epoch,
                rank=rank,
                world_size=world_size,
                drop_last=drop_last,
            )
            assert ours.tolist() == list(sampler)


@pytest.mark.parametrize("drop_last", [False, True])
def test_rank_shards_are_disjoint_and_cover_the_epoch(drop_last: bool) -> None:
    n, world_size, batch = 103, 4, 8
    data = (torch.arange(n), torch.arange(n))
    seen = []
    for rank in range(world_size):
        batches = TensorBatches(
            data, batch, shuffle=True, seed=2, drop_last=drop_last, rank=rank, world_size=world_size
        )
        items = [b[1] for b in batches]
        assert len(items) == len(batches)
        assert all(len(b) == batch for b in items) or not drop_last
        seen.append(torch.cat(items).tolist())
    flat = [i for part in seen for i in part]
    if drop_last:  # 103 -> 25 per rank -> 3 full batches of 8 each; no index twice
        assert len(flat) == len(set(flat)) == 4 * 24
    else:  # padded to 104 by repeating the first index of the permutation; all 103 seen
        assert set(flat) == set(range(n)) and len(flat) == 104


def test_each_epoch_gets_a_new_permutation() -> None:
    epoch = {"value": 0}
    batches = TensorBatches(
        (torch.arange(50), torch.arange(50)), 50, shuffle=True, epoch=lambda: epoch["value"]
    )
    first = next(iter(batches))[1]
    epoch["value"] = 1
    second = next(iter(batches))[1]
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(50))
    assert not torch.equal(first, second)


# -- augmentation --------------------------------------------------------------------------------


def test_random_crop_is_a_shifted_window_of_the_padded_image() -> None:
    torch.manual_seed(0)
    images = torch.arange(2 * 3 * 6 * 6, dtype=torch.uint8).view(2, 3, 6, 6)
    out = random_crop(images, 2)
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(images, (2,) * 4)
    for i in range(2):
        windows = [padded[i, :, y : y + 6, x : x + 6] for y in range(5) for x in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_hflip_flips_some_images_and_keeps_the_rest() -> None:
    torch.manual_seed(0)
    images = torch.rand(64, 1, 4, 4)
    out = Augment(hflip=True)(images)
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, images)]
    kept = [torch.equal(o, i) for o, i in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept)) and 10 < sum(flipped) < 54


def test_random_resized_crop_with_full_scale_is_identity_or_mirror() -> None:
    images = torch.rand(8, 3, 10, 10)
    out = random_resized_crop(images, (1.0, 1.0), (1.0, 1.0), hflip=True)
    for o, i in zip(out, images):
        assert torch.allclose(o, i, atol=1e-5) or torch.allclose(o, i.flip(-1), atol=1e-5)
    zoomed = random_resized_crop(images, (0.1, 0.2), (0.75, 1.33))
    assert zoomed.shape == images.shape and not torch.allclose(zoomed, images)


def test_augment_config_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown option"):
        Augment.from_config({"hflp": True})
    with pytest.raises(ValueError, match="resized_crop_scale"):
        Augment.from_config({"resized_crop_scale": [0.5, 2.0]})
    assert Augment.from_config({"resized_crop_scale": [0.35, 1]}).resized_crop_scale == (0.35, 1.0)
    assert not Augment.from_config({}).active


def ink_moments(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: the ink's centroid (x, y) and its spread (std of x, std of y), in pixels."""
    _, _, h, w = images.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float), torch.arange(w, dtype=torch.float), indexing="ij"
    )
    mass = images.sum(dim=(1, 2, 3))
    centre = torch.stack([(images * g).sum(dim=(1, 2, 3)) / mass for g in (xs, ys)], dim=1)
    spread = torch.stack(
        [
            ((images * (g - c[:, None, None, None]) ** 2).sum(dim=(1, 2, 3)) / mass).sqrt()
            for g, c in zip((xs, ys), centre.T)
        ],
        dim=1,
    )
    return centre, spread


def blobs(n: int = 32, size: int = 32) -> torch.Tensor:
    """Centred Gaussian blobs, wider than tall, well inside the frame."""
    ys, xs = torch.meshgrid(
        torch.arange(size, dtype=torch.float), torch.arange(size, dtype=torch.float), indexing="ij"
    )
    c = (size - 1) / 2
    blob = torch.exp(-((xs - c) ** 2) / (2 * 3.0**2) - ((ys - c) ** 2) / (2 * 2.0**2))
    return blob.expand(n, 1, size, size).clone()


def test_planar_distortions_move_scale_squeeze_and_shear_as_configured() -> None:
    images = blobs()
    centre, spread = ink_moments(images)
    assert torch.allclose(random_distortion(images), images, atol=1e-5)  # nothing asked, nothing changed

    torch.manual_seed(0)
    shifted_centre, shifted_spread = ink_moments(random_distortion(images, translate=3))
    moved = shifted_centre - centre
    assert moved.abs().max() <= 3.01 and (moved.abs() > 0.5).float().mean() > 0.5
    assert torch.allclose(
        shifted_spread, spread, atol=0.1
    )  # a shift keeps the shape (bilinear blurs a little)

    _, zoomed = ink_moments(random_distortion(images, scale=(0.5, 0.5)))
    assert torch.allclose(zoomed / spread, torch.full_like(spread, 0.5), atol=0.03)

    _, squeezed = ink_moments(random_distortion(images, squeeze=0.3))
    ratio = (squeezed[:, 0] / squeezed[:, 1]) / (spread[:, 0] / spread[:, 1])  # (1 + s)^2 in [0.49, 1.69]
    assert ratio.min() >= 0.48 and ratio.max() <= 1.70 and ratio.std() > 0.05
    assert torch.allclose(squeezed.prod(dim=1), spread.prod(dim=1), rtol=0.05)  # area kept

    line = torch.zeros(16, 1, 32, 32)
    line[..., 10] = 1.0  # a vertical stroke at x = 10
    sheared = random_distortion(line, shear=0.3)
    xs = torch.arange(32, dtype=torch.float)
    rows = slice(4, 28)
    x_of_row = (sheared[:, 0, rows] * xs).sum(-1) / sheared[:, 0, rows].sum(-1)
    slope = (x_of_row[:, -1] - x_of_row[:, 0]) / (rows.stop - 1 - rows.start)
    assert slope.abs().max() <= 0.31 and slope.abs().max() > 0.05  # x moves with y, by at most the shear


def test_distortions_are_checked_and_run_on_uint8_batches() -> None:
    with pytest.raises(ValueError, match=r"data\.augment\.squeeze"):
        Augment.from_config({"squeeze": 1.5})
    with pytest.raises(ValueError, match=r"data\.augment\.shear"):
        Augment.from_config({"shear": -0.1})
    assert Augment.from_config({"scale": [0.9, 1.1]}).scale == (0.9, 1.1)
    data = digits_module(augment={"translate": 2, "scale": [0.9, 1.1], "squeeze": 0.1, "shear": 0.2})
    data.setup()
    images = data.splits["train"][0][:16]
    torch.manual_seed(0)
    out = data.transform(images, train=True)
    assert out.dtype == torch.float32 and out.shape == images.shape
    assert not torch.allclose(out, data.transform(images, train=False))


def test_the_config_rules_know_every_augment_option() -> None:
    from dataclasses import fields

    from experiments.config.rules import AUGMENT_KEYS

    assert AUGMENT_KEYS == {f.name for f in fields(Augment)}


def digits_module(**options: object) -> ClassificationData:
    settings = {"num_classes": 10, "channels": 1, "image_size": 12, "cache": False, "batch_size": 32}
    settings.update(options)
    return ClassificationData(source=Digits(), name="digits", **settings)


def test_augmentation_only_for_training_batches_and_normalisation_uses_dataset_stats() -> None:
    data = digits_module(augment={"crop_padding": 3, "hflip": True}, mean=[0.25], std=[0.5])
    data.setup()
    images = data.splits["val"][0][:16]
    expected = (images.float() / 255 - 0.25) / 0.5
    assert torch.allclose(data.transform(images, train=False), expected, atol=1e-5)
    torch.manual_seed(0)
    assert not torch.allclose(data.transform(images, train=True), expected, atol=1e-5)


def test_normalisation_statistics_from_the_training_split() -> None:
    data = digits_module()
    data.setup()
    train = data.splits["train"][0]
    mean, _ = channel_stats(train)
    assert torch.allclose(mean, train.float().mean() / 255, atol=1e-4)
    out = data.transform(train, train=False)
    assert abs(float(out.mean())) < 1e-3 and abs(float(out.std()) - 1) < 1e-2
    assert data.describe()["normalization"] == "training split statistics"


def test_batches_are_slices_of_tensors_on_the_target_device() -> None:
    data = digits_module(device="cpu", drop_last=True)
    data.setup()
    loader = data.train_dataloader()
    assert isinstance(loader, TensorBatches)
    images, labels = next(iter(loader))
    assert images.dtype == torch.uint8 and images.shape == (32, 1, 12, 12) and labels.dtype == torch.int64
    assert len(loader) == data.sizes()["train"] // 32
    info = data.describe()
    assert info["sizes"] == {"train": 1258, "val": 179, "test": 360}
    assert info["pipeline"].startswith("in-memory")


# -- cache ---------------------------------------------------------------------------------------


def small_tree(root: Path) -> Path:
    for name, colour in (("a", (255, 0, 0)), ("b", (0, 0, 255))):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (9, 9), colour).save(root / name / f"{i}.png")
    return root


def test_cache_hit_miss_and_invalidation(tmp_path: Path) -> None:
    tree, cache = small_tree(tmp_path / "images"), tmp_path / "cache"
    first = load_or_decode(ImageFolder(tree), 8, "resize", cache)
    assert first.status == "miss" and first.path is not None and first.path.is_file()
    second = load_or_decode(ImageFolder(tree), 8, "resize", cache)
    assert second.status == "hit" and torch.equal(second.decoded.images, first.decoded.images)
    assert torch.load(first.path, weights_only=True)["classes"] == ["a", "b"]
    assert load_or_decode(ImageFolder(tree), 10, "resize", cache).status == "miss"  # another size
    Image.new("RGB", (9, 9), (0, 255, 0)).save(tree / "a" / "0.png")  # content changed
    changed = load_or_decode(ImageFolder(tree), 8, "resize", cache)
    assert changed.status == "miss" and int(changed.decoded.images[0, 1].float().mean()) > 200


def test_a_process_hashes_an_unchanged_data_file_once_and_a_changed_one_again(tmp_path, monkeypatch) -> None:
    import hashlib

    from experiments.data import cache as data_cache

    reads: list[str] = []
    digest = hashlib.file_digest
    monkeypatch.setattr(
        data_cache.hashlib, "file_digest", lambda f, name: reads.append(f.name) or digest(f, name)
    )
    path = tmp_path / "train-images"
    path.write_bytes(b"a" * 100)
    first = data_cache.file_digest(path)
    assert (
        data_cache.file_digest(path) == first and len(reads) == 1
    )  # the next job of a sweep: no second read
    path.write_bytes(b"b" * 100)  # same size, new bytes
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert data_cache.file_digest(path) == hashlib.sha256(b"b" * 100).hexdigest() != first and len(reads) == 2


def test_corrupt_cache_entry_is_ignored_and_rewritten(tmp_path: Path) -> None:
    tree, cache = small_tree(tmp_path / "images"), tmp_path / "cache"
    entry = load_or_decode(ImageFolder(tree), 8, "resize", cache).path
    assert entry is not None
    entry.write_bytes(b"garbage")
    assert load_or_decode(ImageFolder(tree), 8, "resize", cache).status == "miss"
    assert load_or_decode(ImageFolder(tree), 8, "resize", cache).status == "hit"


def test_unwritable_cache_path_is_bypassed(tmp_path: Path) -> None:
    tree = small_tree(tmp_path / "images")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    result = load_or_decode(ImageFolder(tree), 8, "resize", blocker / "cache")
    assert result.status == "unwritable" and len(result.decoded.labels) == 6


def test_datamodule_records_cache_status(tmp_path: Path) -> None:
    tree = small_tree(tmp_path / "images")
    for expected in ("miss", "hit"):
        data = ClassificationData(
            source=ImageFolder(tree), name="image_folder", num_classes=2, channels=3, image_size=8,
            val_fraction=0.34, test_fraction=0.34, cache_dir=str(tmp_path / "cache"),
        )  # fmt: skip
        data.setup()
        assert data.describe()["cache"] == expected
