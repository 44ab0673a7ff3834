"""Issue #26: a config is untrusted input; every callable it names comes from an allowlist.

A crafted run dir whose ``.hydra/overrides.yaml`` would empty a file through ``builtins.open`` is refused
(exit 2) and the file is untouched; every shipped preset passes the allowlist on its own prefixes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from experiments.config import ConfigError, config_groups
from experiments.config.targets import ALLOWED, ENV, check_targets, target_problem

from .conftest import compose_config, run_cli

PAYLOAD = (
    "model.features._target_=builtins.open",
    "~model.features.path",
    "+model.features.file={victim}",
    "+model.features.mode=w",
)


def crafted_run(run_dir: Path, overrides: list[str]) -> Path:
    """A run dir that ``resume=`` accepts (a loadable checkpoint, no lock) whose replayed overrides are ``overrides``."""
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text(
        OmegaConf.to_yaml(compose_config(output_dir=str(run_dir)))
    )
    (run_dir / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(overrides)))
    (run_dir / "checkpoints").mkdir()
    torch.save({"state_dict": {}, "epoch": 1}, run_dir / "checkpoints" / "last.ckpt")
    return run_dir


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize(
    "payload",
    [
        PAYLOAD,
        ("model.features.path=builtins.open",),  # get_object's path
        ("activation._target_=builtins.open", "+activation.file={victim}", "+activation.mode=w"),
        ("model.features._target_=torch.nn.modules.module.os.remove", "~model.features.path"),
        (
            "model.features._target_=logging.FileHandler",
            "~model.features.path",
            "+model.features.filename={victim}",
        ),
    ],
    ids=["builtins.open", "get_object path", "activation", "escape through os", "logging.FileHandler"],
)
def test_a_crafted_run_dir_runs_no_code_and_truncates_nothing(tmp_path, payload):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run_dir = crafted_run(tmp_path / "crafted", [o.format(victim=victim) for o in payload])
    before = digest(tmp_path)
    result = run_cli(f"resume={run_dir}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "not an allowed target" in result.stderr or "reaches outside" in result.stderr
    assert victim.read_text() == "precious"
    assert digest(tmp_path) == before


def test_a_target_on_the_command_line_is_checked_too(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    result = run_cli(*(o.format(victim=victim) for o in PAYLOAD), cwd=tmp_path)
    assert (
        result.returncode == 2 and "model.features._target_: builtins.open is not an allowed" in result.stderr
    )
    assert victim.read_text() == "precious" and not (tmp_path / "outputs").exists()


def test_a_package_the_user_allows_in_the_environment_passes(monkeypatch):
    cfg = compose_config("model.features.path=mypkg.layers.MINE")
    with pytest.raises(ConfigError, match=r"model.features.path: mypkg.layers.MINE is not an allowed target"):
        check_targets(cfg)
    monkeypatch.setenv(ENV, "mypkg.")
    check_targets(cfg)


@pytest.mark.parametrize(
    "target",
    [
        "builtins.open",
        "os.system",
        "experimentsx.evil",
        "torch.nn.modules.module.os.system",
        "torch.load",
        "a..b",
        "",
    ],
)
def test_targets_outside_the_allowlist_are_refused(target):
    assert target_problem(target) is not None


def test_every_shipped_config_passes_the_allowlist_on_its_prefixes_alone(monkeypatch):
    """Every option of every group (Hydra's launchers, sweepers and logging too) and every preset: each
    names only allowed callables, on the prefixes alone (no trust in the conf tree's own names), and
    validates with them."""
    import experiments.config.targets as targets
    from experiments.config import validate
    from experiments.config.compose import compose_in, hydra_session

    checked = 0
    with hydra_session() as session:
        for group, options in config_groups().items():
            for option in options:
                override = f"{group}={option}"
                try:
                    cfg = compose_in(session, [override, "paths.output_dir=x"], hydra_config=True)
                except ConfigError:  # a launcher whose plugin is not installed
                    continue
                with monkeypatch.context() as strict:
                    strict.setattr(targets, "conf_targets", lambda logging=False: frozenset())
                    bad = [
                        (key, problem)
                        for key, value in targets._targets(cfg, "")
                        if not key.endswith(("()", ".class"))
                        and (problem := target_problem(value, ALLOWED)) is not None
                    ]
                assert not bad, override
                check_targets(cfg)  # the logging classes against the conf tree's own
                if group != "data" or option != "image_folder":  # image_folder needs data.root
                    validate(cfg)
                checked += 1
    assert checked > 60
