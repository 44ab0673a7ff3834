"""``experiments test``'s job: a saved network on a test set, recorded as a run of its own.

The same pieces as the training recipe (:func:`experiments.training.recipe.build_module`, the data group's
datamodule, :func:`~experiments.training.recipe.final_metrics`, the per-image predictions of
:func:`~experiments.training.recipe.save_test_predictions`), without the fit: the checkpoint's weights are
loaded into the module (strictly: a checkpoint of another network is refused), and ``trainer.test`` runs.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.config import ConfigError
from experiments.records.record_writer import RecordWriter, versions


def load_weights(cfg: DictConfig, checkpoint: Path) -> tuple[Any, dict[str, Any]]:
    """The LightningModule of ``cfg`` holding ``checkpoint``'s weights, and the checkpoint; a checkpoint whose
    tensors do not fit the config's model is one ConfigError line (checked before any run dir exists)."""
    import torch

    from experiments.training.checkpoints import load_checkpoint
    from experiments.training.recipe import build_module

    state = load_checkpoint(checkpoint, key="checkpoint", expect_model=str(cfg.model.name))
    weights = state.get("state_dict")
    if not isinstance(weights, dict):
        raise ConfigError("checkpoint", f"{checkpoint} has no state_dict: not a checkpoint of a run")
    module = build_module(cfg)
    own = module.state_dict()
    wrong = [
        k for k, v in weights.items() if k in own and tuple(own[k].shape) != tuple(getattr(v, "shape", ()))
    ]
    missing, unexpected = sorted(set(own) - set(weights)), sorted(set(weights) - set(own))
    if wrong or missing or unexpected:
        what = (
            f"{wrong[0]} is {list(weights[wrong[0]].shape)} there, {list(own[wrong[0]].shape)} here"
            if wrong
            else f"missing {', '.join(missing[:3])}"
            if missing
            else f"unexpected {', '.join(unexpected[:3])}"
        )
        raise ConfigError(
            "checkpoint",
            f"{checkpoint} does not hold the weights of model={cfg.model.name} as configured ({what})",
        )
    with torch.no_grad():
        module.load_state_dict(weights, strict=True)
    return module, state


def evaluate(
    cfg: DictConfig, module: Any, out_dir: Path, *, evaluated: dict[str, Any], name: str, overrides: list[str]
) -> RecordWriter:
    """Test ``module`` on ``cfg.data``'s test split; ``results.json``, predictions and ``.hydra/`` in ``out_dir``."""
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from experiments.records.atomic import write_atomic
    from experiments.records.hydra_files import masked_yaml
    from experiments.training.probing import probe_after_test, write_probes
    from experiments.training.recipe import final_metrics, limited_evaluation, save_test_predictions
    from experiments.training.report import parameter_counts

    started = time.perf_counter()
    (out_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    results = RecordWriter(out_dir)
    write_atomic(out_dir / ".hydra" / "config.yaml", masked_yaml(cfg))
    write_atomic(out_dir / ".hydra" / "overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(overrides)))
    results.update(
        status="running",
        run_dir=str(out_dir),
        name=name,
        overrides=overrides,
        model=str(cfg.model.name),
        data=str(cfg.data.name),
        seed=cfg.get("seed"),
        evaluated=evaluated,
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        versions=versions(),
        params=parameter_counts(module.net),
    )
    try:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule = instantiate(cfg.data)
        trainer = instantiate(
            cfg.trainer,
            logger=False,
            callbacks=[],
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=False,
            default_root_dir=str(out_dir),
        )
        tested = trainer.test(module, datamodule=datamodule, verbose=False)
        limited = limited_evaluation(datamodule, {"test": list(trainer.num_test_batches or [])})
        report = probe_after_test(cfg, module, datamodule, trainer, limited=bool(limited))
        data_info = datamodule.describe()
        predictions = save_test_predictions(
            out_dir, module, (data_info.get("sizes") or {}).get("test"), datamodule.eval_order.get("test")
        )
        results.update(
            status="ok",
            metrics=final_metrics(tested[0] if tested else {}, []) | (report.metrics if report else {}),
            probes=write_probes(out_dir, report) if report else None,
            data_info=data_info,
            confusion_matrix=module.confusion.compute().tolist() if module.confusion.update_count else None,
            test_predictions=predictions,
            limited_evaluation=limited,
            wall_time_s=time.perf_counter() - started,
            finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
    except BaseException as error:
        results.update(status="failed", error=f"{type(error).__name__}: {error}")
        raise
    return results
