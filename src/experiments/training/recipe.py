"""The training recipe of one job, top to bottom: threads, seed, data, model, loggers, Trainer, fit, test.

Like torchvision's ``references/classification/train.py`` it reads in order; what surrounds it (the
results record's status, signals, the device share, W&B's finish) lives in :mod:`experiments.training.job`.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.records.run_record import RunRecord
from experiments.training.context import JobContext
from experiments.training.report import describe_device, device_line, layer_table_or_none, parameter_counts

log = logging.getLogger("experiments")


def train_and_test(job: JobContext) -> float | None:
    """Fit and test ``job.cfg``; record everything in ``results.json``; return the sweepers' objective."""
    import pytorch_lightning as pl
    import torch
    from hydra.utils import instantiate

    from experiments.training.callbacks import History
    from experiments.training.checkpoints import load_checkpoint
    from experiments.training.threads import choose_threads

    cfg, results = job.cfg, job.results
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule = instantiate(cfg.data)
    module = build_module(cfg, config=job.config)
    resume = cfg.get("resume")
    if resume:
        load_checkpoint(resume, expect_model=cfg.model.name)  # a clear error for a foreign or unsafe file
    for logger in job.loggers:
        logger.log_hyperparams(job.logged_config)

    history = History(
        on_epoch=(lambda epochs: results.update(history=full_history(cfg, epochs))) if results else None
    )
    callbacks = [instantiate(c) for c in (cfg.callbacks or {}).values() if c] + [history]
    if job.stop is not None:
        callbacks.append(job.stop)
    placement = job.share.trainer_overrides() if job.share is not None else {}
    # Lightning's own model summary goes unseen (our layer table is printed instead; see record_model).
    trainer = instantiate(
        cfg.trainer, logger=job.loggers or False, callbacks=callbacks, enable_model_summary=False, **placement
    )
    use_cuda_runtime_checks(trainer)
    setting = cfg.get("threads", "auto")
    if job.share is not None and job.share.threads and not isinstance(setting, int):
        setting = job.share.threads  # a parallel sweep divides the cores among its jobs
    deterministic = bool(cfg.get("deterministic"))
    torch.set_num_threads(choose_threads(setting, deterministic=deterministic))
    if results:
        record_model(job, module.net, trainer)

    fit_start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume or None, weights_only=True)
    fit_seconds = time.perf_counter() - fit_start
    val_batches = list(trainer.num_val_batches or [])  # before the test: what each validation read
    stopped = stopping_fields(trainer, full_history(cfg, history.epochs))  # before the test restores a checkpoint
    checkpoint = trainer.checkpoint_callback
    best_path = checkpoint.best_model_path if checkpoint is not None else ""
    tested = trainer.test(
        module, datamodule=datamodule, ckpt_path="best" if best_path else None, verbose=False
    )

    epochs = full_history(cfg, history.epochs)
    metrics = final_metrics(tested[0] if tested else {}, epochs)
    confusion = module.confusion.compute().tolist() if module.confusion.update_count else None
    if not trainer.is_global_zero or results is None:
        return None
    scored = [r for r in epochs if "val/acc" in r]
    data_info = datamodule.describe()
    predictions = save_test_predictions(
        job.run_dir, module, (data_info.get("sizes") or {}).get("test"), datamodule.eval_order.get("test")
    )
    limited = limited_evaluation(datamodule, {"val": val_batches, "test": list(trainer.num_test_batches or [])})
    probes = run_probes(job, module, datamodule, trainer, limited=bool(limited and "test" in limited))
    metrics.update(probes[0] if probes else {})
    results.update(
        status="ok",
        metrics=metrics,
        best_epoch=max(scored, key=lambda r: r["val/acc"])["epoch"] if scored else None,
        epochs=len(epochs),
        best_checkpoint=best_path or None,
        history=epochs,
        epoch_numbering="1-based: epoch 1 is the first pass over the training data (history, best_epoch)",
        throughput={"train_images_per_s": history.images_per_second, "train_seconds": history.train_seconds},
        fit_time_s=fit_seconds,
        wall_time_s=time.perf_counter() - job.started,
        data_info=data_info,
        confusion_matrix=confusion,
        test_predictions=predictions,
        limited_evaluation=limited,
        probes=probes[1] if probes else None,
        **stopped,
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    keep_best_only(best_path, str(OmegaConf.select(cfg, "checkpoints.keep", default="best")))
    if draws_plots(cfg.get("plots", "auto"), in_sweep=job.identity.sweep_dir is not None):
        record_plots(job)
    key = cfg.optimized_metric
    return metrics.get(f"{key}_best", metrics.get(key))


def run_probes(job: JobContext, module: Any, datamodule: Any, trainer: Any, *, limited: bool) -> tuple[dict[str, float], dict[str, Any]] | None:
    """The selected probes (training/probing.py): their metrics, logged, and what the record says of them."""
    from experiments.training.probing import log_probes, probe_after_test, write_probes

    report = probe_after_test(job.cfg, module, datamodule, trainer, limited=limited)
    if report is None:
        return None
    log_probes(job.loggers, report.metrics, trainer.global_step)
    return report.metrics, write_probes(job.run_dir, report)


def keep_best_only(best_path: str, keep: str) -> None:
    """``checkpoints.keep``: once the run is ok, the best weights alone (``keep=all``: every checkpoint); a run
    that fails keeps ``last.ckpt`` to resume. Never fails the finished run (a warning instead)."""
    from experiments.training.checkpoints import keep_checkpoints

    try:
        deleted = keep_checkpoints(best_path, keep)
    except Exception as error:  # the run is done; its checkpoints are only larger than they need be
        log.warning("checkpoints.keep=%s: could not trim the checkpoints: %s", keep, error)
        return
    if deleted:
        log.info("checkpoints.keep=%s: kept %s (weights only), deleted %s", keep, Path(best_path).name,
                 ", ".join(p.name for p in deleted))  # fmt: skip


def build_module(cfg: DictConfig, *, config: dict[str, Any] | None = None) -> Any:
    """The LightningModule of ``cfg``: network, loss, optimizer, scheduler and speed options."""
    from hydra.utils import instantiate

    from experiments.training.module import ClassificationModule

    return ClassificationModule(
        instantiate(cfg.model.net),
        num_classes=cfg.data.num_classes,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler.factory) if cfg.scheduler.get("factory") else None,
        scheduler_interval=cfg.scheduler.interval,
        loss=instantiate(cfg.model.loss) if cfg.model.get("loss") else None,
        config=config,
        channels_last=bool(cfg.get("channels_last")),
        compile=cfg.get("compile") or False,
    )


