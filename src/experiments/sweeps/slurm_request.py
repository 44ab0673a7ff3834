"""``hydra/launcher=slurm``: the jobs' request checked against the cluster before any job is submitted.

sbatch refuses some requests with a line of its own (a GPU on a CPU cluster, more memory than any node has)
and accepts others that can never run (more CPUs than the partition's nodes have: pending for ever with
``Reason=PartitionConfig``). Here the partition, nodes, CPUs, memory, GPUs and time limit are compared with
what ``scontrol`` says the partition offers, and a request no node can run is refused in one line naming
the key, before anything is written. No torch.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from experiments.config import ConfigError

_FIELD = re.compile(r"(\w+)=(\S*)")
_GPUS = re.compile(r"gpu(?::[^:,(]+)?:(\d+)")


@dataclass(frozen=True)
class SlurmNode:
    name: str
    cpus: int
    memory_mb: int
    gpus: int
    partitions: tuple[str, ...]


@dataclass(frozen=True)
class SlurmPartition:
    name: str
    default: bool
    max_time_min: float | None  # None: unlimited


@dataclass(frozen=True)
class SlurmRequest:
    """What each job of the sweep asks for (``hydra.launcher``'s keys)."""

    partition: str | None
    nodes: int
    tasks_per_node: int
    cpus_per_task: int
    mem_gb: float | None
    gpus_per_node: int
    timeout_min: float

    @classmethod
    def of(cls, launcher: DictConfig) -> SlurmRequest:
        def number(key: str, default: float | None) -> Any:
            value = launcher.get(key)
            return default if value is None else value

        return cls(
            partition=launcher.get("partition"),
            nodes=int(number("nodes", 1)),
            tasks_per_node=int(number("tasks_per_node", 1)),
            cpus_per_task=int(number("cpus_per_task", 1)),
            mem_gb=number("mem_gb", None),
            gpus_per_node=int(number("gpus_per_node", 0)),
            timeout_min=float(number("timeout_min", 60)),
        )


def is_slurm(launcher: DictConfig) -> bool:
    return str(launcher.get("_target_", "")).endswith(".SlurmLauncher")


def check_slurm_request(launcher: DictConfig) -> None:
    """Refuse (``ConfigError``, one line naming the key) a SLURM request the cluster cannot run."""
    if not is_slurm(launcher):
        return
    missing = [tool for tool in ("sbatch", "scontrol") if shutil.which(tool) is None]
    if missing:
        raise ConfigError(
            "hydra/launcher",
            f"slurm submits with SLURM's {' and '.join(missing)}, which this machine does not have "
            "(hydra/launcher=local runs the same code path as local processes)",
        )
    partitions = [_partition(f) for f in _records("partition")]
    nodes = [_node(f) for f in _records("node")]
    check_request(SlurmRequest.of(launcher), partitions, nodes)


def check_request(request: SlurmRequest, partitions: list[SlurmPartition], nodes: list[SlurmNode]) -> None:
    """The request against the partitions and nodes ``scontrol`` listed (pure: tested without a cluster)."""
    names = ", ".join(p.name + (" (default)" if p.default else "") for p in partitions) or "none"
    if request.partition is None:
        chosen = next((p for p in partitions if p.default), None)
        if chosen is None:
            raise ConfigError("hydra.launcher.partition", f"the cluster has no default partition; choose one of: {names}")
    else:
        chosen = next((p for p in partitions if p.name == request.partition), None)
        if chosen is None:
            raise ConfigError("hydra.launcher.partition", f"no partition {request.partition!r} on this cluster; it has: {names}")
    members = [n for n in nodes if chosen.name in n.partitions]
    where = f"partition {chosen.name}"
    if request.nodes > len(members):
        raise ConfigError("hydra.launcher.nodes", f"asks for {request.nodes} nodes; {where} has {len(members)}")
    cpus = request.tasks_per_node * request.cpus_per_task
    most_cpus = max((n.cpus for n in members), default=0)
    if cpus > most_cpus:
        raise ConfigError(
            "hydra.launcher.cpus_per_task",
            f"asks for {request.tasks_per_node} task(s) x {request.cpus_per_task} CPUs per node; the largest node "
            f"of {where} has {most_cpus} CPUs",
        )
    memory_mb = None if request.mem_gb is None else float(request.mem_gb) * 1024
    most_memory = max((n.memory_mb for n in members), default=0)
    if memory_mb is not None and memory_mb > most_memory:
        raise ConfigError(
            "hydra.launcher.mem_gb",
            f"asks for {request.mem_gb} GB per node; the largest node of {where} has {most_memory / 1024:.1f} GB",
        )
    most_gpus = max((n.gpus for n in members), default=0)
    if request.gpus_per_node > most_gpus:
        raise ConfigError(
            "hydra.launcher.gpus_per_node",
            f"asks for {request.gpus_per_node} GPU(s) per node (from trainer.accelerator and trainer.devices); "
            f"the nodes of {where} have at most {most_gpus}; on CPUs use trainer=cpu or trainer.accelerator=cpu",
        )
    fitting = [
        n
        for n in members
        if n.cpus >= cpus and n.gpus >= request.gpus_per_node and (memory_mb is None or n.memory_mb >= memory_mb)
    ]
    if len(fitting) < request.nodes:
        raise ConfigError(
            "hydra.launcher",
            f"{len(fitting)} node(s) of {where} have {cpus} CPUs, {request.gpus_per_node} GPUs and "
            f"{request.mem_gb or 'any'} GB at once; the jobs ask for {request.nodes}",
        )
    if chosen.max_time_min is not None and request.timeout_min > chosen.max_time_min:
        raise ConfigError(
            "hydra.launcher.timeout_min",
            f"is {request.timeout_min:g} minutes; {where} allows at most {chosen.max_time_min:g}",
        )


def _records(kind: str) -> list[dict[str, str]]:
    """``scontrol show <kind> -o``: one dict of ``Key=Value`` fields per partition or node."""
    try:
        shown = subprocess.run(["scontrol", "show", kind, "-o"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ConfigError("hydra/launcher", f"slurm: the cluster does not answer (scontrol: {error})") from None
    if shown.returncode != 0:
        line = (shown.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError("hydra/launcher", f"slurm: the cluster does not answer (scontrol: {line})")
    return [dict(_FIELD.findall(line)) for line in shown.stdout.splitlines() if "=" in line]


def _node(fields: dict[str, str]) -> SlurmNode:
    gres = fields.get("Gres", "")
    return SlurmNode(
        name=fields.get("NodeName", "?"),
        cpus=int(fields.get("CPUTot", "0") or 0),
        memory_mb=int(fields.get("RealMemory", "0") or 0),
        gpus=sum(int(count) for count in _GPUS.findall(gres)),
        partitions=tuple(p for p in fields.get("Partitions", "").split(",") if p),
    )


def _partition(fields: dict[str, str]) -> SlurmPartition:
    return SlurmPartition(
        name=fields.get("PartitionName", "?"),
        default=fields.get("Default", "NO") == "YES",
        max_time_min=_minutes(fields.get("MaxTime", "UNLIMITED")),
    )


def _minutes(text: str) -> float | None:
    """SLURM's time limit (``UNLIMITED``, ``mm``, ``hh:mm:ss``, ``d-hh:mm:ss``) in minutes."""
    if text in ("UNLIMITED", "INFINITE", ""):
        return None
    days, _, clock = text.rpartition("-")
    parts = [float(p) for p in clock.split(":")]
    if len(parts) == 1:
        minutes = parts[0]
    else:
        while len(parts) < 3:
            parts.insert(0, 0.0)
        minutes = parts[0] * 60 + parts[1] + parts[2] / 60
    return minutes + float(days or 0) * 24 * 60
