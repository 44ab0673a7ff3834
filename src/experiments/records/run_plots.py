"""Per-run plots: loss and accuracy curves and the confusion matrix, as PNGs in ``<run dir>/plots``.

``save_run_plots(run_dir, results)`` draws from the ``results.json`` fields (``history``,
``confusion_matrix``, ``data_info.classes``) with matplotlib's Agg canvas, so it works without a display
and never touches pyplot's global state. ``log_images(loggers, paths)`` sends the PNGs to W&B
(``WandbLogger.log_image``) and TensorBoard (``SummaryWriter.add_image``); other loggers are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from experiments.records.run_record import RunRecord

log = logging.getLogger("experiments")

PLOTS_DIR = "plots"
CURVES_FILE = "curves.png"
CONFUSION_FILE = "confusion_matrix.png"
PROBES_PLOT = "probes.png"
# The probes' curves (probes.json): panel title, x key, the y keys and their labels.
PROBE_PANELS = {
    "shift": ("shift (px)", "px", {"acc": "background fill", "acc_circular": "circular"}),
    "borders": ("border occluded (px)", "width_px", {"acc": "background fill"}),
    "rotation": ("rotation (+-degrees)", "degrees", {"acc": "+- averaged"}),
    "scale": ("scale factor", "factor", {"acc": "scaled"}),
}


def save_run_plots(run_dir: Path, record: RunRecord) -> list[Path]:
    """Write ``plots/curves.png`` and ``plots/confusion_matrix.png`` where the data exists; returns their paths."""
    out = Path(run_dir) / PLOTS_DIR
    made: list[Path] = []
    history = record.history
    title = plot_title(record, run_dir)
    if any(key in row for row in history for key in ("train/loss", "val/loss", "train/acc", "val/acc")):
        made.append(_curves(history, out / CURVES_FILE, title, record.best_epoch))
    matrix = record.confusion_matrix
    if matrix:
        import numpy as np

        from experiments.records.figures import draw_confusion

        array = np.asarray(matrix, dtype=float)
        if array.ndim == 2 and array.size:
            acc = record.metric("test/acc")
            suffix = f" (test acc {acc:.4f})" if acc is not None else ""
            made.append(draw_confusion(array, record.classes, out / CONFUSION_FILE, f"{title}{suffix}"))
    curves = probe_curves(Path(run_dir), record)
    if curves:
        made.append(_probe_curves(curves, out / PROBES_PLOT, title))
    return made


def probe_curves(run_dir: Path, record: RunRecord) -> dict[str, Any]:
    """The curves of ``probes.json`` that the probes plot draws (none where the run had no probes)."""
    import json

    name = (record.probes or {}).get("file")
    try:
        curves = json.loads((run_dir / str(name)).read_text()).get("curves", {}) if name else {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {k: v for k, v in curves.items() if k in PROBE_PANELS and isinstance(v, dict)}


def _probe_curves(curves: dict[str, Any], path: Path, title: str) -> Path:
    from experiments.records.figures import new_figure, save

    figure = new_figure(3.2 * len(curves), 3.2)
    axes = figure.subplots(1, len(curves), squeeze=False)[0]
    for ax, (name, curve) in zip(axes, curves.items()):
        xlabel, x, ys = PROBE_PANELS[name]
        for key, text in ys.items():
            if curve.get(key):
                ax.plot(curve[x], curve[key], marker="o", ms=4, label=text)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle(f"probes: {title}" if len(title) < 80 else f"probes: {title[:77]}...", fontsize=9)
    return save(figure, path)


def plot_title(record: RunRecord, run_dir: Path) -> str:
    """``lenet5 on digits: pooling=avg,seed=1 (<run dir name>)``: what the run was, not W&B's ``default``."""
    what = " on ".join(str(x) for x in (record.model, record.data) if x)
    name = record.name if record.name and record.name != "default" else "the defaults"
    label = f"{what}: {name}" if what else name
    return f"{label} ({Path(run_dir).name})"


def _curves(history: Sequence[dict[str, Any]], path: Path, title: str, best_epoch: Any) -> Path:
    from experiments.records.figures import integer_epochs, new_figure, save

    figure = new_figure(9.6, 3.6)
    axes = figure.subplots(1, 2)
    for ax, name in zip(axes, ("loss", "acc")):
        for split, style in (("train", "-"), ("val", "--")):
            key = f"{split}/{name}"
            points = [(int(r["epoch"]), float(r[key])) for r in history if key in r and "epoch" in r]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, style, marker="o", ms=4, label=split)
        if isinstance(best_epoch, int):
            ax.axvline(best_epoch, color="grey", lw=0.8, ls=":", label="best epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        integer_epochs(ax)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    figure.suptitle(title if len(title) < 90 else title[:87] + "...", fontsize=9)
    return save(figure, path)


def log_images(loggers: Iterable[Any], paths: Sequence[Path], step: int | None = None) -> None:
    """Log each PNG under ``plots/<file stem>`` to every logger that takes images (W&B, TensorBoard).

    Errors are logged and swallowed: a plot that cannot be uploaded must not fail a finished run.
    """
    paths = [Path(p) for p in paths if Path(p).is_file()]
    if not paths:
        return
    for logger in loggers or []:
        try:
            if hasattr(logger, "log_image"):  # Lightning's WandbLogger (and others with the same API)
                for path in paths:
                    kwargs = {"step": step} if step is not None else {}
                    logger.log_image(key=f"plots/{path.stem}", images=[str(path)], **kwargs)
                continue
            writer = getattr(logger, "experiment", None)
            if writer is not None and hasattr(writer, "add_image"):  # TensorBoardLogger's SummaryWriter
                for path in paths:
                    writer.add_image(
                        f"plots/{path.stem}", _read_rgb(path), global_step=step or 0, dataformats="HWC"
                    )
                if hasattr(writer, "flush"):
                    writer.flush()
        except Exception as error:  # plots are informative only
            log.warning("could not log plots to %s: %s", type(logger).__name__, error)


def _read_rgb(path: Path) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))