def use_cuda_runtime_checks(trainer: Any) -> None:
    """Undo Lightning's ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` unless a strategy forks after this point.

    Lightning sets it at import so that a parent process that later forks (``ddp_fork``) does not
    initialise CUDA. With it set, every ``torch.cuda.is_available()`` asks NVML, and Adam calls that
    once per optimizer step: 30-300 us a step on a CPU machine with a CUDA build of torch
    (docs/benchmarks.md). Only fork-based strategies need it, and they fork in ``fit``.
    """
    import os

    if getattr(trainer.strategy, "_start_method", None) != "fork":
        os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)


def record_model(job: JobContext, net: Any, trainer: Any) -> None:
    """Parameters, FLOPs, the layer table and the device in ``results.json``; the model's facts in loggers.

    They are static facts, so they go where each logger keeps those (W&B's config and summary, TensorBoard's
    HParams, the CSV logger's ``hparams.yaml``), not into the metric stream.
    """
    from experiments.models.layer_table import summary_metrics
    from experiments.training.loggers import log_model_facts

    assert job.results is not None
    device = describe_device(trainer) | (job.share.describe() if job.share is not None else {})
    log.info("device: %s", device_line(device))
    table = layer_table_or_none(net, job.cfg)
    if table and job.cfg.trainer.get("enable_model_summary") and sys.stdout.isatty():
        from experiments.models.layer_table import format_table

        print(format_table(table), flush=True)
    flops = table["totals"]["flops"] if table else None
    params = parameter_counts(net)
    job.results.update(params=params, flops=flops, summary=table, device=device)
    facts = {"params": params} | ({"flops": flops} if flops is not None else {})
    log_model_facts(job.loggers, facts, summary_metrics(table) if table else {})


def stopping_fields(trainer: Any, epochs: list[dict[str, float]]) -> dict[str, Any]:
    """The stopping rule the job trained under, what ended it, and whether it hit the budget still improving.

    ``stopped_by`` is ``patience`` where early stopping ended the fit, else ``budget`` (the epoch budget, or
    ``trainer.max_time``/``max_steps``). ``still_improving``: the budget ended it while its monitored metric
    had improved within the last ``patience`` epochs (the last epoch, without early stopping).
    """
    stopper = trainer.early_stopping_callback
    monitor = str(stopper.monitor) if stopper is not None else "val/acc"
    mode = str(stopper.mode) if stopper is not None else "max"
    patience = int(stopper.patience) if stopper is not None else None
    rule = {
        "monitor": monitor,
        "mode": mode,
        "patience": patience,
        "min_delta": float(abs(stopper.min_delta)) if stopper is not None else None,
        "max_epochs": trainer.max_epochs,
    }
    by_patience = stopper is not None and stopper.stopped_epoch > 0
    scored = [r for r in epochs if monitor in r]
    still = None
    if scored and not by_patience:
        pick = max if mode == "max" else min
        best = pick(scored, key=lambda r: r[monitor])["epoch"]
        still = best > scored[-1]["epoch"] - (patience or 1)
    return {"stopping": rule, "stopped_by": "patience" if by_patience else "budget", "still_improving": still}


