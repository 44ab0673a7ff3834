"""``python -m experiments.training.rank_worker CONFIG``: an extra DDP rank of a job (started by RankLauncher).

It trains on the job's saved, resolved config and writes no records; rank 0 is the job's own process.
"""

from __future__ import annotations

import sys


def main(config_file: str) -> None:
    from omegaconf import OmegaConf

    from experiments.training.job import run_job

    try:
        run_job(OmegaConf.load(config_file), rank_worker=True)
    finally:
        leave_process_group()


def leave_process_group() -> None:
    """Destroy this process's torch.distributed group, where it has one (gloo's threads stop with it).

    Left running at interpreter exit, they abort the process now and then ("terminate called without an
    active exception", exit code -6), seen under load.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
