"""Plain sentences from the numbers: only what the statistics support, with the numbers that support it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from experiments.comparison.analysis.grouping import Group
from experiments.comparison.analysis.metric_kind import MetricKind, metric_kind
from experiments.records.run_record import RunRecord

#: The metric of :func:`pct` and :func:`points` unless told: an accuracy.
ACCURACY = metric_kind("test/acc")


def pct(value: float, kind: MetricKind = ACCURACY) -> str:
    """A value as the report shows it: ``61.94%`` (a raw metric: ``1.562``)."""
    return kind.value(value)


def points(value: float, kind: MetricKind = ACCURACY) -> str:
    """The size of a difference: ``1.20 points`` (a raw metric: ``0.031``)."""
    return kind.amount(abs(value) * kind.scale)


def _ci(low: float, high: float, kind: MetricKind) -> str:
    """A 95% interval of a mean, a fraction's clipped to [0, 100] %."""
    low, high = kind.clip(low, high)
    return f"{pct(low, kind)} to {pct(high, kind)}"


def num_classes(runs: Sequence[RunRecord]) -> int | None:
    for run in runs:
        if run.classes:
            return len(run.classes)
        if run.confusion_matrix:
            return len(run.confusion_matrix)
        configured = run.config_value("data.num_classes")
        if isinstance(configured, int):
            return configured
    return None


def collapsed(group: Group, metric: str, classes: int | None) -> bool:
    """Test accuracy within 1.5x of chance: the group learnt next to nothing."""
    summary = group.stats.get(metric)
    if summary is None or not classes or not metric.endswith("acc") or not metric_kind(metric).higher_is_better:
        return False
    return summary.mean <= 1.5 / classes


def _choice(group: Group, config_group: str) -> str | None:
    """The option of a config group (``pooling=min``) shared by every run of a group, else ``None``.

    As compare groups runs: the group's key, else each run's ``pooling=...`` override, else the
    option Hydra recorded for the run (``.hydra/hydra.yaml``). The option's config (a ``_target_``)
    does not say its name, so it is not read.
    """
    for k, v in group.key:
        if k == config_group:
            return v
    values = {
        run.override_values.get(config_group) or _recorded_choice(run.path, config_group)
        for run in group.runs
    }
    return values.pop() if len(values) == 1 else None


