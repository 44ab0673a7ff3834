"""``experiments test PATH [data=... data.KEY=... paths.data_dir=... trainer.KEY=...]``: evaluate a saved run.

PATH is a run dir (its best checkpoint, else ``last.ckpt``) or a checkpoint file. The network is tested on
its own test set, or on another data group's (``data=mnist``; the same number of classes and channels),
and the evaluation is a run of its own: a new dir (``-o DIR``, default ``outputs/tests/<date>/<time>``)
with ``results.json`` (status, test metrics, ``evaluated``: the checkpoint and run it tested),
``test_predictions.npz`` and ``.hydra/``, which ``experiments compare`` reads beside training runs.
Bad input (a missing path, a file that is not a checkpoint, a checkpoint of another model, data of another
shape or missing) is one line and exit 2, before the new dir exists.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.config import ConfigError, compose, validate

#: The overrides a test takes: which data, where it lives, how the Trainer runs.
ALLOWED = ("data=", "data.", "paths.data_dir=", "trainer.", "+trainer.", "probes=", "probes.", "+probes.")


def find_checkpoint(path: Path) -> tuple[Path, Path | None]:
    """(checkpoint, its run dir or None) for a run dir or a checkpoint file; ConfigError where there is none."""
    from experiments.records.run_record import RunRecord

    if not path.exists():
        raise ConfigError("PATH", f"no such run dir or checkpoint: {path}")
    if path.is_dir():
        if not RunRecord.exists(path) and not (path / ".hydra").is_dir():
            raise ConfigError("PATH", f"{path} is not a run dir (no results.json, no .hydra/)")
        best = RunRecord.read(path).best_checkpoint
        for candidate in ([path / best] if best else []) + [
            path / "checkpoints" / f for f in ("best.ckpt", "last.ckpt")
        ]:
            if candidate.is_file():
                return candidate, path
        raise ConfigError("PATH", f"{path} has no checkpoint (checkpoints/best.ckpt or last.ckpt)")
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else None
    return path, run_dir if run_dir is not None and RunRecord.exists(run_dir) else None


def evaluation_config(saved: dict[str, Any], overrides: list[str]) -> DictConfig:
    """The checkpoint's own (resolved) config, with its ``data`` recomposed where ``data=``,
    ``data.*`` or ``paths.data_dir=`` is given, and ``trainer.*`` applied; refused where the data's classes
    or channels differ from the network's."""
    cfg = OmegaConf.create(saved)
    bad = [o for o in overrides if not o.startswith(ALLOWED)]
    if bad:
        raise ConfigError(
            bad[0].split("=")[0],
            "experiments test takes data=, data.*, paths.data_dir=, trainer.* and probes overrides",
        )
    data_overrides = [o for o in overrides if o.startswith(("data=", "data.", "paths.data_dir="))]
    if data_overrides:
        name = next((o.split("=", 1)[1] for o in data_overrides if o.startswith("data=")), cfg.data.name)
        base = [f"model={cfg.model.name}", f"image_size={cfg.image_size}", f"seed={cfg.seed}", f"data={name}"]
        if not any(o.startswith("paths.data_dir=") for o in data_overrides):
            base.append(f"paths.data_dir={cfg.paths.data_dir}")
        composed = compose([*base, *(o for o in data_overrides if not o.startswith("data="))], validated=True)
        composed = OmegaConf.create(
            {
                "data": OmegaConf.to_container(composed.data, resolve=True),
                "paths": {"data_dir": composed.paths.data_dir},
            }
        )
        for key in ("num_classes", "channels"):
            if composed.data[key] != cfg.data[key]:
                raise ConfigError(
                    "data",
                    f"data={composed.data.name} has {key}={composed.data[key]}, the network was trained with "
                    f"{cfg.data[key]} (data={cfg.data.name}); test it on data with {key}={cfg.data[key]}",
                )
        cfg.data, cfg.paths.data_dir = composed.data, composed.paths.data_dir
    for override in overrides:
        if override.lstrip("+").startswith("trainer."):
            key, _, value = override.lstrip("+").partition("=")
            OmegaConf.update(cfg, key, OmegaConf.create({"v": value}).v if value else None, force_add=True)
    probes = [o for o in overrides if o.lstrip("+").startswith("probes")]
    cfg.probes = compose(probes, validated=False).probes if probes else {}  # none unless asked for here
    validate(cfg)
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="experiments test",
        description=__doc__.splitlines()[0],
        epilog="\n".join(__doc__.splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="PATH", help="a run dir or a checkpoint file (.ckpt)")
    parser.add_argument(
        "overrides",
        nargs="*",
        help="data=mnist, data.eval_batch_size=500, paths.data_dir=..., trainer.accelerator=cpu",
    )
    parser.add_argument(
        "-o", "--out", type=Path, help="the new run dir (default: outputs/tests/<date>/<time>)"
    )
    args = parser.parse_args(argv)
    from experiments.cli.train import fail

    try:
        return run_test(Path(args.path), list(args.overrides), args.out)
    except ConfigError as error:
        fail(error)
    return 2


def run_test(path: Path, overrides: list[str], out: Path | None) -> int:
    """Check everything, then evaluate into a new dir; 0 when the test ran."""
    from experiments.cli.preflight import check_data_files
    from experiments.data.errors import DataSourceError
    from experiments.records.lock import claimed_run_dir
    from experiments.records.run_record import RunRecord

    checkpoint, run_dir = find_checkpoint(path)
    from experiments.training.checkpoints import load_checkpoint

    saved = load_checkpoint(checkpoint, key="checkpoint").get("config")
    if not isinstance(saved, dict) or "model" not in saved:
        raise ConfigError(
            "checkpoint", f"{checkpoint} carries no config: not a checkpoint of an experiments run"
        )
    cfg = evaluation_config(saved, overrides)
    try:
        check_data_files(cfg)
    except DataSourceError as error:
        raise ConfigError("data.root", str(error)) from None
    from experiments.training.evaluate import evaluate, load_weights
    from experiments.training.task import quiet_library_warnings

    quiet_library_warnings()
    module, _ = load_weights(cfg, checkpoint)
    out = out or Path("outputs") / "tests" / datetime.now().strftime("%Y-%m-%d/%H-%M-%S-%f")
    if RunRecord.exists(out):
        raise ConfigError("--out", f"{out} already holds a run (results.json); choose a new dir")
    trained = RunRecord.read(run_dir) if run_dir is not None else None
    name = f"test of {trained.name if trained and trained.name else checkpoint}" + (
        f" on {cfg.data.name}" if overrides else ""
    )
    evaluated = {
        "checkpoint": str(checkpoint.resolve()),
        "run": str(run_dir.resolve()) if run_dir is not None else None,
        "trained_on": str(saved["data"]["name"]),
    }
    print(f"experiments test: {cfg.model.name} from {checkpoint} on {cfg.data.name} -> {out}", flush=True)
    run_overrides = [*(trained.overrides if trained else []), *overrides]
    out.mkdir(parents=True, exist_ok=True)
    with claimed_run_dir(out):
        record = evaluate(cfg, module, out, evaluated=evaluated, name=name, overrides=run_overrides).record
    for key in sorted(record.metrics):
        print(f"  {key:<14} {record.metrics[key]:.4f}")
    print(f"Record: {RunRecord.file(out)}\nNext:\n  experiments compare {run_dir or checkpoint} {out}")
    return 0
