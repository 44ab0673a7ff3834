"""Figures that runs and comparisons share: a pyplot-free Agg figure, atomic PNG saves, epoch ticks, the confusion matrix."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DPI = 100


def new_figure(width: float = 6.4, height: float = 4.0) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save(figure: Any, path: Path) -> Path:
    """``figure`` as a PNG at ``path``, written atomically (a full disk or a kill leaves the earlier one)."""
    import io

    from experiments.records.atomic import write_atomic

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return write_atomic(path, buffer.getbuffer())


def integer_epochs(ax: Any) -> None:
    """Whole-number epoch ticks, also for a single epoch (where matplotlib would show 0.9, 1.0, 1.1)."""
    from matplotlib.ticker import MaxNLocator

    epochs = sorted({round(float(x)) for line in ax.get_lines() for x in line.get_xdata()})
    if len(epochs) == 1:
        ax.set_xlim(epochs[0] - 0.5, epochs[0] + 0.5)
        ax.set_xticks(epochs)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def draw_confusion(matrix: Any, classes: Sequence[str] | None, path: Path, title: str) -> Path:
    import numpy as np

    n = matrix.shape[0]
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = min(8.0, 2.5 + 0.35 * n)
    figure = new_figure(size + 1.0, size)
    ax = figure.subplots()
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    names = list(classes) if classes and len(classes) == n else [str(i) for i in range(n)]
    long_names = max(len(str(name)) for name in names) > 3
    rotation = 90 if n > 10 else (45 if long_names else 0)
    ax.set_xticks(range(n), names, rotation=rotation, ha="right" if rotation == 45 else "center")
    ax.tick_params(axis="x", labelsize=7 if n > 10 else 9)
    ax.set_yticks(range(n), names, fontsize=7 if n > 10 else 9)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(textwrap.fill(title, 70), fontsize=9)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    color = "white" if normalised[i, j] > 0.5 else "black"
                    ax.text(
                        j,
                        i,
                        f"{int(matrix[i, j])}",
                        ha="center",
                        va="center",
                        fontsize=6 if n > 10 else 7,
                        color=color,
                    )
    return save(figure, path)
