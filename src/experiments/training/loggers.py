"""Loggers from the ``logger`` group; W&B mode resolution that never prompts; static facts kept as such.

A run's static facts (its hyper-parameters, parameters, FLOPs) go where each tool keeps them, never into
its metric stream: W&B's run config and summary, TensorBoard's HParams session, the CSV logger's
``hparams.yaml``.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from experiments.config.lookup import select
from experiments.config.wandb_mode import resolve_wandb_mode
from experiments.records.identity import JobInfo
from experiments.records.redaction import redact

#: Groups whose option is no hyper-parameter of the run (how it is recorded), left out of its HParams.
NOT_HPARAMS = ("logger",)
#: How long rows of step metrics alone (``train/loss_step``) may wait before ``metrics.csv`` is rewritten.
STEP_ROWS_EVERY_S = 5.0


def only_step_metrics(row: Mapping[str, Any]) -> bool:
    """A row with per-step metrics only (Lightning's ``*_step`` names), no epoch or learning-rate value."""
    return all(key in ("epoch", "step") or key.endswith("_step") for key in row)


def csv_logger(save_dir: str, **kwargs: Any) -> Any:
    """Lightning's CSVLogger writing ``metrics.csv`` and ``hparams.yaml`` into the run dir, each atomically.

    A resumed or rerun job keeps the earlier attempt's rows up to where it restarts; the rows it redoes
    replace them (no duplicate epochs). Lightning's own writer deletes an existing ``metrics.csv``.
    Lightning saves after every ``log_metrics``; the file is rewritten at once for a row with an epoch
    metric and at the end (or a failure), and at most every ``STEP_ROWS_EVERY_S`` for step rows alone.
    """
    from pytorch_lightning.core.saving import save_hparams_to_yaml
    from pytorch_lightning.loggers import CSVLogger
    from pytorch_lightning.loggers.csv_logs import ExperimentWriter

    from experiments.records.atomic import atomic_path
    from experiments.records.metrics_csv import read_rows, write_rows

    class AtomicWriter(ExperimentWriter):
        def _check_log_dir_exists(self) -> None:
            self.metrics_keys, self.earlier_rows = read_rows(Path(self.metrics_file_path))
            self.attempt_rows: list[dict[str, Any]] = []
            self.unwritten = self.epoch_row_waits = False
            self.written_at = time.monotonic()

        def save(self) -> None:
            if self.metrics:
                self.epoch_row_waits |= not all(only_step_metrics(row) for row in self.metrics)
                self.attempt_rows.extend(self.metrics)
                self.metrics = []
                self.unwritten = True
            if self.epoch_row_waits or time.monotonic() - self.written_at >= STEP_ROWS_EVERY_S:
                self.flush()

        def flush(self) -> None:
            if not self.unwritten:
                return
            self.metrics_keys = write_rows(
                Path(self.metrics_file_path), self.metrics_keys, self.earlier_rows, self.attempt_rows
            )
            self.unwritten = self.epoch_row_waits = False
            self.written_at = time.monotonic()

        def log_hparams(self, params: dict[str, Any]) -> None:
            self.hparams.update(params)
            with atomic_path(Path(self.log_dir) / self.NAME_HPARAMS_FILE) as tmp:
                save_hparams_to_yaml(tmp, self.hparams)

    class AtomicCSVLogger(CSVLogger):
        def finalize(self, status: str) -> None:
            super().finalize(status)
            if self._experiment is not None:
                self._experiment.flush()

        @property
        def experiment(self) -> ExperimentWriter:
            if self._experiment is None:
                self._fs.makedirs(self.root_dir, exist_ok=True)
                self._experiment = AtomicWriter(log_dir=self.log_dir)
            return self._experiment

    return AtomicCSVLogger(save_dir=save_dir, name="", version="", **kwargs)


def tensorboard_logger(save_dir: str, name: str = "", version: str = "", **kwargs: Any) -> Any:
    """Lightning's ``TensorBoardLogger`` that also writes the job's HParams session, once, after the test.

    The session holds flat ``key=value`` hparams (:func:`session_hparams`); its metric values are the last
    value of each scalar of the run (``test/acc``, ...). No experiment summary is written: TensorBoard then
    builds one from every session under the logdir, so jobs of different sweeps list all their keys.
    """
    from pytorch_lightning.loggers import TensorBoardLogger
    from pytorch_lightning.utilities import rank_zero_only

    class SessionTensorBoardLogger(TensorBoardLogger):
        tested = False
        session_written = False

        @rank_zero_only
        def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
            super().log_metrics(metrics, step)
            self.tested = self.tested or any(str(key).startswith("test/") for key in metrics)

        @rank_zero_only
        def finalize(self, status: str) -> None:
            if status == "success" and self.tested and not self.session_written:
                from torch.utils.tensorboard.summary import hparams

                _, start, end = hparams(session_hparams(dict(self.hparams)), {})
                writer = self.experiment._get_file_writer()
                writer.add_summary(start)
                writer.add_summary(end)
                self.session_written = True
            super().finalize(status)

    return SessionTensorBoardLogger(save_dir=save_dir, name=name, version=version, **kwargs)


def session_hparams(config: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """A job's HParams: its swept keys, each group's option, the seed, then ``params`` and ``flops``.

    ``config`` is what the loggers were given: :attr:`JobContext.logged_config` (the config with ``choices``
    and ``swept``) and the model's facts (``params.total``, ``flops``). A swept key takes its composed value
    (``optimizer.lr``: a number), a swept group its option (``pooling``: ``max``).
    """
    choices = {str(k): str(v) for k, v in (config.get("choices") or {}).items() if k not in NOT_HPARAMS}
    flat: dict[str, str | int | float | bool] = {}
    for key, text in (config.get("swept") or {}).items():
        value = choices.get(key, select(config, str(key)))
        flat[str(key)] = value if isinstance(value, str | int | float | bool) else str(text)
    flat.update({k: v for k, v in choices.items() if k not in flat})
    for key, value in (("seed", config.get("seed")), ("params", select(config, "params.total"))):
        if isinstance(value, int | float):
            flat.setdefault(key, value)
    if isinstance(config.get("flops"), int | float):
        flat["flops"] = config["flops"]
    return redact(flat)


def tensorboard_place(config: Mapping[str, Any], job: JobInfo) -> dict[str, str]:
    """Where a job's events go where ``save_dir`` is null.

    ``<run dir>/tensorboard`` for a single run; ``<sweep dir>/tensorboard/<the job's name>`` for a sweep job,
    so that TensorBoard names each run (a row of its HParams tab) by the job's overrides. A name that another
    job of the sweep took already gets ``,job=<number>``.
    """
    if config.get("save_dir"):
        return {}
    if job.sweep_dir is None:
        return {"save_dir": str(job.run_dir / "tensorboard")}
    root, name = job.sweep_dir / "tensorboard", _dir_name(redact(job.name))
    for version in (name, _dir_name(f"{redact(job.name)},job={job.run_dir.name}")):
        # The job's dir relative to the sweep's, so that a moved sweep dir still knows its runs.
        owner, run_dir = root / version / ".run_dir", os.path.relpath(job.run_dir, job.sweep_dir)
        owner.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(owner, "x") as handle:
                handle.write(run_dir)
        except FileExistsError:
            if owner.read_text().strip() not in ("", run_dir):
                continue  # another job's name (a sweep over `logger=`, or equal overrides)
        return {"save_dir": str(root), "version": version}
    return {"save_dir": str(job.run_dir / "tensorboard")}


def _dir_name(text: str) -> str:
    """``text`` as one path component: ``/`` becomes ``_``; over 200 bytes, cut and a hash of it added."""
    name = text.replace(os.sep, "_").replace("/", "_") or "default"
    if len(name.encode()) <= 200:
        return name
    return name.encode()[:180].decode(errors="ignore") + "-" + hashlib.sha1(name.encode()).hexdigest()[:12]


def log_model_facts(loggers: list[Any], facts: Mapping[str, Any], summary: Mapping[str, float]) -> None:
    """The model's static facts in every logger's hyper-parameters; ``summary`` in the W&B run's summary.

    ``facts`` (``params``: total and trainable, ``flops``) reach W&B's config, the CSV logger's
    ``hparams.yaml`` and TensorBoard's HParams; ``summary`` (``model/params``, ``model/flops``, the shares)
    the W&B summary, which is where W&B keeps one value per run (not its history).
    """
    from pytorch_lightning.loggers import WandbLogger

    for logger in loggers:
        logger.log_hyperparams(dict(facts))
        if summary and isinstance(logger, WandbLogger):
            logger.experiment.summary.update(dict(summary))


def wandb_logger(
    *,
    save_dir: str,
    project: str = "experiments",
    entity: str | None = None,
    name: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    mode: str = "auto",
    job_type: str = "train",
    log_model: bool = False,
    id: str | None = None,
) -> Any:
    """A Lightning ``WandbLogger`` that never prompts (see :func:`resolve_wandb_mode`); ``id`` continues a run.

    W&B's history step is the trainer's step (restored from the checkpoint on resume), so a continued run
    goes on from where it stopped instead of from 0. Lightning's ``anonymous=None`` is not passed on: wandb
    0.31 warns that the setting has no effect whenever it is given at all.
    """
    import wandb
    from pytorch_lightning.loggers import WandbLogger
    from pytorch_lightning.utilities import rank_zero_only

    class StepWandbLogger(WandbLogger):
        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            self._wandb_init.pop("anonymous", None)

        @rank_zero_only
        def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
            run = self.experiment
            if step is None:  # e.g. the plots after the test: in the current row, no step of its own
                run.log(dict(metrics), step=int(run.step))
                return
            # W&B drops a row below its current step: a late one joins the current row instead.
            step = max(int(step), int(run.step))
            run.log(dict(metrics, **{"trainer/global_step": step}), step=step)

    resolved = resolve_wandb_mode(mode)
    os.environ["WANDB_MODE"] = resolved
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    return StepWandbLogger(
        save_dir=save_dir,
        project=project,
        entity=entity,
        name=name,
        group=group,
        tags=list(tags or []),
        mode=resolved,
        job_type=job_type,
        log_model=log_model,
        # W&B's own run summary and sync hints stay out of the console: the run's last lines say it once.
        settings=wandb.Settings(quiet=True),
        **({"id": id, "resume": "allow"} if id else {}),
    )


def build_loggers(configs: Mapping[str, Any] | None, job: JobInfo, wandb_id: str | None = None) -> list[Any]:
    """Instantiate each logger of the group; W&B's name, group, tags and TensorBoard's dir follow the job.

    The W&B factory is called with plain keyword arguments: a name such as ``+token=${oc.env:API_TOKEN}``
    must stay text, and ``instantiate`` would resolve it.
    """
    from hydra.utils import get_method, instantiate
    from omegaconf import OmegaConf

    loggers = []
    for config in (configs or {}).values():
        if not config:
            continue
        target = str(config.get("_target_", ""))
        if target.endswith(".tensorboard_logger"):
            loggers.append(instantiate(config, **tensorboard_place(config, job)))
            continue
        if not target.endswith(".wandb_logger"):
            loggers.append(instantiate(config))
            continue
        options = OmegaConf.to_container(config, resolve=True)
        factory = get_method(options.pop("_target_"))
        options.update(
            name=redact(options.get("name") or job.name),
            group=redact(options.get("group") or job.group),
            tags=redact(list(options.get("tags") or []) + job.tags),
            id=wandb_id,
        )
        loggers.append(factory(**options))
    return loggers


def wandb_identity(loggers: list[Any]) -> dict[str, Any] | None:
    """Id, entity, project, group, mode and link of this job's W&B run (for results.json and compare)."""
    from pytorch_lightning.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger):
            run = logger.experiment
            mode = "offline" if getattr(run.settings, "_offline", False) else "online"
            return {
                "run_id": run.id,
                "entity": getattr(run, "entity", None) or None,
                "project": run.project,
                "group": run.group or None,
                "name": run.name,
                "mode": mode,
                "url": run.url if mode == "online" else None,
                "dir": str(Path(run.dir).parent),
            }
    return None


def finish_wandb(loggers: list[Any], exit_code: int = 0) -> str | None:
    """Close the W&B run of this job; returns the ``wandb sync`` command for an offline run."""
    from pytorch_lightning.loggers import WandbLogger

    for logger in loggers:
        if not isinstance(logger, WandbLogger) or logger._experiment is None:
            continue
        run = logger.experiment
        offline = getattr(run.settings, "mode", "") == "offline" or getattr(run.settings, "_offline", False)
        run_dir = Path(run.dir).parent
        run.finish(exit_code=exit_code)
        if offline:
            return f"wandb sync {run_dir}"
    return None
