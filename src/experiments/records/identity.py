"""What Hydra knows about the running job: its dir, overrides, sweep and swept keys (no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from experiments.records.redaction import redact

#: Override keys that say how a job runs (its loggers, what it resumes, sweep options), not what it is.
NOT_IN_NAME = ("logger", "resume", "sweep")


@dataclass(frozen=True)
class JobInfo:
    """Identity of one job: used for run names, W&B groups and tags, and results.json."""

    run_dir: Path
    overrides: tuple[str, ...] = ()
    sweep_dir: Path | None = None
    swept: dict[str, str] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The job's overrides, e.g. ``pooling=min,activation=tanh,seed=1`` (``default`` without any).

        How the job was run stays out (``logger=...``, ``resume=...``, ``sweep.*``), and a key given twice (a
        resumed run repeats the overrides it started with) shows its last value, where it first appeared.
        """
        kept: dict[str, str] = {}
        for override in self.overrides:
            key = override.split("=", 1)[0].lstrip("+")
            if key.lstrip("~").split(".", 1)[0] not in NOT_IN_NAME:
                kept[key] = override
        return ",".join(kept.values()) or "default"

    @property
    def group(self) -> str | None:
        """The sweep, named by its dir (``multirun-2026-11-23_16-30-00-123456``); none for a single run."""
        if self.sweep_dir is None:
            return None
        return "multirun-" + "_".join(self.sweep_dir.parts[-2:])

    @property
    def tags(self) -> list[str]:
        return [f"{key}={value}" for key, value in self.swept.items()]


def current_job(fallback_dir: str | Path = ".") -> JobInfo:
    """Read the job's identity from ``HydraConfig``; outside Hydra, a plain run in ``fallback_dir``."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return JobInfo(run_dir=Path(fallback_dir))
    hydra = HydraConfig.get()
    # Unresolved: an override like `+token=${oc.env:API_TOKEN}` names the variable, never its value;
    # a secret typed in one is masked (the job's name, swept values, tags and W&B name come from here).
    task = redact(OmegaConf.to_container(hydra.overrides.task, resolve=False))
    overrides = tuple(str(o) for o in task if not str(o).lstrip("+~").startswith(("hydra.", "sweep.")))
    run_dir = Path(hydra.runtime.output_dir)
    choices = {
        str(group): str(option)
        for group, option in (hydra.runtime.choices or {}).items()
        if option is not None and not str(group).startswith("hydra/")
    }
    if hydra.mode != RunMode.MULTIRUN:
        return JobInfo(run_dir=run_dir, overrides=overrides, choices=choices)
    sweep_dir = Path(hydra.sweep.dir)
    swept_keys = sweep_keys(sweep_dir)
    values = dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)
    swept = {key: values[key] for key in swept_keys if key in values}
    if not swept_keys:
        swept = values
    return JobInfo(run_dir=run_dir, overrides=overrides, sweep_dir=sweep_dir, swept=swept, choices=choices)


def sweep_keys(sweep_dir: Path) -> list[str]:
    """Keys that the sweep varies, read from the sweep's ``multirun.yaml`` (``pooling=max,avg`` -> ``pooling``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    saved = sweep_dir / "multirun.yaml"
    if not saved.is_file():
        return []
    config = OmegaConf.load(saved)
    task = OmegaConf.select(config, "hydra.overrides.task", default=[]) or []
    parsed = OverridesParser.create().parse_overrides([str(o) for o in task])
    keys = [o.get_key_element() for o in parsed if o.is_sweep_override()]
    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    keys += [str(k) for k in params if str(k) not in keys]
    return [k for k in keys if not k.startswith("hydra.")]
