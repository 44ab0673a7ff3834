"""SLURM preemption: Lightning saves an HPC checkpoint (``hpc_ckpt_N.ckpt`` in the run dir) on SIGUSR1 and
requeues the job (``scontrol requeue``); SLURM then stops it and later starts it again, with
``SLURM_RESTART_COUNT`` > 0. The stopped attempt records ``requeued`` (not a final status: the sweep's
progress does not count it done), and the restarted one continues the run like ``resume=`` does: from the
newest checkpoint, with the earlier epochs in its history and ``resumed_from`` naming the checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Lightning's HPC checkpoints, in the trainer's default_root_dir (the run dir).
HPC_CHECKPOINTS = "hpc_ckpt_*.ckpt"


def restarted_by_slurm() -> bool:
    """This process is a SLURM job that was requeued and started again."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0


def requeue_checkpoint(run_dir: str | Path) -> Path | None:
    """For a requeued job: the newest of Lightning's HPC checkpoints and our interrupted/last ones, else None."""
    if not restarted_by_slurm():
        return None
    from experiments.training.resume import checkpoints_newest_first

    run_dir = Path(run_dir)
    found = [*run_dir.glob(HPC_CHECKPOINTS), *checkpoints_newest_first(run_dir)]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def saved_for_requeue(run_dir: str | Path, since: float) -> Path | None:
    """The HPC checkpoint Lightning saved at or after ``since`` (epoch seconds) under SLURM: the job is being
    requeued, not cancelled."""
    if not os.environ.get("SLURM_JOB_ID"):
        return None
    saved = [p for p in Path(run_dir).glob(HPC_CHECKPOINTS) if p.stat().st_mtime >= since]
    return max(saved, key=lambda p: p.stat().st_mtime) if saved else None
