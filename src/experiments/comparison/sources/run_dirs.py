"""RunRecords of our run dirs: ``results.json`` read by :meth:`RunRecord.read`, completed from Hydra's
``.hydra/config.yaml`` and ``overrides.yaml`` and the W&B log kept beside it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from experiments.comparison.sources.wandb_logs import local_wandb_info
from experiments.records.run_record import RunRecord, parse_overrides


def _yaml(path: Path, kind: type) -> Any:
    """A YAML file's content if it is a ``kind``, else an empty ``kind`` (missing, unparsable, other)."""
    import yaml

    if not path.is_file():
        return kind()
    try:
        content = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return kind()
    return content if isinstance(content, kind) else kind()


def is_run_dir(path: Path) -> bool:
    """A job dir of ours: it has a record, or at least Hydra's ``.hydra/`` (a job that wrote none)."""
    return RunRecord.exists(path) or (path / ".hydra").is_dir()


def read_run_dir(run_dir: Path) -> RunRecord:
    """A run dir of ours as a RunRecord: a job dir without results is ``missing``, one whose ``results.json``
    cannot be read (truncated, ``null``, a list, another schema) is ``unreadable``; both keep what
    ``.hydra/`` says of the job (its overrides, seed and config), so that it joins its group."""
    config: dict[str, Any] = _yaml(run_dir / ".hydra" / "config.yaml", dict)
    hydra_overrides = [str(o) for o in _yaml(run_dir / ".hydra" / "overrides.yaml", list)]
    record = RunRecord.read(run_dir, config=config)
    if not record.overrides:
        record = replace(record, overrides=hydra_overrides)
    overrides = parse_overrides(record.overrides)
    seed = record.seed if record.seed is not None else _integer(overrides.get("seed", config.get("seed")))
    filled = {
        "name": record.name or ",".join(record.overrides) or run_dir.name,
        "seed": seed,
    }
    if record.status in ("missing", "unreadable"):
        return replace(record, **filled)
    return replace(
        record,
        **filled,
        choices=record.choices or {str(k): str(v) for k, v in (config.get("choices") or {}).items()},
        epochs=record.epochs or (len(record.history) or None),
        model=record.model or _name(config.get("model")),
        data=record.data or _name(config.get("data")),
        wandb=record.wandb or local_wandb_info(run_dir),
    )


def _name(section: Any) -> str | None:
    return section.get("name") if isinstance(section, dict) else None


def _integer(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