@lru_cache(maxsize=1024)
def _recorded_choices(run_path: str) -> dict[str, str]:
    """``hydra.runtime.choices`` of a run dir of ours (empty for W&B runs and fabricated dirs)."""
    import yaml

    path = Path(run_path) / ".hydra" / "hydra.yaml"
    try:
        recorded = yaml.safe_load(path.read_text()) if path.is_file() else None
        choices = recorded["hydra"]["runtime"]["choices"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return {}
    return {str(k): str(v) for k, v in choices.items() if v is not None} if isinstance(choices, dict) else {}


def _recorded_choice(run_path: str | None, config_group: str) -> str | None:
    return _recorded_choices(run_path).get(config_group) if run_path else None


def collapse_reason(group: Group) -> str | None:
    pooling = _choice(group, "pooling")
    activation = _choice(group, "activation")
    # ``None``: not known for every run; the default activation is relu, so the rule still applies.
    # The block order does not matter here: ReLU commutes with min pooling (relu(min x) = min(relu x)).
    if pooling == "min" and activation in ("relu", None):
        return (
            "A plausible cause: min pooling after ReLU returns the smallest value of each window, and after "
            "ReLU a window holding one non-positive input gives 0, so the pooled maps are mostly zeros and "
            "little gradient reaches the convolutions. The block order cannot help (ReLU commutes with min "
            "pooling, so `model.net.block_order=conv-pool-act` is the same network); an activation with "
            "negative outputs (tanh, ELU) changes it."
        )
    if activation == "sigmoid":
        return (
            "A plausible cause: sigmoid saturates, and deep sigmoid stacks train slowly without careful init."
        )
    return None


#: More groups than this within noise of the best are summed up in one line (the table lists each).
TIED_LINES = 4


def _tied_line(tied: Sequence[Group], best: Group, comparisons: int, kind: MetricKind = ACCURACY) -> str:
    diffs = [abs(g.comparison.diff) for g in tied]  # type: ignore[union-attr]
    adjusted = min(g.comparison.p_adjusted for g in tied)  # type: ignore[union-attr]
    alone = sum(1 for g in tied if not (g.comparison.low <= 0 <= g.comparison.high))  # type: ignore[union-attr]
    line = (
        f"{len(tied)} other groups cannot be told apart from `{best.label}` with these seeds: they differ by "
        f"{points(min(diffs), kind)} to {points(max(diffs), kind)}, smallest Holm-adjusted p = {adjusted:.2g}"
    )
    if alone:
        line += (
            f"; {alone} of them differ before the correction for {comparisons} comparisons with the best, "
            "which is not conclusive"
        )
    return line + ". The differences table lists each; more seeds would be needed to rank them."


def insights(
    groups: Sequence[Group],
    runs: Sequence[RunRecord],
    keys: Sequence[str],
    metric: str = "test/acc",
    alpha: float = 0.05,
) -> list[str]:
    """A few sentences: the winner, what is within noise, what collapsed and why, failures, caveats."""
    kind = metric_kind(metric)
    label = kind.label
    lines: list[str] = []
    failed = [r for r in runs if not r.ok]
    scored = [g for g in groups if g.stats.get(metric) and not g.copy_of]
    classes = num_classes(runs)
    if failed:
        verb, pronoun = ("is", "it is") if len(failed) == 1 else ("are", "they are")
        statuses = sorted({r.status for r in failed})
        what = "did not finish" + (" or cannot be read" if "unreadable" in statuses else "")
        lines.append(
            f"{len(failed)} of {len(runs)} runs {what} ({', '.join(statuses)}) "
            f"and {verb} left out of the statistics; {pronoun} listed below."
        )
    if not scored:
        lines.append(f"No run has a final {label}; there is nothing to compare.")
        return lines
    best = next(g for g in scored if g.is_best)
    bs = best.stats[metric]
    counts = sorted({g.stats[metric].n for g in scored})  # type: ignore[union-attr]
    seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    if len(scored) == 1:
        ci = f" (95% CI {_ci(bs.low, bs.high, kind)})" if bs.n > 1 else ""
        lines.append(
            f"All {bs.n} runs reach a mean {label} of {pct(bs.mean, kind)}{ci}; no setting varies between them."
        )
        return lines
    ci = f", 95% CI {_ci(bs.low, bs.high, kind)}" if bs.n > 1 else ""
    lines.append(
        f"`{best.label}` has the {kind.best_word} mean {label}{kind.direction}: {pct(bs.mean, kind)} over "
        f"{_count(bs.n, 'seed')}{ci}."
    )
    tied, worse, untested = [], [], []
    for group in scored:
        if group is best or group.comparison is None:
            continue
        c = group.comparison
        if c.distinguishable is None:
            untested.append(group)
        elif c.distinguishable:
            worse.append(group)
        else:
            tied.append(group)
    test_name = "Welch's t-test" if _test(scored) == "welch" else "bootstrap"
    for group in worse:
        c = group.comparison
        assert c is not None
        near, far = (c.high, c.low) if kind.higher_is_better else (c.low, c.high)
        lines.append(
            f"`{group.label}` is {kind.worse_word} by {points(c.diff, kind)}"
            f"{'' if kind.higher_is_better else ', and lower is better'} (95% CI of the "
            f"difference {points(near, kind)} to {points(far, kind)}; {test_name}, Holm-adjusted p = "
            f"{c.p_adjusted:.2g}): the seeds support this gap."
        )
    if len(tied) > TIED_LINES:
        lines.append(_tied_line(tied, best, len(scored) - 1, kind))
        tied = []
    for group in tied:
        c = group.comparison
        assert c is not None
        unit = f" {kind.unit}" if kind.unit else ""
        interval = f"{kind.scale * c.low:+.{2 if kind.fraction else 3}f} to {kind.scale * c.high:+.{2 if kind.fraction else 3}f}{unit}"
        if c.low <= 0 <= c.high or math.isnan(c.low):
            why = f"its 95% CI ({interval}) includes zero (adjusted p = {c.p_adjusted:.2g})"
        else:  # significant alone, not after Holm's correction for the other comparisons
            why = (
                f"its unadjusted 95% CI ({interval}, p = {c.p:.2g}) excludes zero, but after Holm's correction "
                f"for {len(scored) - 1} comparisons with the best p = {c.p_adjusted:.2g}, which is not conclusive"
            )
        lines.append(
            f"`{group.label}` cannot be told apart from `{best.label}` with these seeds: the difference is "
            f"{points(c.diff, kind)} and {why}. More seeds would be needed to rank them."
        )
    if untested:
        names = ", ".join(f"`{g.label}`" for g in untested)
        lines.append(
            f"{names}: fewer than 2 finished seeds on one side, so no test is possible; do not rank these."
        )
    for group in scored:
        if collapsed(group, metric, classes):
            assert classes is not None
            sentence = (
                f"`{group.label}` collapsed: its mean {label} of {pct(group.stats[metric].mean)} is close to "  # type: ignore[union-attr]
                f"chance ({pct(1 / classes)} for {classes} classes)."
            )
            # an explanation only where the data show the effect it explains: resolved, and a loss
            shown = group.comparison is not None and group.comparison.distinguishable and group.comparison.diff < 0
            reason = collapse_reason(group) if shown else None
            lines.append(sentence + (" " + reason if reason else ""))
        elif group is not best and group.comparison is not None and group.comparison.distinguishable:
            reason = collapse_reason(group)
            if reason and group.comparison.diff < -0.02:
                lines.append(f"`{group.label}` trails the best clearly. " + reason)
    stds = [(g, g.stats[metric].std) for g in scored if g.stats[metric].n > 1]  # type: ignore[union-attr]
    if stds:
        spread = [s for _, s in stds]
        lines.append(
            f"Seed-to-seed standard deviation of {label} ranges from {points(min(spread), kind)} to "
            f"{points(max(spread), kind)} across groups; differences smaller than that are noise at {seeds} seeds "
            "per group."
        )
        noisy = [
            g for g, s in stds if len(stds) > 2 and s > 3 * sorted(spread)[len(spread) // 2] and s > 0.01
        ]
        for group in noisy:
            std = group.stats[metric].std  # type: ignore[union-attr]
            lines.append(f"`{group.label}` is unstable across seeds (std {points(std, kind)}).")
    lines += _cost_lines(scored, best)
    epochs = {r.epochs for r in runs if r.ok and r.epochs}
    if epochs and max(epochs) <= 3:
        lines.append(
            f"Every run trained for {_count(max(epochs), 'epoch')} only: the ranking describes early training "
            "and may change with longer schedules."
        )
    lines += _startup_lines(runs)
    return lines


def _test(groups: Sequence[Group]) -> str:
    for group in groups:
        if group.comparison is not None:
            return group.comparison.test
    return "welch"


def _cost_lines(groups: Sequence[Group], best: Group) -> list[str]:
    lines = []
    params = {g.label: g.first("params_total") for g in groups}
    if len({p for p in params.values() if p}) > 1:
        smallest = min((g for g in groups if params[g.label]), key=lambda g: params[g.label])
        if smallest is not best and smallest.comparison and smallest.comparison.distinguishable is False:
            lines.append(
                f"`{smallest.label}` matches the best within noise with {params[smallest.label]:,} parameters "
                f"against {params[best.label]:,}."
            )
    elif len({p for p in params.values() if p}) == 1:
        value = next(p for p in params.values() if p)
        lines.append(
            f"All groups have the same number of parameters ({value:,}): the differences are not capacity."
        )
    speed = {g.label: g.attribute("images_per_s") for g in groups}
    known = {k: v for k, v in speed.items() if v is not None}
    if len(known) > 1:
        fast = max(known, key=lambda k: known[k].mean)  # type: ignore[union-attr]
        slow = min(known, key=lambda k: known[k].mean)  # type: ignore[union-attr]
        fs, ss = known[fast], known[slow]
        if ss.mean > 0 and fs.mean / ss.mean > 1.2 and _separate(fs, ss):
            lines.append(
                f"Measured training throughput differs: `{fast}` {fs.mean:,.0f} images/s against `{slow}` "
                f"{ss.mean:,.0f} images/s (non-overlapping 95% intervals). Each job shares the machine with whatever "
                "else runs at its time (other jobs of the sweep among them), so the load is confounded with the "
                "setting: time them on an idle machine before attributing the difference to the setting."
            )
    return lines


def _separate(a: object, b: object) -> bool:
    """Non-overlapping confidence intervals (a conservative check for timings)."""
    low_a, high_a = getattr(a, "low", math.nan), getattr(a, "high", math.nan)
    low_b, high_b = getattr(b, "low", math.nan), getattr(b, "high", math.nan)
    if any(math.isnan(v) for v in (low_a, high_a, low_b, high_b)):
        return False
    return low_a > high_b or low_b > high_a


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _startup_lines(runs: Sequence[RunRecord]) -> list[str]:
    """The first job of a sweep pays one-off costs (imports, data caching): say so when it shows."""
    timed = [r for r in runs if r.ok and r.wall_time_s]
    if len(timed) < 3:
        return []
    first, rest = timed[0], sorted(r.wall_time_s for r in timed[1:])  # type: ignore[misc]
    median = rest[len(rest) // 2]
    if median > 0 and first.wall_time_s > 3 * median:  # type: ignore[operator]
        return [
            f"The first run (`{first.name}`) took {first.wall_time_s:.1f} s against a median of {median:.1f} s "
            "for the others, most likely one-off start-up (imports, data caching): its group's wall time and "
            "throughput are inflated by it."
        ]
    return []
