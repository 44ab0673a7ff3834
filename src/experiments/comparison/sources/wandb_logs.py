"""RunRecords from W&B's local logs (``run-*.wandb``); the links, history and record mapping both W&B
readers share (an adapter: W&B keeps a run's config, summary and history, not its ``results.json``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from experiments.config.lookup import select
from experiments.records.run_record import RunRecord, finite, number, parse_overrides
from experiments.records.wandb_offline import read_offline_run, records


def read_wandb_file(path: Path) -> RunRecord:
    """The record of a run from its ``.wandb`` transaction log: run record, config, history, summary and exit."""
    logged = read_offline_run(path)
    info: dict[str, Any] = {
        "run_id": logged.run_id,
        "entity": logged.entity or None,
        "project": logged.project or None,
        "group": logged.group or None,
        "name": logged.name or None,
        "tags": logged.tags,
    }
    config, summary, history, exit_code = logged.config, logged.summary, logged.history, logged.exit_code
    run_dir = path.parent
    offline = run_dir.name.startswith("offline-")
    info["mode"] = "offline" if offline else "online"
    info["url"] = None if offline else wandb_url(info)
    config.pop("_wandb", None)
    return wandb_record(
        path=str(run_dir),
        source="wandb-offline" if offline else "wandb-local",
        name=info.get("name") or run_dir.name,
        status="ok" if exit_code == 0 else ("running" if exit_code is None else "failed"),
        error=None if exit_code in (0, None) else f"W&B run exited with code {exit_code}",
        config=config,
        summary=summary,
        history=epoch_history(history),
        tags=info.get("tags"),
        info=info,
    )


def _identity(name: str | None, tags: Iterable[str] | None, config: dict[str, Any]) -> dict[str, str]:
    """A W&B run's overrides: its name (``pooling=min,seed=1``), ``key=value`` tags, a ``swept`` config dict."""
    overrides = parse_overrides(name.split(",")) if name else {}
    overrides.update(parse_overrides(tags or []))
    swept = config.get("swept")
    if isinstance(swept, dict):
        overrides.update({str(k): str(v) for k, v in swept.items()})
    return overrides


def epoch_history(rows: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Lightning logs train and val metrics in separate W&B steps; merge them per ``epoch``."""
    merged: dict[int, dict[str, float]] = {}
    for row in rows:
        epoch = _integer(row.get("epoch"))
        if epoch is None:
            continue
        keys = [k for k in ("train/loss", "train/acc", "val/loss", "val/acc") if finite(row.get(k))]
        if not keys:
            continue
        target = merged.setdefault(epoch, {"epoch": float(epoch + 1)})  # Lightning's epoch key is 0-based
        target.update({k: float(row[k]) for k in keys})
    return [merged[e] for e in sorted(merged)]


def _best_epoch(history: list[dict[str, float]]) -> int | None:
    scored = [row for row in history if "val/acc" in row]
    return int(max(scored, key=lambda r: r["val/acc"])["epoch"]) if scored else None


def wandb_url(info: dict[str, Any], *, group: bool = False) -> str | None:
    """The W&B web address of an online run (or of its group)."""
    if not (info.get("entity") and info.get("project")):
        return None
    base = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").rstrip("/")
    app = base.replace("://api.", "://", 1)
    if group:
        return (
            f"{app}/{info['entity']}/{info['project']}/groups/{info['group']}" if info.get("group") else None
        )
    return f"{app}/{info['entity']}/{info['project']}/runs/{info['run_id']}" if info.get("run_id") else None


def wandb_files(root: Path) -> list[Path]:
    """``run-*.wandb`` files under a W&B dir (``wandb/``, ``offline-run-*``, ``run-*``) or a run dir."""
    if root.is_file():
        return [root] if root.suffix == ".wandb" else []
    found = sorted(root.glob("run-*.wandb"))
    for pattern in ("*run-*/run-*.wandb", "wandb/*run-*/run-*.wandb"):
        found += sorted(p for p in root.glob(pattern) if p.parent.name != "latest-run")
    return found


def local_wandb_info(run_dir: Path) -> dict[str, Any] | None:
    """Entity, project, group and link of the W&B run kept in a run dir (the newest if several)."""
    files = wandb_files(run_dir / "wandb")
    if not files:
        return None
    path = max(files, key=lambda p: p.stat().st_mtime)
    try:
        for record in records(path):
            if record.WhichOneof("record_type") == "run":
                run = record.run
                offline = path.parent.name.startswith("offline-")
                info = {
                    "run_id": run.run_id,
                    "entity": run.entity or None,
                    "project": run.project or None,
                    "group": run.run_group or None,
                    "mode": "offline" if offline else "online",
                    "dir": str(path.parent),
                }
                info["url"] = None if offline else wandb_url(info)
                return info
    except Exception:  # the link is a nicety; a broken log must not stop the comparison
        return None
    return None


def wandb_record(
    *,
    path: str,
    source: str,
    name: str,
    status: str,
    error: str | None,
    config: dict[str, Any],
    summary: dict[str, Any],
    history: list[dict[str, float]],
    tags: Iterable[str] | None,
    info: dict[str, Any],
) -> RunRecord:
    """A :class:`RunRecord` from what W&B keeps of a run (a local log or the API): config, summary, history.

    The overrides come from the run's name (``pooling=min,seed=1``), its ``key=value`` tags and a ``swept``
    config dict; ``source`` and ``path`` say where it was read, ``config`` is the run's W&B config."""
    overrides = _identity(info.get("name") or name, tags, config)
    params = _integer(
        summary.get("model/params") or select(config, "params.total") or summary.get("params/total")
    )
    return RunRecord(
        status=status,
        error=error,
        name=name,
        overrides=[f"{k}={v}" for k, v in overrides.items()],
        group=info.get("group"),
        choices={str(k): str(v) for k, v in (config.get("choices") or {}).items()},
        model=select(config, "model.name"),
        data=select(config, "data.name"),
        seed=_integer(overrides.get("seed", config.get("seed"))),
        wandb=info,
        params=None if params is None else {"total": params},
        flops=_integer(summary.get("model/flops") or summary.get("flops")),
        metrics={k: float(v) for k, v in summary.items() if not k.startswith("_") and finite(v)},
        best_epoch=_best_epoch(history),
        epochs=len(history) or None,
        history=history,
        wall_time_s=number(summary.get("_runtime")),
        path=path,
        source=source,
        config=config,
    )


def _integer(value: Any) -> int | None:
    """An int from a number or a numeric string; ``None`` for missing or unparsable values."""
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
