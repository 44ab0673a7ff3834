"""The compare report's test-set section: each group's test accuracy with an interval that holds the
test-sampling error, and the best group paired with each other group on the same test images (exact
McNemar per seed, a bootstrap over images and seeds). The numbers come from
:func:`experiments.comparison.analysis.test_images.analyse_test_set`.
"""

from __future__ import annotations

from experiments.comparison.analysis.test_set_groups import GroupPairing, TestSetAnalysis
from experiments.comparison.writers.formatting import fmt_pct

HEADER = "## Test-set uncertainty"


def lines_of_test_set(analysis: TestSetAnalysis | None) -> list[str]:
    """Markdown lines of the section (``[]`` when no group has a test accuracy with a known test-set size)."""
    if analysis is None or not any(g.accuracy is not None for g in analysis.groups):
        return []
    lines = [
        HEADER,
        "",
        "A test accuracy is measured on a finite sample of images: the 95 % intervals below hold that "
        "sampling error (Wilson for one run; with several seeds and per-image files a bootstrap over images "
        "and seeds; with accuracies only, Wilson at the mean widened by the seeds' t half-width).",
        "",
        "| group | runs | per-image files | test images | test acc % | 95 % interval | how |",
        "|---|---|---|---|---|---|---|",
    ]
    for g in analysis.groups:
        n = "-" if g.n_images is None else f"{g.n_images:,}"
        interval = "-" if g.low is None or g.high is None else f"[{fmt_pct(g.low)}, {fmt_pct(g.high)}]"
        lines.append(
            f"| {g.label} | {g.runs} | {g.with_predictions} | {n} | {fmt_pct(g.accuracy)} | {interval} | "
            f"{g.method} |"
        )
    if analysis.pairings:
        lines += [
            "",
            f"The best group against each other on the same test images (bootstrap: {analysis.resamples:,} "
            f"resamples of the images, and of each group's seeds, seed {analysis.seed}; exact McNemar on the "
            "images only one run got right, per seed):",
            "",
        ]
        lines += [pairing_line(p) for p in analysis.pairings]
    if analysis.notes:
        lines += ["", *(f"- {note}" for note in analysis.notes)]
    return [*lines, ""]


def pairing_line(p: GroupPairing) -> str:
    if p.refusal:
        return f"- {p.best} vs {p.other}: not paired ({p.refusal})"
    text = (
        f"- {p.best} vs {p.other}: {_points(p.difference)} points "
        f"[95 % bootstrap {_points(p.low)}, {_points(p.high)}]"
    )
    for pair in p.pairs:
        c = pair.comparison
        seed = "" if pair.seed is None else f" seed {pair.seed}:"
        text += f";{seed} McNemar {c.only_a} vs {c.only_b} images right in one only, p = {_p(c.mcnemar_p)}"
    return text


def _points(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.2f}"


def _p(value: float) -> str:
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"
