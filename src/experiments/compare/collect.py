"""Find runs: sweep dirs, run dirs (``results.json``), offline W&B runs (``.wandb`` files), W&B projects.

Every source becomes a :class:`Run` with the same fields, so grouping, statistics and plots never ask
where a run came from. Nothing here imports torch.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.wandb_offline import read_offline_run, records

RESULTS_FILE = "results.json"
#: Dirs that never hold runs of their own: skipped while walking a sweep.
SKIP_DIRS = {
    "checkpoints",
    "wandb",
    "tensorboard",
    "compare",
    "plots",
    ".hydra",
    "__pycache__",
    "lightning_logs",
}
#: Override keys that identify a job but are not part of the design being compared.
IGNORED_KEYS = ("seed", "logger", "hydra", "paths", "tags", "trainer.devices", "trainer.accelerator")


@dataclass
class Run:
    """One job, whatever its source."""

    path: str
    source: str  # "results.json", "wandb-offline", "wandb-api", "missing"
    name: str = ""
    status: str = "unknown"  # ok, failed, running, interrupted, missing
    error: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    params: int | None = None
    flops: int | None = None
    images_per_s: float | None = None
    wall_time_s: float | None = None
    best_epoch: int | None = None
    epochs: int | None = None
    confusion: list[list[float]] | None = None
    classes: list[str] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    data: str | None = None
    sweep: str | None = None
    wandb: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def metric(self, key: str) -> float | None:
        """A final metric; ``val/acc_best`` falls back on the best epoch of the history."""
        value = self.metrics.get(key)
        if value is None and key == "val/acc_best":
            values = [row["val/acc"] for row in self.history if _finite(row.get("val/acc"))]
            value = max(values) if values else None
        return float(value) if _finite(value) else None

    def config_value(self, dotted: str) -> Any:
        node: Any = self.config
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return float(value) if _finite(value) else None


def parse_overrides(overrides: Iterable[str]) -> dict[str, str]:
    """``["pooling=max", "+x=1", "~y"]`` -> ``{"pooling": "max", "x": "1"}`` (deletions are dropped)."""
    parsed: dict[str, str] = {}
    for item in overrides:
        item = str(item).strip()
        if "=" not in item or item.startswith("~"):
            continue
        key, value = item.lstrip("+").split("=", 1)
        parsed[key.strip()] = value.strip()
    return parsed


# --------------------------------------------------------------------------- run dirs (results.json)


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
            seed=_int(overrides.get("seed", config.get("seed"))),
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
        k: v for k, v in ((k, _number(v)) for k, v in (results.get("metrics") or {}).items()) if v is not None
    }
    history = [
        {k: float(v) for k, v in ((k, _number(v)) for k, v in row.items()) if v is not None}
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
        seed=_int(seed),
        metrics=metrics,
        history=history,
        params=_int(params.get("total") if isinstance(params, dict) else params),
        flops=_int(results.get("flops")),
        images_per_s=_number(throughput.get("train_images_per_s")),
        wall_time_s=_number(results.get("wall_time_s")),
        best_epoch=_int(results.get("best_epoch")),
        epochs=_int(results.get("epochs")) or (len(history) or None),
        confusion=results.get("confusion_matrix"),
        classes=data_info.get("classes"),
        config=config,
        model=results.get("model") or config.get("model", {}).get("name"),
        data=results.get("data") or config.get("data", {}).get("name"),
        sweep=results.get("group"),
        wandb=results.get("wandb") or local_wandb_info(run_dir),
    )


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- W&B transaction logs


def read_wandb_file(path: Path) -> Run:
    """A run from its ``.wandb`` transaction log: run record, config, history, summary and exit."""
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
    return _wandb_run(
        path=str(run_dir),
        source="wandb-offline" if offline else "wandb-local",
        name=info.get("name") or run_dir.name,
        status="ok" if exit_code == 0 else ("running" if exit_code is None else "failed"),
        error=None if exit_code in (0, None) else f"W&B run exited with code {exit_code}",
        config=config,
        summary=summary,
        history=_epoch_history(history),
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


def _dig(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _epoch_history(rows: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Lightning logs train and val metrics in separate W&B steps; merge them per ``epoch``."""
    merged: dict[int, dict[str, float]] = {}
    for row in rows:
        epoch = _int(row.get("epoch"))
        if epoch is None:
            continue
        keys = [k for k in ("train/loss", "train/acc", "val/loss", "val/acc") if _finite(row.get(k))]
        if not keys:
            continue
        target = merged.setdefault(epoch, {"epoch": float(epoch)})
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


