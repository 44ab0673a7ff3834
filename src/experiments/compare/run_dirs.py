"""Runs from our run dirs: ``results.json`` plus Hydra's ``.hydra/config.yaml`` and ``overrides.yaml``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from experiments.compare.runs import Run, integer, number, parse_overrides
from experiments.compare.wandb_logs import local_wandb_info

RESULTS_FILE = "results.json"


def read_run_dir(run_dir: Path) -> Run:
    """A run dir of ours: ``results.json`` plus ``.hydra/``; a job dir without results is ``missing``."""
    import yaml

    config: dict[str, Any] = {}
    config_file = run_dir / ".hydra" / "config.yaml"
    if config_file.is_file():
        try:
            config = yaml.safe_load(config_file.read_text()) or {}
        except yaml.YAMLError:
            config = {}
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    hydra_overrides: list[str] = []
    if overrides_file.is_file():
        try:
            hydra_overrides = [str(o) for o in yaml.safe_load(overrides_file.read_text()) or []]
        except yaml.YAMLError:
            hydra_overrides = []
    results_file = run_dir / RESULTS_FILE
    if not results_file.is_file():
        overrides = parse_overrides(hydra_overrides)
        return Run(
            path=str(run_dir),
            source="missing",
            name=",".join(hydra_overrides) or run_dir.name,
            status="missing",
            error="no results.json: the job did not start or was killed before writing it",
            overrides=overrides,
            seed=integer(overrides.get("seed", config.get("seed"))),
            config=config,
        )
    try:
        results = json.loads(results_file.read_text())
    except (OSError, json.JSONDecodeError) as error:
        return Run(
            path=str(run_dir),
            source="results.json",
            status="failed",
            error=f"unreadable results.json: {error}",
        )
    return run_from_results(results, run_dir, config=config, hydra_overrides=hydra_overrides)


def run_from_results(
    results: dict[str, Any],
    run_dir: Path,
    *,
    config: dict[str, Any] | None = None,
    hydra_overrides: list[str] | None = None,
) -> Run:
    overrides = parse_overrides(results.get("overrides") or hydra_overrides or [])
    metrics = {
        k: v for k, v in ((k, number(v)) for k, v in (results.get("metrics") or {}).items()) if v is not None
    }
    history = [
        {k: float(v) for k, v in ((k, number(v)) for k, v in row.items()) if v is not None}
        for row in results.get("history") or []
        if isinstance(row, dict)
    ]
    params = results.get("params")
    throughput = results.get("throughput") or {}
    data_info = results.get("data_info") or {}
    config = config or {}
    seed = results.get("seed", overrides.get("seed", config.get("seed")))
    return Run(
        path=str(run_dir),
        source="results.json",
        name=results.get("name") or ",".join(results.get("overrides") or []) or run_dir.name,
        status=str(results.get("status", "unknown")),
        error=results.get("error"),
        overrides=overrides,
        choices={str(k): str(v) for k, v in (results.get("choices") or config.get("choices") or {}).items()},
        seed=integer(seed),
        metrics=metrics,
        history=history,
        params=integer(params.get("total") if isinstance(params, dict) else params),
        flops=integer(results.get("flops")),
        images_per_s=number(throughput.get("train_images_per_s")),
        wall_time_s=number(results.get("wall_time_s")),
        best_epoch=integer(results.get("best_epoch")),
        epochs=integer(results.get("epochs")) or (len(history) or None),
        confusion=results.get("confusion_matrix"),
        classes=data_info.get("classes"),
        config=config,
        model=results.get("model") or config.get("model", {}).get("name"),
        data=results.get("data") or config.get("data", {}).get("name"),
        sweep=results.get("group"),
        wandb=results.get("wandb") or local_wandb_info(run_dir),
    )
