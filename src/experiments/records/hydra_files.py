"""Hydra's own ``.hydra/*.yaml`` files of a job, written as ours are: secrets masked, atomically, under the run's lock.

:func:`install` replaces ``hydra.core.utils._save_config`` (which Hydra's ``run_job`` calls for
``config.yaml``, ``hydra.yaml`` and ``overrides.yaml``) in this process; the sweep callback installs it
wherever a job runs. A finished job that ``sweep.resume`` skips keeps its files as they were, and a dir
another process holds is not written to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from experiments.records.atomic import write_atomic
from experiments.records.lock import RunLocked, lock_run_dir
from experiments.records.redaction import redact, secret_values
from experiments.records.run_record import RunRecord


def install() -> None:
    """Make Hydra's ``run_job`` write its ``.hydra`` files with :func:`save_config`; mask log records and argv.

    ``sys.argv`` is masked because libraries record the command line (W&B's run metadata).
    """
    import logging
    import sys

    import hydra.core.utils as hydra_utils

    hydra_utils._save_config = save_config  # type: ignore[assignment]
    sys.argv[:] = redact(list(sys.argv))
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "masks_secrets", False):
        logging.setLogRecordFactory(_masking(factory))


def _masking(factory: Any) -> Any:
    """A log record factory whose records carry no secret (Hydra logs each job's overrides, say)."""

    def make(*args: Any, **kwargs: Any) -> Any:
        record = factory(*args, **kwargs)
        secrets = secret_values()
        if secrets:
            message = record.getMessage()
            if any(secret in message for secret in secrets):
                record.msg, record.args = redact(message, secrets), ()
        return record

    make.masks_secrets = True  # type: ignore[attr-defined]
    return make


def masked_yaml(cfg: Any) -> str:
    """``OmegaConf.to_yaml(cfg)`` with every secret value masked (interpolations stay unresolved)."""
    text = OmegaConf.to_yaml(cfg)
    if not any(secret in text for secret in secret_values()):
        return text
    plain = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    return OmegaConf.to_yaml(OmegaConf.create(redact(plain)))


def save_config(cfg: Any, filename: str, output_dir: Path) -> None:
    """Hydra's ``_save_config``: ``output_dir/filename``, masked and atomic, unless the job's dir is not ours."""
    run_dir = _job_dir(Path(output_dir))
    if _skipped_by_sweep_resume(run_dir):
        return
    try:
        lock_run_dir(run_dir)
    except RunLocked:
        return  # another process runs this job; its task function says so and writes nothing either
    write_atomic(Path(output_dir) / filename, masked_yaml(cfg))
    if filename == "config.yaml":
        mask_multirun_yaml(run_dir.parent)


def mask_multirun_yaml(sweep_dir: Path) -> None:
    """Hydra's sweeper saves the sweep's ``multirun.yaml`` itself; where a secret is in it, it is masked."""
    saved = sweep_dir / "multirun.yaml"
    secrets = secret_values()
    if secrets and saved.is_file() and any(s in saved.read_text() for s in secrets):
        write_atomic(saved, masked_yaml(OmegaConf.load(saved)))


def _job_dir(output_dir: Path) -> Path:
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return output_dir.parent


def _skipped_by_sweep_resume(run_dir: Path) -> bool:
    """A sweep job that ``sweep.resume`` will skip: its ``results.json`` says ok."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return False
    task = [str(o) for o in HydraConfig.get().overrides.task]
    resume = next((o.split("=", 1)[1] for o in task if o.startswith("sweep.resume=")), "false")
    if resume.lower() in ("false", "null", "none", ""):
        return False
    return RunRecord.read(run_dir).ok
