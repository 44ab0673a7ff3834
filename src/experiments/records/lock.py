"""One process per run dir: an ``flock`` on ``<run dir>/.run.lock``, which the OS releases when the process dies.

So a run that is still training is never taken over (``resume=``, a second run in the same dir, a
sweep resumed twice), and a killed run can be resumed at once. The file holds the holder's PID.
A single run holds its dir with :func:`claimed_run_dir`, a sweep job with :func:`claim_job`. Where a
cluster starts one process per DDP rank (SLURM tasks, torchrun), rank 0 holds the lock for the job and
the other ranks take none (:func:`cluster_rank`).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from experiments.records.atomic import no_space, remove_stale_temporaries

if TYPE_CHECKING:
    from experiments.config.errors import ConfigError

LOCK_FILE = ".run.lock"
_held: dict[Path, IO[str]] = {}


class RunLocked(Exception):
    """Another process holds the run dir's lock."""

    def __init__(self, run_dir: Path, pid: int | None) -> None:
        self.run_dir, self.pid = run_dir, pid
        holder = f"PID {pid}" if pid else "another process"
        super().__init__(f"{run_dir} is in use by a running job ({holder})")

    def __reduce__(self) -> tuple[type, tuple[Path, int | None]]:
        return RunLocked, (self.run_dir, self.pid)


def cluster_rank() -> int:
    """This process's rank where the cluster started one process per rank (SLURM: ``SLURM_PROCID`` of
    ``SLURM_NTASKS`` > 1; torchrun: ``RANK``), else 0. Only rank 0 claims the job, writes its record and
    prints; the others train beside it."""
    if int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1:
        return int(os.environ.get("SLURM_PROCID", "0") or 0)
    if "LOCAL_RANK" in os.environ and "RANK" in os.environ:
        return int(os.environ["RANK"] or 0)
    return 0


def lock_run_dir(run_dir: str | Path, tries: int = 3) -> bool:
    """Take ``run_dir``'s lock for this process (making the dir); False where this process holds it already,
    or where it is an extra rank of a cluster-launched job (rank 0 holds the lock for the job).

    Raises :class:`RunLocked` where another process holds it, ``OSError`` where the dir is not writable.
    Temporary files that killed writers left in the dir are removed once the lock is held.
    """
    run_dir = Path(run_dir)
    key = run_dir.resolve()
    if key in _held or cluster_rank() > 0:
        return False
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / LOCK_FILE, "a+")  # noqa: SIM115 (held while the run goes on)
    for attempt in range(tries):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if attempt == tries - 1:
                pid = _pid_in(handle)
                handle.close()
                raise RunLocked(run_dir, pid) from None
            time.sleep(0.05)  # a reader (lock_holder) may hold it for a moment
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    _held[key] = handle
    for directory in (run_dir, run_dir / "checkpoints"):
        remove_stale_temporaries(directory)
    return True


def claim_job(run_dir: str | Path) -> str | None:
    """Take a sweep job's lock: None, or why to skip the job (another process runs it)."""
    try:
        lock_run_dir(run_dir)
    except RunLocked as held:
        return str(held)
    return None


@contextmanager
def claimed_run_dir(run_dir: Path) -> Iterator[None]:
    """Hold the run dir's lock (taken before anything is written there) while the run goes on.

    ConfigError where another process holds it, where the dir is not writable, and for a full disk
    (:class:`experiments.records.atomic.NoSpaceLeft`, e.g. while Hydra writes ``.hydra/``).
    """
    from experiments.config.errors import ConfigError

    try:
        lock_run_dir(run_dir)
    except RunLocked as held:
        raise ConfigError(
            "hydra.run.dir", f"{held}; choose another dir, or wait for it to end and resume={run_dir}"
        ) from None
    except OSError as error:
        raise ConfigError(
            "hydra.run.dir",
            f"{run_dir} is not writable ({error.strerror or error}); choose a dir you can write to",
        ) from None
    try:
        yield
    except OSError as error:
        if (full := no_space(error)) is None:
            raise
        raise no_space_error(full) from error
    finally:
        unlock_run_dir(run_dir)


def no_space_error(full: OSError) -> ConfigError:
    """The one line for a full disk: where, and what to do; the files written before are intact."""
    from experiments.config.errors import ConfigError

    return ConfigError(
        "hydra.run.dir", f"{full}; free space there or choose another dir (the earlier files are intact)"
    )


def refuse_locked(run_dir: Path, key: str = "resume") -> None:
    """A run dir that another process is training in is refused (a ConfigError on ``key``), naming its PID."""
    from experiments.config.errors import ConfigError

    pid = lock_holder(run_dir)
    if pid is not None:
        holder = f"PID {pid}" if pid else "another process"
        raise ConfigError(
            key, f"{run_dir} is in use by a running job ({holder}); wait for it to end, or stop it first"
        )


def unlock_run_dir(run_dir: str | Path) -> None:
    """Release this process's lock on ``run_dir`` (nothing where it holds none)."""
    handle = _held.pop(Path(run_dir).resolve(), None)
    if handle is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def lock_holder(run_dir: str | Path) -> int | None:
    """The PID that holds ``run_dir``'s lock (0 where unknown), or None where no process does."""
    run_dir = Path(run_dir)
    if run_dir.resolve() in _held:
        return os.getpid()
    try:
        handle = open(run_dir / LOCK_FILE)  # noqa: SIM115
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _pid_in(handle) or 0
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def _pid_in(handle: IO[str]) -> int | None:
    handle.seek(0)
    text = handle.read().strip()
    return int(text) if text.isdigit() else None
