"""The sweep summary: one row per job (overrides, status, main metrics), as JSON and a Markdown table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from experiments.records.atomic import write_atomic
from experiments.records.run_record import RunRecord

#: A job whose run dir another live process holds (another sweep into the same dir): not failed, not ours.
ELSEWHERE = "running in another sweep"
SUMMARY_JSON = "sweep_summary.json"
SUMMARY_MD = "sweep_summary.md"


def job_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job dir: number, overrides, status, error, the main metrics, wall time, device."""
    rows = []
    job_dirs = sorted(
        (p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
    )
    for job_dir in job_dirs:
        overrides_file = job_dir / ".hydra" / "overrides.yaml"
        overrides = [str(o) for o in OmegaConf.load(overrides_file)] if overrides_file.is_file() else []
        overrides = [o for o in overrides if not o.lstrip("+~").startswith("sweep.")]  # how it ran, not what
        record = RunRecord.read(job_dir)
        device = record.device or {}
        rows.append(
            {
                "job": int(job_dir.name),
                "dir": str(job_dir),
                "overrides": overrides,
                "status": shown_status(record, job_dir),
                "error": record.error,
                "test/acc": record.metrics.get("test/acc"),
                "val/acc_best": record.metrics.get("val/acc_best"),
                "wall_time_s": record.wall_time_s,
                "train_seconds": None if record.identical_to else record.train_seconds,
                "identical_to": record.identical_to,
                "device": device.get("assigned") or device.get("root_device"),
            }
        )
    return rows


def shown_status(record: RunRecord, job_dir: Path) -> str:
    """The record's status, or :data:`ELSEWHERE` for a ``running`` job that another live process holds."""
    import os

    from experiments.records.lock import lock_holder

    if record.status == "running":
        holder = lock_holder(job_dir)
        if holder is not None and holder != os.getpid():
            return ELSEWHERE
    return record.status


def totals(rows: Sequence[dict[str, Any]], sweep_seconds: float | None) -> dict[str, Any]:
    """The sweep's wall time beside the jobs' own and their training steps (reused records excluded).

    ``training_share`` is the jobs' training seconds summed over the sweep's wall time: up to the number
    of jobs run at once with a parallel launcher."""
    train = sum(r.get("train_seconds") or 0.0 for r in rows)
    return {
        "sweep_wall_time_s": sweep_seconds,
        "jobs_wall_time_s": sum(r.get("wall_time_s") or 0.0 for r in rows if not r.get("identical_to")),
        "train_seconds": train,
        "trained_jobs": sum(1 for r in rows if r.get("train_seconds") is not None),
        "training_share": train / sweep_seconds if sweep_seconds else None,
    }


def write_summary(sweep_dir: Path, rows: Sequence[dict[str, Any]], sweep_seconds: float | None = None) -> str:
    """Save ``sweep_summary.json`` and ``sweep_summary.md``; return the Markdown table.

    ``sweep_seconds``: the sweep's wall time from its start, when known."""

    def cell(value: Any, digits: int = 4) -> str:
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return "" if value is None else str(value).replace("|", "\\|")

    header = (
        "| job | overrides | status | test/acc | val/acc_best | wall s | device | error |\n"
        + "|---" * 8
        + "|"
    )
    lines = [
        f"| {r['job']} | {cell(' '.join(r['overrides']))} | {r['status']} | {cell(r['test/acc'])} | "
        f"{cell(r['val/acc_best'])} | {cell(r['wall_time_s'], 1)} | {cell(r['device'])} | {cell((r['error'] or '')[:120])} |"
        for r in rows
    ]
    counts = {
        status: sum(r["status"] == status for r in rows) for status in sorted({r["status"] for r in rows})
    }
    table = "\n".join([header, *lines])
    total = totals(rows, sweep_seconds)
    summary = {"counts": counts, "totals": total, "jobs": list(rows)}
    write_atomic(sweep_dir / SUMMARY_JSON, json.dumps(summary, indent=2))
    document = f"# Sweep {sweep_dir}\n\n{count_line(counts)}{time_line(total)}\n\n{table}\n"
    # overrides and errors are shown, never run as HTML (as compare's report.md: writers/markdown.md_safe)
    write_atomic(sweep_dir / SUMMARY_MD, document.replace("&", "&amp;").replace("<", "&lt;"))
    return table


def count_line(counts: dict[str, int]) -> str:
    """``6 jobs: 5 ok, 1 failed``"""
    return f"{sum(counts.values())} jobs: " + ", ".join(f"{n} {status}" for status, n in counts.items())


def clock(seconds: float) -> str:
    """``h:mm:ss``"""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"


def time_line(total: dict[str, Any]) -> str:
    """``; 0:12:03 of wall time; training steps, summed over the jobs: 41% of it (25 jobs trained)``, or
    nothing without a start."""
    seconds = total["sweep_wall_time_s"]
    if not seconds:
        return ""
    return (
        f"; {clock(seconds)} of wall time; training steps, summed over the jobs: "
        f"{100 * total['training_share']:.0f}% of it ({total['trained_jobs']} jobs trained)"
    )
