"""Composing the real config tree, and validation that stops bad input before torch is imported."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from experiments.config import ConfigError, compose, config_dir, config_groups, validate
from experiments.models.geometry import Conv, Pool
from experiments.records.run_record import RESULTS_FILE

from .conftest import REPO, cli_env, compose_config, options, run_cli

GROUP_OPTIONS = {
    group: options(group)
    for group in (
        "model",
        "pooling",
        "padding",
        "activation",
        "data",
        "optimizer",
        "scheduler",
        "trainer",
        "logger",
        "callbacks",
    )
}


def test_default_composition_is_lenet5_on_digits():
    cfg = compose_config()
    assert cfg.model.name == "lenet5" and cfg.data.name == "digits"
    assert cfg.image_size == 32 and cfg.data.image_size == 32 and cfg.model.net.image_size == 32
    assert cfg.model.net.in_channels == 1 and cfg.model.net.num_classes == 10
    assert cfg.seed == 0
    validate(cfg)


def test_documented_group_options_exist():
    expected = {
        "model": {"lenet5", "alexnet"},
        "pooling": {"max", "avg", "min", "lp", "blurmax", "strided_conv", "none"},
        "padding": {"valid", "same", "zeros", "constant", "reflect", "replicate", "circular", "partial"},
        "activation": {"relu", "tanh", "sigmoid", "scaled_tanh", "leaky_relu", "elu", "gelu", "silu"},
        "optimizer": {"sgd", "adam", "adamw"},
        "scheduler": {"none", "cosine", "step", "onecycle"},
        "trainer": {"default", "cpu", "gpu", "ddp"},
        "logger": {"csv", "tensorboard", "wandb", "many"},
    }
    for group, documented in expected.items():
        assert documented <= set(GROUP_OPTIONS[group]), group


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory) -> str:
    """A three-class folder of images, for the one data option that needs a value from the user (data.root)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    for name in ("cat", "dog", "owl"):
        (root / name).mkdir()
        Image.new("RGB", (8, 8)).save(root / name / "0.png")
    return str(root)


@pytest.mark.parametrize("group", list(GROUP_OPTIONS))
def test_every_group_option_composes_and_validates(group, image_tree):
    required = {"data/image_folder": [f"data.root={image_tree}"]}
    for option in GROUP_OPTIONS[group]:
        cfg = compose_config(f"{group}={option}", *required.get(f"{group}/{option}", []))
        OmegaConf.to_container(cfg, resolve=True)
        validate(cfg)


def geometry_rows_with_every_activation_pair(models: list[str]) -> list[tuple[str, str, str, str]]:
    """Every (model, pooling, padding): the three groups the geometry check reads together, in full.

    The activation (whose rules read one option at a time) is rotated so that each activation meets each
    model, pooling and padding at least once: ~1/8 of the full product's composes.
    """
    pools, pads, acts = GROUP_OPTIONS["pooling"], GROUP_OPTIONS["padding"], GROUP_OPTIONS["activation"]
    return [
        (model, pool, pad, acts[(k + 2 * j + i) % len(acts)])
        for i, model in enumerate(models)
        for j, pool in enumerate(pools)
        for k, pad in enumerate(pads)
    ]


def test_every_model_pooling_padding_activation_combination_validates():
    models = ["lenet5", "alexnet"]
    rows = geometry_rows_with_every_activation_pair(models)
    for column, group in ((0, "model"), (1, "pooling"), (2, "padding")):  # the rotation's promise
        assert {(row[column], row[3]) for row in rows} == set(
            itertools.product(
                models if group == "model" else GROUP_OPTIONS[group], GROUP_OPTIONS["activation"]
            )
        ), group
    for model, pooling, padding, activation in rows:
        validate(
            compose_config(
                f"model={model}", f"pooling={pooling}", f"padding={padding}", f"activation={activation}"
            )
        )


def test_alexnet_takes_its_input_size_and_the_data_follows():
    cfg = compose_config("model=alexnet", "data=flowers17")
    assert cfg.image_size == 224 and cfg.data.image_size == 224
    assert cfg.model.net.num_classes == 17 and cfg.model.net.in_channels == 3
    assert cfg.data.root.endswith("flowers17")


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optimizer.lr=-1", "optimizer.lr"),
        ("optimizer.lr=0", "optimizer.lr"),
        ("optimizer.lr=fast", "optimizer.lr"),
        ("data.batch_size=0", "data.batch_size"),
        ("data.batch_size=1.5", "data.batch_size"),
        ("trainer.max_epochs=0", "trainer.max_epochs"),
        ("model.net.dropout=1.0", "model.net.dropout"),
        ("seed=-3", "seed"),
        ("deterministic=maybe", "deterministic"),
        ("pooling=lp pooling.norm_type=-1", "pooling.norm_type"),
        ("pooling=lp pooling.norm_type=p", "pooling.norm_type"),
        ("model.name=", "model.name"),
        ("model.features.path=experiments.models.architectures.NOPE", "model.features"),
        ("model.features.path=experiments.models.geometry.PADDING_MODES", "model.features"),
        ("padding.mode=mirror", "padding.mode"),
        ("data.val_fraction=0.5 data.test_fraction=0.5", "data.val_fraction"),
        ("image_size=3", "image_size"),
    ],
)
def test_bad_values_raise_an_error_naming_the_key(override, key):
    with pytest.raises(ConfigError) as caught:
        validate(compose_config(*override.split()))
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{key}: ")