# --------------------------------------------------------------------------- W&B API (online)


def read_wandb_project(spec: str) -> list[Run]:
    """Runs of ``entity/project`` or ``entity/project/group`` through ``wandb.Api`` (needs credentials)."""
    import wandb

    parts = spec.removeprefix("wandb:").strip("/").split("/")
    if len(parts) not in (2, 3):
        raise ValueError(f"W&B path must be entity/project[/group], got {spec!r}")
    api = wandb.Api(timeout=30)
    filters = {"group": parts[2]} if len(parts) == 3 else None
    runs = []
    for remote in api.runs(f"{parts[0]}/{parts[1]}", filters=filters):
        runs.append(run_from_api(remote))
    return runs


def run_from_api(remote: Any) -> Run:
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
    return _wandb_run(
        path=getattr(remote, "url", None) or f"{remote.entity}/{remote.project}/{remote.id}",
        source="wandb-api",
        name=remote.name or remote.id,
        status={"finished": "ok", "running": "running"}.get(state, "failed"),
        error=None if state in ("finished", "running") else f"W&B state: {state}",
        config=config,
        summary=summary,
        history=_epoch_history(rows),
        tags=getattr(remote, "tags", None),
        info=info,
    )


def _wandb_run(
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
) -> Run:
    """A :class:`Run` from what W&B keeps of it (a local log or the API): config, summary, history."""
    overrides = _identity(info.get("name") or name, tags, config)
    return Run(
        path=path,
        source=source,
        name=name,
        status=status,
        error=error,
        overrides=overrides,
        seed=_int(overrides.get("seed", config.get("seed"))),
        metrics={k: float(v) for k, v in summary.items() if not k.startswith("_") and _finite(v)},
        history=history,
        params=_int(
            summary.get("model/params") or _dig(config, "params.total") or summary.get("params/total")
        ),
        flops=_int(summary.get("model/flops") or summary.get("flops")),
        wall_time_s=_number(summary.get("_runtime")),
        best_epoch=_best_epoch(history),
        epochs=len(history) or None,
        config=config,
        model=_dig(config, "model.name"),
        data=_dig(config, "data.name"),
        sweep=info.get("group"),
        wandb=info,
    )


# --------------------------------------------------------------------------- entry point


def _is_run_dir(path: Path) -> bool:
    return (path / RESULTS_FILE).is_file() or (path / ".hydra").is_dir()


def _walk(root: Path) -> Iterator[Path]:
    """Run dirs under ``root``, in job order (``2`` before ``10``); a run dir is not searched further."""
    if _is_run_dir(root):
        yield root
        return
    try:
        children = [c for c in root.iterdir() if c.is_dir() and c.name not in SKIP_DIRS]
    except OSError:
        return
    for child in sorted(
        children, key=lambda c: (not c.name.isdigit(), int(c.name) if c.name.isdigit() else 0, c.name)
    ):
        yield from _walk(child)


def collect(paths: Iterable[str | Path]) -> list[Run]:
    """Every run found under ``paths``; sweep and run dirs first, bare W&B runs where there is no run dir.

    A path that does not exist on disk and looks like ``entity/project[/group]`` (or starts with
    ``wandb:``) is read through ``wandb.Api`` where credentials exist.
    """
    runs: list[Run] = []
    seen: set[str] = set()
    for spec in paths:
        path = Path(spec)
        if not path.exists():
            if str(spec).startswith("wandb:") or str(spec).count("/") in (1, 2):
                from experiments.loggers import wandb_credentials_exist

                if not wandb_credentials_exist():
                    raise FileNotFoundError(
                        f"{spec}: no such path, and no W&B credentials to read it as a W&B project "
                        "(set WANDB_API_KEY or run `wandb login`)"
                    )
                runs.extend(read_wandb_project(str(spec)))
                continue
            raise FileNotFoundError(f"{spec}: no such file or dir")
        found_dirs = list(_walk(path)) if path.is_dir() else []
        for run_dir in found_dirs:
            key = str(run_dir.resolve())
            if key not in seen:
                seen.add(key)
                runs.append(read_run_dir(run_dir))
        if found_dirs:
            continue
        for wandb_file in wandb_files(path):
            key = str(wandb_file.resolve())
            if key not in seen:
                seen.add(key)
                runs.append(read_wandb_file(wandb_file))
        if path.is_dir() and not any(p for p in wandb_files(path)):
            for child in sorted(path.rglob("run-*.wandb")):
                key = str(child.resolve())
                if key not in seen and child.parent.name != "latest-run":
                    seen.add(key)
                    runs.append(read_wandb_file(child))
    return runs
