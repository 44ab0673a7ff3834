"""``hydra/launcher=ray`` (``conf/hydra/launcher/ray.yaml``): hydra-ray-launcher on a Ray of the sweep's own,
with every job's output on the console before the sweep's summary.

Ray forwards a worker's stdout and stderr to the driver asynchronously (``log_to_driver``): the worker
writes to a file in Ray's session dir, Ray's log monitor tails the file and publishes batches of lines, and a
thread of the driver prints them. On the way the driver deduplicates lines that look alike (the same words
once digits are dropped) from different workers, holding the repeats back for up to 5 s or until the driver
exits. hydra-ray-launcher returns once every job's result is in, and Hydra then prints the sweep's summary,
so the last jobs' lines (a second job's epoch lines, held as repeats of the first's) came after it.

Here each job ends with a marker line on its stdout and on its stderr, written by a callback that Hydra calls
last in the job (it runs ``on_job_end`` callbacks in reverse order, so the marker's is put first). While the
sweep runs, the driver prints the workers' lines itself, with Ray's own printer but without the
deduplication (each job's lines are its own), and leaves the markers out; the launch returns once every
job's two markers have arrived (at most ``DRAIN_S`` after the last result, then it says what may follow).

Hydra imports every module of ``hydra_plugins`` at start, also in venvs without Ray: ``ray`` and the plugin's
launcher are imported only when a sweep uses this one. The driver's printer and its dispatcher are Ray's
private API (``ray._private.ray_logging``, ``ray._private.worker``), held by the extra's ``ray==2.60.*`` pin
and checked by ``tests/test_ray_launcher.py`` (``nox -s ray``).
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

#: The first word of a job's end marker; the marker is ``MARK <token> <job number>``.
MARK = "::experiments-ray-job-end::"
#: The longest wait for the workers' last lines after the last job's result is in.
DRAIN_S = 30.0
#: The name under which Ray's driver registers its printer of the workers' lines.
RAY_PRINTER = "ray_print_logs"


def drop_plugin_ray_config() -> None:
    """Leave ``hydra/launcher=ray`` to ``conf/hydra/launcher/ray.yaml``: take the plugin's structured config of
    that name out of Hydra's ConfigStore (its ``ray_aws`` stays).

    With both, Hydra would check the YAML against the plugin's dataclass (its deprecated "automatic schema
    matching") and warn at every composition. The plugin's ``_config`` is imported here first, so that the
    entry is gone whichever module Hydra's plugin scan imports first (an imported module is not run again).
    """
    try:
        import hydra_plugins.hydra_ray_launcher._config  # noqa: F401  (it stores hydra/launcher/ray)
    except ImportError:
        return
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().repo.get("hydra", {}).get("launcher", {}).pop("ray.yaml", None)


drop_plugin_ray_config()


class JobEndMark(Callback):
    """Last in each job: one marker line on stdout and one on stderr, after everything the job printed."""

    def __init__(self, token: str) -> None:
        self.token = token

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        line = f"{MARK} {self.token} {config.hydra.job.num}"
        for stream in (sys.stdout, sys.stderr):
            print(line, file=stream, flush=True)


class WorkerOutput:
    """In the driver, while Ray is up: prints the workers' lines as they arrive (no deduplication), keeps the
    end markers of ``token`` out of them and lets :meth:`wait_for` wait for them."""

    def __init__(self, token: str) -> None:
        self.token = token
        self._marked: set[tuple[int, bool]] = set()  # (job number, from stderr)
        self._arrived = threading.Condition()
        self._replaced: list[tuple[str, Any]] = []

    def __enter__(self) -> WorkerOutput:
        from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatcher

        self._replaced = [pair for pair in dispatcher.handlers if pair[0] == RAY_PRINTER]
        dispatcher.remove_handler(RAY_PRINTER)
        dispatcher.add_handler(RAY_PRINTER, self.handle)
        return self

    def __exit__(self, *exc: object) -> None:
        from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatcher

        dispatcher.remove_handler(RAY_PRINTER)
        for name, handler in self._replaced:
            dispatcher.add_handler(name, handler)
        sys.stdout.flush()
        sys.stderr.flush()

    def handle(self, data: dict[str, Any]) -> None:
        """One batch of lines of one worker's stream (Ray's log monitor's ``data``: pid, is_err, lines, ...)."""
        if data.get("pid") in ("raylet", "autoscaler"):  # Ray's own messages: as Ray prints them
            for _, handler in self._replaced:
                handler(data)
            return
        from ray._private.worker import print_worker_logs

        is_err = bool(data.get("is_err"))
        lines, marked = [], []
        for line in data.get("lines") or []:
            words = line.split()
            if len(words) == 3 and words[0] == MARK and words[1] == self.token and words[2].isdigit():
                marked.append(int(words[2]))
            else:
                lines.append(line)
        if lines:
            sink = sys.stderr if is_err else sys.stdout
            print_worker_logs({**data, "lines": lines}, sink, self._ignore_prefix())
            sink.flush()
        if marked:
            with self._arrived:
                self._marked.update((number, is_err) for number in marked)
                self._arrived.notify_all()

    def _ignore_prefix(self) -> bool:
        """Whether Ray's printer was told to leave out the ``(task pid=...)`` prefix (a job logging config)."""
        for _, handler in self._replaced:
            if isinstance(handler, functools.partial):
                return bool(handler.keywords.get("ignore_prefix", False))
        return False

    def wait_for(self, numbers: Iterable[int], timeout: float = DRAIN_S) -> list[int]:
        """Wait until the markers of jobs ``numbers`` have arrived on both streams; the jobs still missing.

        Without Ray's printer (``ray.init.log_to_driver: false``) nothing is forwarded, and nothing waited for.
        """
        if not self._replaced:
            return []
        wanted = {(number, is_err) for number in numbers for is_err in (False, True)}
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not wanted <= self._marked and time.monotonic() < deadline:
                self._arrived.wait(timeout=max(0.0, deadline - time.monotonic()))
            return sorted({number for number, _ in wanted - self._marked})


