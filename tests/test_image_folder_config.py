"""``data=image_folder data.root=DIR`` is all a user types: classes and channels come from the tree itself."""

from __future__ import annotations

import pytest
from PIL import Image

from experiments.config import ConfigError, compose
from experiments.records.run_record import RunRecord

from .conftest import QUICK, run_cli

SIZES = ((10, 12), (20, 16), (33, 40))


def make_tree(root, classes=("cat", "dog", "owl"), mode="RGB", per_class=6):
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            width, height = SIZES[i % len(SIZES)]
            colour = (40 * index + 3 * i, 200 - 40 * index, 90) if mode == "RGB" else 40 * index + 3 * i
            Image.new(mode, (width, height), colour).save(root / name / f"{i}.png")
    return root


@pytest.mark.parametrize(("mode", "channels"), [("RGB", 3), ("L", 1)])
def test_classes_and_channels_come_from_the_folders(tmp_path, mode, channels):
    root = make_tree(tmp_path / "tree", classes=("a", "b", "c", "d"), mode=mode)
    cfg = compose(["data=image_folder", f"data.root={root}", "paths.output_dir=x"])
    assert (cfg.data.num_classes, cfg.data.channels) == (4, channels)
    assert (cfg.model.net.num_classes, cfg.model.net.in_channels) == (4, channels)


def test_a_grey_tree_is_read_as_colour_when_asked(tmp_path):
    root = make_tree(tmp_path / "tree", mode="L")
    cfg = compose(["data=image_folder", f"data.root={root}", "data.channels=3", "paths.output_dir=x"])
    assert cfg.data.channels == 3 and cfg.model.net.in_channels == 3


def test_an_explicit_class_count_is_only_a_check(tmp_path):
    root = make_tree(tmp_path / "tree")
    assert compose(["data=image_folder", f"data.root={root}", "data.num_classes=3", "paths.output_dir=x"])
    with pytest.raises(
        ConfigError, match=r"data\.num_classes: is 5, but .* has 3 class folders \(cat, dog, owl\)"
    ):
        compose(["data=image_folder", f"data.root={root}", "data.num_classes=5", "paths.output_dir=x"])


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        (
            "missing",
            r"^Config error: data\.root: .*missing does not exist; give a folder laid out as <class>/<image>$",
        ),
        (
            "one",
            r"^Config error: data\.root: .* has 1 class folder\(s\) \(cat\); a classifier needs at least 2",
        ),
    ],
)
def test_a_missing_root_and_a_single_class_are_refused_before_a_run_dir_exists(tmp_path, layout, message):
    root = tmp_path / "missing" if layout == "missing" else make_tree(tmp_path / "tree", classes=("cat",))
    result = run_cli("data=image_folder", f"data.root={root}", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert __import__("re").match(message, result.stderr.strip()), result.stderr
    assert not (tmp_path / "outputs" / "runs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_run_on_a_generated_tree_trains_with_the_folders_classes(tmp_path, mode):
    root = make_tree(tmp_path / "tree", mode=mode, per_class=10)
    run_dir = tmp_path / "run"
    result = run_cli(
        "data=image_folder",
        f"data.root={root}",
        "data.cache=false",
        "data.batch_size=8",
        *QUICK,
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = RunRecord.read(run_dir)
    assert results.status == "ok" and results.classes == ["cat", "dog", "owl"]
    assert len(results.confusion_matrix) == 3
