"""docs/results.md quotes the compare reports beside it: each preset's mean test accuracy is that of its summary.json."""

from __future__ import annotations

import csv
import json
import re

import pytest

from .conftest import REPO

PAGE = (REPO / "docs" / "results.md").read_text()
#: The summary table at the top of the page.
SUMMARY = PAGE.split("## Summary", 1)[1].split("\n\n", 2)[1]
SUMMARIES = sorted((REPO / "docs" / "results").glob("*/summary.json"))


def test_every_report_dir_has_a_summary():
    assert len(SUMMARIES) >= 6


@pytest.mark.parametrize("summary", SUMMARIES, ids=[p.parent.name for p in SUMMARIES])
def test_the_page_quotes_each_reports_accuracies(summary):
    data = json.loads(summary.read_text())
    assert data["command"].split(" -q")[0].replace("python -m experiments.compare", "") in PAGE.replace(
        "python -m experiments compare", ""
    ), f"docs/results.md lacks the command that made {summary.parent.name}"
    for group in data["groups"]:
        mean = 100 * group["stats"]["test/acc"]["mean"]
        assert f"{mean:.2f}" in PAGE, f"{summary.parent.name}: {group['label']}'s {mean:.2f} % is not quoted"


# ---- test-set intervals (issue #27, point 6) ----------------------------------------------------------
#
# Every reference number carries the interval of its test set: Wilson on the test images at the seeds' mean,
# widened by the seeds' t half-width in quadrature (experiments.comparison.analysis.test_images). The
# accuracies come from each report's runs.csv (in summary.json's group order), or, for the runs without a
# report dir, from the page's own per-seed tables; the test-set size from the dataset, checked against the
# files: every run's accuracy times it must be a whole number of images.

#: Test images of each dataset: the official MNIST and CIFAR-10 test sets; flowers17's seeded 20 % per class.
TEST_IMAGES = {"mnist": 10_000, "cifar10": 10_000, "flowers17": 340}
#: Presets quoted from the page's tables (their runs predate the report dirs): their data.
PAGE_SOURCES = {
    "lenet5_mnist_keras": "mnist",
    "lenet5_classic_mnist": "mnist",
    "alexnet_flowers17_bn": "flowers17",
}
INTERVAL_ROW = re.compile(r"^\| `(?P<name>\w+)`(?P<rest>.*)$", re.M)
INTERVALS_HEADER = "| preset | test images | seeds | test acc % | test-sampling interval % | interval with seeds % | reference | verdict |"


def _report_sources() -> dict[str, list[tuple[str, list[float]]]]:
    """{report dir: [(group label, its runs' test accuracies)]}, groups in summary.json's order."""
    found = {}
    for summary in SUMMARIES:
        rows = list(csv.DictReader((summary.parent / "runs.csv").open()))
        labels = [g["label"] for g in json.loads(summary.read_text())["groups"]]
        found[summary.parent.name] = [
            (label, [float(r["test/acc"]) for r in rows if r["group"] == label and r["status"] == "ok"])
            for label in labels
        ]
    return found


def _page_accuracies(name: str) -> list[float]:
    seeds = re.findall(rf"^\| {name} \| \d \| ([\d.]+) \|", PAGE, re.M)
    if not seeds:  # one run, quoted in prose
        seeds = re.findall(r"flips only: ([\d.]+) % test", PAGE) if name == "alexnet_flowers17_bn" else []
    return [float(s) / 100 for s in seeds]


def _data_of(report: str) -> str:
    return re.search(r"`data=(\w+)`", (REPO / "docs" / "results" / report / "report.md").read_text()).group(1)


def verdict(reference: str, interval) -> str:
    """``>= X % (goal)``: met only where the whole interval clears X; a paper's error: told apart or not."""
    goal = re.search(r">= ([\d.]+) %", reference)
    error = re.search(r"([\d.]+) % error", reference)
    if goal:
        target = float(goal.group(1)) / 100
        return "met" if interval.clears(target) else "missed" if interval.high < target else "not established"
    if error:
        target = 1 - float(error.group(1)) / 100
        if interval.high < target:
            return "missed"
        return "beaten" if interval.low > target else "not told apart"
    return "-"


