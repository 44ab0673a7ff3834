"""Runs from our run dirs: ``results.json`` plus Hydra's ``.hydra/config.yaml`` and ``overrides.yaml``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from experiments.compare.runs import Run, integer, number, parse_overrides
from experiments.compare.wandb_logs import local_wandb_info

RESULTS_FILE = "results.json"


#: Top-level fields of ``results.json`` that compare reads, and the JSON types each may have.
SCHEMA: dict[str, tuple[type, ...]] = {
    "status": (str,),
    "metrics": (dict,),
    "history": (list,),
    "overrides": (list,),
    "params": (dict, int, float),
    "throughput": (dict,),
    "data_info": (dict,),
    "choices": (dict,),
    "confusion_matrix": (list,),
    "wandb": (dict,),
}


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


def schema_problem(results: Any) -> str | None:
    """Why ``results`` is not one of our ``results.json`` documents, or ``None`` when it is."""
    if not isinstance(results, dict):
        return f"expected a JSON object, found {type(results).__name__ if results is not None else 'null'}"
    if "status" not in results:
        return "no `status` field: not a results.json written by this framework"
    for key, kinds in SCHEMA.items():
        if results.get(key) is not None and not isinstance(results[key], kinds):
            return f"`{key}` is a {type(results[key]).__name__}, expected {' or '.join(k.__name__ for k in kinds)}"
    return None


def read_run_dir(run_dir: Path) -> Run:
    """A run dir of ours: ``results.json`` plus ``.hydra/``; a job dir without results is ``missing``, one
    whose ``results.json`` cannot be read (truncated, ``null``, a list, another schema) is ``unreadable``."""
    config: dict[str, Any] = _yaml(run_dir / ".hydra" / "config.yaml", dict)
    hydra_overrides = [str(o) for o in _yaml(run_dir / ".hydra" / "overrides.yaml", list)]
    overrides = parse_overrides(hydra_overrides)
    results_file = run_dir / RESULTS_FILE

    def not_read(status: str, error: str) -> Run:
        return Run(
            path=str(run_dir),
            source="missing" if status == "missing" else RESULTS_FILE,
            name=",".join(hydra_overrides) or run_dir.name,
            status=status,
            error=error,
            overrides=overrides,
            seed=integer(overrides.get("seed", config.get("seed"))),
            config=config,
        )

    if not results_file.is_file():
        return not_read("missing", "no results.json: the job did not start or was killed before writing it")
    try:
        results = json.loads(results_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return not_read("unreadable", f"unreadable {results_file}: {error}")
    problem = schema_problem(results)
    if problem is None:
        try:
            return run_from_results(results, run_dir, config=config, hydra_overrides=hydra_overrides)
        except (TypeError, ValueError, AttributeError) as error:  # a field deeper down of another shape
            problem = f"unexpected content ({type(error).__name__}: {error})"
    return not_read("unreadable", f"unreadable {results_file}: {problem}")


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
