"""RunRecords of an online W&B project or group, read through ``wandb.Api`` (needs credentials)."""

from __future__ import annotations

from typing import Any

from experiments.comparison.sources.wandb_logs import epoch_history, wandb_record
from experiments.records.run_record import RunRecord


def read_wandb_project(spec: str) -> list[RunRecord]:
    """Runs of ``entity/project`` or ``entity/project/group`` through ``wandb.Api`` (needs credentials)."""
    import wandb

    parts = spec.removeprefix("wandb:").strip("/").split("/")
    if len(parts) not in (2, 3):
        raise ValueError(f"W&B path must be entity/project[/group], got {spec!r}")
    api = wandb.Api(timeout=30)
    filters = {"group": parts[2]} if len(parts) == 3 else None
    runs = []
    for remote in api.runs(f"{parts[0]}/{parts[1]}", filters=filters):
        runs.append(record_from_api(remote))
    return runs


def record_from_api(remote: Any) -> RunRecord:
    config = {k: v for k, v in dict(remote.config).items() if not k.startswith("_")}
    summary = (
        dict(remote.summary._json_dict) if hasattr(remote.summary, "_json_dict") else dict(remote.summary)
    )
    rows = list(remote.scan_history(keys=None)) if hasattr(remote, "scan_history") else []
    state = getattr(remote, "state", "finished")
    info = {
        "run_id": remote.id,
        "entity": remote.entity,
        "project": remote.project,
        "group": remote.group,
        "mode": "online",
        "url": getattr(remote, "url", None),
    }
    return wandb_record(
        path=getattr(remote, "url", None) or f"{remote.entity}/{remote.project}/{remote.id}",
        source="wandb-api",
        name=remote.name or remote.id,
        status={"finished": "ok", "running": "running"}.get(state, "failed"),
        error=None if state in ("finished", "running") else f"W&B state: {state}",
        config=config,
        summary=summary,
        history=epoch_history(rows),
        tags=getattr(remote, "tags", None),
        info=info,
    )