class OrderedRayLauncher(Launcher):
    """hydra-ray-launcher's ``RayLauncher``, with each job's output before the sweep's summary."""

    def __init__(self, ray: DictConfig) -> None:
        self.ray_cfg = ray
        self.token = uuid.uuid4().hex[:12]
        self._inner: Launcher | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra_plugins.hydra_ray_launcher.ray_launcher import RayLauncher

        # the jobs' callbacks, with the marker's first; the sweep's own (Hydra's hydra_context) stay as they are
        callbacks = copy.copy(hydra_context.callbacks)
        callbacks.callbacks = [JobEndMark(self.token), *hydra_context.callbacks.callbacks]
        self._inner = RayLauncher(ray=self.ray_cfg)
        self._inner.setup(
            hydra_context=HydraContext(config_loader=hydra_context.config_loader, callbacks=callbacks),
            task_function=task_function,
            config=config,
        )

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self._inner is not None, "setup() first"
        start_ray(self.ray_cfg.get("init"))
        with WorkerOutput(self.token) as output:
            returns = self._inner.launch(job_overrides, initial_job_idx)
            missing = output.wait_for(range(initial_job_idx, initial_job_idx + len(job_overrides)))
        if missing:
            log.warning(
                "Ray has not yet forwarded the last output of job(s) %s after %.0f s; it may follow below.",
                ", ".join(map(str, missing)),
                DRAIN_S,
            )
        return returns


def start_ray(init: DictConfig | None) -> None:
    """``ray.init`` with the launcher's ``init`` keys, unless Ray is up; no usage report unless asked for."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    keys = OmegaConf.to_container(init, resolve=True) if init is not None else {}
    ray.init(**{key: value for key, value in dict(keys).items() if value is not None})
