"""image_folder: class-per-folder trees, split folders, corrupt files, grey images, the lazy fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from experiments.data.datamodule import ClassificationData
from experiments.data.folders import ImageFolder
from experiments.data.images import CorruptImageError
from experiments.data.sources import DataSourceError

COLOURS = {"cat": (250, 0, 0), "dog": (0, 250, 0), "owl": (0, 0, 250)}


def make_tree(root: Path, per_class: int = 10, parts: tuple[str, ...] = ("",), mode: str = "RGB") -> Path:
    """``root/[part/]<class>/<i>.png`` (and one .jpg each), each class a solid colour."""
    for part in parts:
        for name, colour in COLOURS.items():
            folder = root / part / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                suffix = "jpg" if i == 0 else "png"
                Image.new("RGB", (20 + i, 16), colour).convert(mode).save(folder / f"{i}.{suffix}")
            (folder / "notes.txt").write_text("not an image")
    return root


def module(root: Path, **options: object) -> ClassificationData:
    source = ImageFolder(
        root, channels=int(options.get("channels", 3)), skip_corrupt=bool(options.pop("skip_corrupt", False))
    )
    settings = {"num_classes": 3, "channels": 3, "image_size": 8, "val_fraction": 0.2, "test_fraction": 0.2}
    settings.update(options)
    return ClassificationData(source=source, name="image_folder", cache=False, batch_size=4, **settings)


def test_flat_tree_is_split_stratified(tmp_path: Path) -> None:
    data = module(make_tree(tmp_path))
    data.setup()
    assert data.classes == ["cat", "dog", "owl"]
    assert data.sizes() == {"train": 18, "val": 6, "test": 6}
    assert data.protocol.startswith("seeded stratified 60/20/20% train/val/test split")
    images, labels = data.splits["train"]
    assert images.shape[1:] == (3, 8, 8) and images.dtype == torch.uint8
    red = images[labels == 0][:, 0].float().mean()
    assert red > 200  # the cat class is red: labels follow the folders


def test_split_folders_are_used_and_val_is_carved_from_train(tmp_path: Path) -> None:
    data = module(make_tree(tmp_path, per_class=5, parts=("train", "test")), val_fraction=0.2)
    data.setup()
    assert data.sizes() == {"train": 12, "val": 3, "test": 15}
    assert data.protocol.startswith("the dataset's own train/test split; val: seeded stratified 20% of train")


def test_train_val_test_folders(tmp_path: Path) -> None:
    data = module(make_tree(tmp_path, per_class=2, parts=("train", "val", "test")))
    data.setup()
    assert data.sizes() == {"train": 6, "val": 6, "test": 6}
    assert data.protocol == "the dataset's own train/val/test split"


def corrupt(root: Path) -> Path:
    bad = root / "dog" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return bad


def test_corrupt_image_is_an_error_naming_the_file(tmp_path: Path) -> None:
    bad = corrupt(make_tree(tmp_path))
    with pytest.raises(CorruptImageError) as caught:
        module(tmp_path).setup()
    assert str(bad) in str(caught.value) and "data.skip_corrupt=true" in str(caught.value)


@pytest.mark.parametrize("in_memory", [True, False])
def test_skip_corrupt_skips_and_counts(tmp_path: Path, in_memory: bool) -> None:
    bad = corrupt(make_tree(tmp_path))
    (tmp_path / "owl" / "empty.png").write_bytes(b"")
    data = module(tmp_path, skip_corrupt=True, in_memory=in_memory, num_workers=0)
    data.setup()
    info = data.describe()
    assert info["skipped_files"] == 2
    assert str(bad) in info["skipped"]
    assert sum(data.sizes().values()) == 30


def test_grey_images_are_repeated_for_a_three_channel_model(tmp_path: Path) -> None:
    data = module(make_tree(tmp_path, mode="L"), channels=1, mean=[0.5], std=[0.25])
    data.channels = 3  # the model wants RGB; the stored tensors stay grey
    data.setup()
    assert data.splits["train"][0].shape[1] == 1
    out = data.transform(data.splits["train"][0][:4], train=False)
    assert out.shape == (4, 3, 8, 8)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])


def test_rgb_source_for_a_grey_model_is_converted_once(tmp_path: Path) -> None:
    data = module(make_tree(tmp_path), channels=1)
    data.setup()
    images, labels = data.splits["train"]
    assert images.shape[1] == 1
    assert abs(float(images[labels == 0].float().mean()) - 0.299 * 250) < 2  # luma of pure red


def test_lazy_fallback_serves_the_same_split_through_a_dataloader(tmp_path: Path) -> None:
    make_tree(tmp_path)
    fast, slow = (
        module(tmp_path, mean=[0.5] * 3, std=[0.2] * 3),
        module(tmp_path, in_memory=False, num_workers=0, mean=[0.5] * 3, std=[0.2] * 3),
    )
    fast.setup()
    slow.setup()
    assert fast.sizes() == slow.sizes()
    loader = slow.test_dataloader()
    assert isinstance(loader, torch.utils.data.DataLoader)
    images, labels = zip(*list(loader))
    assert torch.equal(torch.cat(images), fast.splits["test"][0])
    assert torch.equal(torch.cat(labels), fast.splits["test"][1])
    assert "DataLoader" in slow.describe()["pipeline"]


def test_missing_or_empty_roots_explain_the_layout(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"root/<class>/<image>"):
        ImageFolder(tmp_path / "nothing").index()
    with pytest.raises(DataSourceError, match="no class folders"):
        ImageFolder(tmp_path).index()
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "full").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "full" / "a.png")
    with pytest.raises(DataSourceError, match="holds no images"):
        ImageFolder(tmp_path).index()
