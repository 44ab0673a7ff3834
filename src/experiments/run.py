"""One job, start to results: seed, build data/model/trainer from the config, fit, test, record."""

from __future__ import annotations

import json
import logging
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.job import JobInfo, current_job
from experiments.redaction import redact
from experiments.results import RESULTS_FILE, Results, versions

log = logging.getLogger("experiments")


def run_job(cfg: DictConfig, *, worker: bool = False) -> float | None:
    """Train and test one configuration; returns ``optimized_metric`` (its best value) for sweepers.

    ``worker=True`` is an extra DDP rank: it trains but writes no results and prints nothing.
    A SIGINT/SIGTERM ends the job at the next batch with ``checkpoints/interrupted.ckpt`` and
    ``status: interrupted`` (raised as :class:`experiments.signals.Interrupted`).
    """
    start = time.perf_counter()
    run_dir = Path(cfg.paths.output_dir)
    job = current_job(run_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    previous = _previous_results(run_dir) if cfg.get("resume") and not worker else {}
    results = None if worker else Results(run_dir)
    if results:
        results.update(
            status="running",
            error=None,
            run_dir=run_dir,
            name=job.name,
            overrides=list(job.overrides),
            group=job.group,
            swept=job.swept,
            model=cfg.model.name,
            data=cfg.data.name,
            seed=cfg.seed,
            resumed_from=cfg.get("resume"),
            started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            versions=versions(),
        )
    loggers: list[Any] = []
    launcher = share = stop = None
    status = "failed"
    try:
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        from experiments.ddp import RankLauncher, check_devices, processes_to_launch
        from experiments.signals import GracefulStop, Interrupted
        from experiments.sweep import JobDevices, parallel_jobs

        check_devices(cfg.trainer)
        if not worker:
            stop = GracefulStop(run_dir / "checkpoints").install()
        if not worker and job.sweep_dir is not None:
            share = JobDevices(job.sweep_dir, cfg.trainer.accelerator, cfg.trainer.devices, parallel_jobs())
        world_size = 1 if worker else processes_to_launch(cfg.trainer)
        if world_size > 1:
            launcher = RankLauncher(config, world_size)
        wandb_id = (previous.get("wandb") or {}).get("run_id")
        objective = _train_and_test(cfg, config, job, results, loggers, start, share, stop, wandb_id)
        status = "ok"
        return objective
    except (Interrupted, SIGTERMException, KeyboardInterrupt) as error:
        status = "interrupted"
        signum = getattr(error, "signum", 15 if isinstance(error, SIGTERMException) else 2)
        if results:
            results.update(
                status="interrupted",
                error=f"stopped by signal {signum}",
                wall_time_s=time.perf_counter() - start,
            )
        raise Interrupted(signum) from None
    except BaseException as error:
        if results:
            results.update(
                status="failed",
                error=f"{type(error).__name__}: {error}",
                traceback=traceback.format_exc().splitlines()[-20:],
                wall_time_s=time.perf_counter() - start,
            )
        raise
    finally:
        if stop is not None:
            stop.uninstall()
        from experiments.loggers import finish_wandb

        sync = finish_wandb(loggers, exit_code=0 if status == "ok" else 1)
        if sync and results:
            results.update(wandb_sync=sync)
            print(f"W&B run saved offline; upload it with: {sync}")
        if share is not None:
            share.release()
        if launcher is not None:
            codes = launcher.close()
            if any(codes) and status == "ok":
                raise RuntimeError(f"DDP worker ranks exited with codes {codes}")


def _previous_results(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RESULTS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _train_and_test(
    cfg: DictConfig,
    config: dict[str, Any],
    job: JobInfo,
    results: Results | None,
    loggers: list[Any],
    start: float,
    share: Any = None,
    stop: Any = None,
    wandb_id: str | None = None,
) -> float | None:
    import pytorch_lightning as pl
    import torch
    from hydra.utils import instantiate

    from experiments.callbacks import History
    from experiments.checkpoints import load_checkpoint
    from experiments.cpu_threads import choose_threads
    from experiments.loggers import build_loggers, wandb_identity

    setting = cfg.get("threads", "auto")
    if share is not None and share.threads and not isinstance(setting, int):
        setting = share.threads  # a parallel sweep divides the cores among its jobs
    torch.set_num_threads(choose_threads(setting, deterministic=bool(cfg.get("deterministic"))))
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    shareable = redact(config)
    module = build_module(cfg, config=shareable)
    net = module.net
    resume = cfg.get("resume")
    if resume:
        load_checkpoint(resume, expect_model=cfg.model.name)  # a clear error for a foreign or unsafe file
    loggers.extend(build_loggers(cfg.logger, job, wandb_id=wandb_id))
    logged_config = {**shareable, "swept": job.swept} if job.swept else shareable
    for logger in loggers:
        logger.log_hyperparams(logged_config)
    if results and trainer_is_global_zero():
        results.update(wandb=wandb_identity(loggers))
    history = History(
        on_epoch=(lambda epochs: results.update(history=_full_history(cfg, epochs))) if results else None
    )
    callbacks = [instantiate(c) for c in (cfg.callbacks or {}).values() if c] + [history]
    if stop is not None:
        callbacks.append(stop)
    placement = share.trainer_overrides() if share is not None else {}
    trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks, **placement)
    use_cuda_runtime_checks(trainer)
    if results:
        device = device_info(trainer) | (share.describe() if share is not None else {})
        summary = layer_summary(net, cfg)
        flops = summary["totals"]["flops"] if summary else None
        results.update(params=count_parameters(net), flops=flops, summary=summary, device=device)
        if summary:
            from experiments.models.summary import summary_metrics

            for logger in loggers:
                logger.log_metrics(summary_metrics(summary), step=0)
    fit_start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume or None, weights_only=True)
    fit_seconds = time.perf_counter() - fit_start
    checkpoint = trainer.checkpoint_callback
    best_path = checkpoint.best_model_path if checkpoint is not None else ""
    tested = trainer.test(
        module, datamodule=datamodule, ckpt_path="best" if best_path else None, verbose=False
    )
    metrics = {k: float(v) for k, v in (tested[0] if tested else {}).items()}
    epochs = _full_history(cfg, history.epochs)
    last = epochs[-1] if epochs else {}
    metrics.update({k: last[k] for k in ("train/loss", "train/acc", "val/loss", "val/acc") if k in last})
    scored = [r for r in epochs if "val/acc" in r]
    best_epoch = max(scored, key=lambda r: r["val/acc"])["epoch"] if scored else None
    if scored:
        metrics["val/acc_best"] = max(r["val/acc"] for r in scored)
    confusion = module.confusion.compute().tolist() if module.confusion.update_count else None
    if not trainer.is_global_zero or results is None:
        return None
    results.update(
        status="ok",
        metrics=metrics,
        best_epoch=best_epoch,
        epochs=len(epochs),
        best_checkpoint=best_path or None,
        history=epochs,
        throughput={"train_images_per_s": history.images_per_second, "train_seconds": history.train_seconds},
        fit_time_s=fit_seconds,
        wall_time_s=time.perf_counter() - start,
        data_info=datamodule.describe(),
        confusion_matrix=confusion,
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    record_plots(results, loggers)
    print_summary(results.path.parent, metrics, time.perf_counter() - start)
    key = cfg.optimized_metric
    return metrics.get(f"{key}_best", metrics.get(key))


def build_module(cfg: DictConfig, *, config: dict[str, Any] | None = None) -> Any:
    """The LightningModule of ``cfg``: network, loss, optimizer, scheduler and speed options."""
    from hydra.utils import instantiate

    from experiments.module import ClassificationModule

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


def _full_history(cfg: DictConfig, epochs: list[dict[str, float]]) -> list[dict[str, float]]:
    """After a resume, the epochs recorded before the interruption come first (from the earlier attempt)."""
    if not cfg.get("resume") or not epochs:
        return epochs
    run_dir = Path(cfg.paths.output_dir)
    attempts = sorted(run_dir.glob("results.attempt-*.json"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    earlier = json.loads(attempts[-1].read_text()).get("history") or [] if attempts else []
    first_new = epochs[0]["epoch"]
    return [r for r in earlier if r["epoch"] < first_new] + epochs


def trainer_is_global_zero() -> bool:
    """Rank zero of this job (the job's own process; extra DDP or SLURM ranks are not)."""
    from pytorch_lightning.utilities import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def record_plots(results: Results, loggers: list[Any]) -> None:
    """Curves and confusion matrix as PNGs in the run dir, also logged as images; never fails the job."""
    from experiments.run_plots import log_images, save_run_plots

    try:
        paths = save_run_plots(results.path.parent, results.data)
    except Exception as error:  # plots are a report, not the result
        log.warning("could not draw the run's plots: %s", error)
        return
    log_images(loggers, paths)
    results.update(plots=[str(p.relative_to(results.path.parent)) for p in paths])


def count_parameters(net: Any) -> dict[str, int]:
    return {
        "total": sum(p.numel() for p in net.parameters()),
        "trainable": sum(p.numel() for p in net.parameters() if p.requires_grad),
    }


def layer_summary(net: Any, cfg: DictConfig) -> dict[str, Any] | None:
    """The per-layer table of ``python -m experiments.summary`` (shapes, parameters, FLOPs, receptive fields)."""
    from experiments.models.summary import summarize

    try:
        return summarize(net, cfg.data.channels, cfg.image_size)
    except Exception as error:  # the summary is informative only
        log.warning("could not summarise the model: %s", error)
        return None


def device_info(trainer: Any) -> dict[str, Any]:
    import torch

    strategy = trainer.strategy
    return {
        "accelerator": type(trainer.accelerator).__name__.replace("Accelerator", "").lower(),
        "root_device": str(strategy.root_device),
        "world_size": trainer.world_size,
        "strategy": type(strategy).__name__,
        "precision": str(trainer.precision),
        "cpu_threads": torch.get_num_threads(),
    }


def print_summary(run_dir: Path, metrics: dict[str, float], seconds: float) -> None:
    shown = ["test/acc", "test/f1_macro", "test/acc_top5", "test/loss", "val/acc_best"]
    lines = [f"  {key:<14} {metrics[key]:.4f}" for key in shown if key in metrics]
    print(f"Run dir: {run_dir}\nFinished in {seconds:.1f} s. Final metrics:\n" + "\n".join(lines), flush=True)