def expected_interval_rows() -> dict[str, list[str]]:
    """The rows the page's test-set interval table must hold, by preset (or report dir)."""
    from experiments.comparison.analysis.test_images import reference_interval

    summary_rows = {
        SUMMARY_NAMES.get(m.group("name"), m.group("name")): m.group(0) for m in SUMMARY_ROW.finditer(SUMMARY)
    }
    sources = {name: [("", _page_accuracies(name))] for name in PAGE_SOURCES} | _report_sources()
    rows: dict[str, list[str]] = {}
    for name, groups in sources.items():
        n = TEST_IMAGES[PAGE_SOURCES.get(name) or _data_of(name)]
        for label, accuracies in groups:
            assert accuracies, f"{name}: no accuracy for {label or 'its runs'}"
            for a in accuracies if name not in PAGE_SOURCES else ():  # the page rounds; the files do not
                assert abs(a * n - round(a * n)) < 0.06, f"{name}: {a} is no count of {n} images"
            r = reference_interval(accuracies, n)
            reference = summary_rows[name].split(" | ")[1].strip() if name in summary_rows else "none given"
            rest = f" {_short(label)}" if len(groups) > 1 else ""
            rows.setdefault(name, []).append(
                f"| `{name}`{rest} | {n:,} | {r.seeds} | {100 * r.mean:.2f} | "
                f"[{100 * r.test_sampling.low:.2f}, {100 * r.test_sampling.high:.2f}] | "
                f"[{100 * r.low:.2f}, {100 * r.high:.2f}] | {reference} | {verdict(reference, r)} |"
            )
    return rows


SUMMARY_ROW = re.compile(r"^\| `(?P<name>\w+)`[^|]*\|.*$", re.M)
#: A summary row's preset whose report dir has another name.
SUMMARY_NAMES = {"alexnet_cifar10_finetune": "alexnet_cifar10_finetune_64"}


def _short(label: str) -> str:
    """A group label with a path value cut to its last three parts (``k=.../a/b/c``)."""
    key, _, value = label.partition("=")
    return f"{key}=.../{'/'.join(value.split('/')[-3:])}" if "/" in value else label


def test_the_wilson_interval_of_the_brief_examples():
    from experiments.comparison.analysis.test_images import interval_of_accuracy

    mnist, flowers = interval_of_accuracy(0.9936, 10_000), interval_of_accuracy(0.8147, 340)
    assert (f"{100 * mnist.low:.2f}", f"{100 * mnist.high:.2f}") == ("99.18", "99.50")
    assert (f"{100 * flowers.low:.1f}", f"{100 * flowers.high:.1f}") == ("77.0", "85.2")


def test_every_reference_number_carries_its_test_set_interval():
    assert INTERVALS_HEADER in PAGE
    table = PAGE.split(INTERVALS_HEADER, 1)[1].split("\n\n", 1)[0]
    expected = expected_interval_rows()
    for rows in expected.values():
        for row in rows:
            assert row in table, f"docs/results.md's interval table lacks or misquotes\n{row}"
    quoted = {m.group("name") for m in INTERVAL_ROW.finditer(table)}
    assert quoted == set(expected), quoted ^ set(expected)


def test_the_summary_says_met_only_where_the_interval_clears_the_goal():
    for name, rows in expected_interval_rows().items():
        line = next(
            (
                m.group(0)
                for m in SUMMARY_ROW.finditer(SUMMARY)
                if SUMMARY_NAMES.get(m.group("name"), m.group("name")) == name
            ),
            None,
        )
        assert line is not None, f"no summary row of {name}"
        for row in rows:
            cells = row.strip("| ").split(" | ")
            interval, verdict_word = cells[5], cells[7]
            assert interval in line, f"summary row of {name} lacks its interval {interval}"
            if verdict_word != "-":
                assert verdict_word in line, f"summary row of {name}: expected '{verdict_word}'"
        assert not re.search(r"\bmet\b", line) or "met" in {
            row.strip("| ").split(" | ")[7] for row in rows
        }, name


def test_each_interval_beside_the_interval_command_is_what_it_prints():
    from experiments.comparison.analysis.test_images import interval_of_accuracy

    commands = list(
        re.finditer(r"python -m experiments\.comparison\.analysis\.test_images ([\d.]+) (\d+)", PAGE)
    )
    assert commands
    for command in commands:
        accuracy, n = float(command.group(1)), int(command.group(2))
        w = interval_of_accuracy(accuracy / 100 if accuracy > 1 else accuracy, n)
        before = PAGE[max(0, command.start() - 400) : command.start()]
        assert f"[{100 * w.low:.2f}, {100 * w.high:.2f}]" in before, command.group(0)