def test_geometry_error_names_the_layer_and_the_smallest_input():
    with pytest.raises(ConfigError, match=r"layer 'pool1'.*smallest input this network accepts is 63x63"):
        validate(compose_config("model=alexnet", "data=digits", "image_size=8"))


@pytest.mark.parametrize("group", list(config_groups()))
def test_unknown_group_option_is_refused_by_hydra_with_the_options_on_disk(group):
    """The one place the "no option" refusal's wording is asserted, for every config group."""
    with pytest.raises(ConfigError) as caught:
        compose_config(f"{group}=median")
    key = group.replace("/", ".")
    assert caught.value.key == key
    message = str(caught.value)
    if group.startswith("hydra/"):  # Hydra's own plugins add options of their own to its groups
        head, _, listed = message.partition("; choose one of ")
        assert head == f"{key}: no option 'median'"
        choices = listed.split(", ")
        assert choices == sorted(choices) and set(options(group)) <= set(choices)
    else:
        assert message == f"{key}: no option 'median'; choose one of {', '.join(options(group))}"


@pytest.mark.parametrize("model", GROUP_OPTIONS["model"])
def test_each_model_yaml_is_named_by_its_file_and_names_its_layer_list_once(model):
    raw = OmegaConf.load(config_dir() / "model" / f"{model}.yaml")
    assert raw.name == model
    cfg = compose_config(f"model={model}")
    assert OmegaConf.to_container(cfg.model.net)["layers"] == "${model.features}"  # from conf/model_base.yaml
    layers = instantiate(cfg.model.features)
    assert isinstance(layers, tuple) and layers and all(isinstance(layer, Conv | Pool) for layer in layers)


def test_validating_every_model_imports_no_torch():
    code = (
        "import sys\n"
        "from experiments.config import compose\n"
        f"for model in {GROUP_OPTIONS['model']!r}:\n"
        "    compose([f'model={model}', 'pooling=lp', 'activation=leaky_relu', 'paths.output_dir=x'])\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=cli_env()
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optimizer.lr=-1", "optimizer.lr: must be a number > 0"),
        ("optimizer.lr=abc", "optimizer.lr: must be a number > 0"),
        ("model=alexnet image_size=8", "image_size: model=alexnet"),
    ],
)
def test_cli_config_error_exits_2_before_torch_is_imported(tmp_path, override, message):
    result = run_cli(*override.split(), cwd=tmp_path, python_args=("-X", "importtime"))
    imported = [
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    ]
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"Config error: {message}" in result.stderr
    assert "hydra" in imported and "torch" not in imported and "pytorch_lightning" not in imported
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob(RESULTS_FILE))


def test_help_and_cfg_job_do_not_import_torch(tmp_path):
    for args in (["--help"], ["--cfg", "job"]):
        result = run_cli(*args, cwd=tmp_path, python_args=("-X", "importtime"))
        imported = [
            line.rsplit("|", 1)[-1].strip()
            for line in result.stderr.splitlines()
            if line.startswith("import time:")
        ]
        assert result.returncode == 0, result.stderr[-2000:]
        assert "torch" not in imported
    assert "model:" in result.stdout and "lenet5" in result.stdout


def test_config_dir_is_the_repository_conf():
    assert config_dir().resolve() == (REPO / "conf").resolve()
    assert cli_env()["WANDB_MODE"] == "offline"


def test_a_datasets_empty_augment_mapping_takes_options_without_a_plus() -> None:
    cfg = compose(["data.augment.crop_padding=2", "data.augment.scale=[0.9,1.1]"])
    assert OmegaConf.to_container(cfg.data.augment) == {"crop_padding": 2, "scale": [0.9, 1.1]}
    cfg = compose(["data=cifar10", "data.augment={translate: 1}"])  # merged into the dataset's own
    assert OmegaConf.to_container(cfg.data.augment) == {"crop_padding": 4, "hflip": True, "translate": 1}
    with pytest.raises(ConfigError, match=r"data\.augment: must be a mapping with keys from \[.*'translate'"):
        compose(["data.augment.cropp=2"])