def final_metrics(tested: dict[str, Any], epochs: list[dict[str, float]]) -> dict[str, float]:
    """Test metrics, the last epoch's train/val metrics and the best validation accuracy."""
    metrics = {k: float(v) for k, v in tested.items()}
    last = epochs[-1] if epochs else {}
    metrics.update({k: last[k] for k in ("train/loss", "train/acc", "val/loss", "val/acc") if k in last})
    scored = [r["val/acc"] for r in epochs if "val/acc" in r]
    if scored:
        metrics["val/acc_best"] = max(scored)
    return metrics


def full_history(cfg: DictConfig, epochs: list[dict[str, float]]) -> list[dict[str, float]]:
    """After a resume, the epochs recorded before the interruption come first (from the earlier attempt)."""
    if not cfg.get("resume") or not epochs:
        return epochs
    attempts = RunRecord.earlier_attempts(cfg.paths.output_dir)
    earlier = attempts[-1].history if attempts else []
    first_new = epochs[0]["epoch"]
    return [r for r in earlier if r["epoch"] < first_new] + epochs


def limited_evaluation(datamodule: Any, batches: dict[str, list[int]]) -> dict[str, dict[str, int]] | None:
    """For a validation or test that read fewer batches than its split has (``trainer.limit_*_batches``,
    ``debug=limit``): how many, and how many classes they held (``data/splits.interleaved_order`` spreads
    the classes over every prefix); one console line where they still missed a class. None: none limited."""
    found = {}
    for part, counts in batches.items():
        if not counts or part not in datamodule.served_labels:
            continue
        seen = datamodule.coverage(part, int(counts[0]))
        if 0 < seen["batches"] < seen["of_batches"]:
            found[part] = seen
            if seen["classes_seen"] < seen["classes"]:
                log.warning(
                    "limited evaluation: %s read %d of %d batches, holding %d of %d classes; its metrics "
                    "are not the %s set's (raise trainer.limit_%s_batches)",
                    part, seen["batches"], seen["of_batches"], seen["classes_seen"], seen["classes"], part, part,
                )  # fmt: skip
    return found or None


def save_test_predictions(run_dir: Any, module: Any, test_size: Any, order: Any = None) -> str | None:
    """Each test image's predicted and true class as ``test_predictions.npz`` (records/test_predictions.py),
    written before the record says ``ok``; its path relative to the run dir (None, with a warning, if none).

    The test set is served class-interleaved (``order``: the split's positions in the order served); the
    file keeps the split's own order, so that runs pair image by image whatever order served them."""
    from experiments.records.test_predictions import write_predictions

    if module.test_predictions is None:
        log.warning("no per-image test predictions saved: %s", module.test_predictions_missing)
        return None
    predicted, true = module.test_predictions
    if isinstance(test_size, int) and test_size < predicted.shape[0]:  # DDP's padding copies at the end
        predicted, true = predicted[:test_size], true[:test_size]
    if order is not None and len(order) == predicted.shape[0]:  # back to the split's own order
        back = order.argsort()
        predicted, true = predicted[back], true[back]
    return write_predictions(run_dir, predicted.numpy(), true.numpy(), num_classes=module.num_classes)


def draws_plots(setting: bool | str, *, in_sweep: bool) -> bool:
    """``plots``: true, false, or auto (a single run draws; a sweep job, compared as a whole, does not)."""
    return not in_sweep if setting == "auto" else bool(setting)


def record_plots(job: JobContext) -> None:
    """Curves and confusion matrix as PNGs in the run dir, also logged as images; never fails the job."""
    from experiments.records.run_plots import log_images, save_run_plots

    assert job.results is not None
    try:
        paths = save_run_plots(job.run_dir, job.results.record)
    except Exception as error:  # plots are a report, not the result
        log.warning("could not draw the run's plots: %s", error)
        return
    log_images(job.loggers, paths)
    job.results.update(plots=[str(p.relative_to(job.run_dir)) for p in paths])
