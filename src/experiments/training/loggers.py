"""Loggers from the ``logger`` group; W&B mode resolution that never prompts."""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from experiments.records.identity import JobInfo
from experiments.records.redaction import redact

WANDB_MODES = ("auto", "online", "offline", "disabled")


def csv_logger(save_dir: str, **kwargs: Any) -> Any:
    """Lightning's CSVLogger writing ``metrics.csv`` and ``hparams.yaml`` into the run dir, each atomically.

    A resumed or rerun job keeps the earlier attempt's rows up to where it restarts; the rows it redoes
    replace them (no duplicate epochs). Lightning's own writer deletes an existing ``metrics.csv``.
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

        def save(self) -> None:
            if not self.metrics:
                return
            self.attempt_rows.extend(self.metrics)
            self.metrics_keys = write_rows(
                Path(self.metrics_file_path), self.metrics_keys, self.earlier_rows, self.attempt_rows
            )
            self.metrics = []

        def log_hparams(self, params: dict[str, Any]) -> None:
            self.hparams.update(params)
            with atomic_path(Path(self.log_dir) / self.NAME_HPARAMS_FILE) as tmp:
                save_hparams_to_yaml(tmp, self.hparams)

    class AtomicCSVLogger(CSVLogger):
        @property
        def experiment(self) -> ExperimentWriter:
            if self._experiment is None:
                self._fs.makedirs(self.root_dir, exist_ok=True)
                self._experiment = AtomicWriter(log_dir=self.log_dir)
            return self._experiment

    return AtomicCSVLogger(save_dir=save_dir, name="", version="", **kwargs)


def wandb_credentials_exist() -> bool:
    """True where ``WANDB_API_KEY`` is set or ``wandb login`` stored a key in the netrc file."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return path.is_file() and netrc.netrc(str(path)).authenticators(host) is not None
    except (netrc.NetrcParseError, OSError):
        return False


def resolve_wandb_mode(requested: str = "auto") -> str:
    """``auto`` means ``WANDB_MODE`` if set, else online with credentials and offline without; never a prompt."""
    if requested not in WANDB_MODES:
        raise ValueError(f"logger.wandb.mode must be one of {WANDB_MODES}, got {requested!r}")
    if requested != "auto":
        return requested
    from_env = os.environ.get("WANDB_MODE", "").strip().lower()
    if from_env in ("online", "offline", "disabled", "dryrun", "run"):
        return {"dryrun": "offline", "run": "online"}.get(from_env, from_env)
    return "online" if wandb_credentials_exist() else "offline"


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
    """A Lightning ``WandbLogger`` that never prompts (see :func:`resolve_wandb_mode`); ``id`` continues a run."""
    from pytorch_lightning.loggers import WandbLogger

    resolved = resolve_wandb_mode(mode)
    os.environ["WANDB_MODE"] = resolved
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    return WandbLogger(
        save_dir=save_dir,
        project=project,
        entity=entity,
        name=name,
        group=group,
        tags=list(tags or []),
        mode=resolved,
        job_type=job_type,
        log_model=log_model,
        **({"id": id, "resume": "allow"} if id else {}),
    )


def build_loggers(configs: Mapping[str, Any] | None, job: JobInfo, wandb_id: str | None = None) -> list[Any]:
    """Instantiate each logger of the group; W&B's name, group and tags default to the job's identity.

    The W&B factory is called with plain keyword arguments: a name such as ``+token=${oc.env:API_TOKEN}``
    must stay text, and ``instantiate`` would resolve it.
    """
    from hydra.utils import get_method, instantiate
    from omegaconf import OmegaConf

    loggers = []
    for config in (configs or {}).values():
        if not config:
            continue
        if not str(config.get("_target_", "")).endswith(".wandb_logger"):
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
