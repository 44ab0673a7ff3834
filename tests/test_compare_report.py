"""How the compare report reads: the terminal table at 100 columns (rich and a real pseudo-terminal), the
HTML page in a real headless Chromium (no horizontal overflow, a scrolling all-runs table), and plots
that only appear where they can say something, in the tables' units, chosen on validation data."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from experiments.comparison import compare
from experiments.comparison.analysis.grouping import group_runs
from experiments.comparison.sources.collect import collect
from experiments.comparison.writers.group_plots import axis_label, confusion_choice, subject
from experiments.records.run_record import RunRecord

from .conftest import run_in_terminal
from .test_compare import parse_html, pixel_variance, write_run

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium here (CI installs Debian's chromium: apt-get install chromium)"
)


def grid_sweep(root: Path, seeds: int = 2, epochs: int = 2) -> Path:
    """A 2x2 grid (pooling x activation) with ``seeds`` seeds per cell, as job dirs 0..N-1."""
    accs = iter([0.941, 0.938, 0.921, 0.913, 0.926, 0.919, 0.939, 0.915] * seeds)
    num = 0
    for pooling in ("max", "avg"):
        for activation in ("relu", "tanh"):
            for seed in range(seeds):
                overrides = {"pooling": pooling, "activation": activation, "seed": seed}
                write_run(root, num, overrides, next(accs), epochs=epochs)
                num += 1
    return root


def table_lines(text: str, labels: list[str]) -> dict[str, str]:
    """The table row of each group label: a line that holds the label whole, followed by its run count."""
    found = {}
    for label in labels:
        rows = [line for line in text.splitlines() if re.search(re.escape(label) + r"\s+\d+/\d+\s", line)]
        assert rows, f"{label!r} is not whole in any table row:\n{text}"
        found[label] = rows[0]
    return found


# --------------------------------------------------------------------------- terminal


@pytest.mark.parametrize("width", [100, 120, 200])
def test_group_table_keeps_group_names_whole(tmp_path, width):
    from rich.console import Console

    from experiments.comparison.writers.terminal import print_table

    report = compare([grid_sweep(tmp_path / "sweep")], tmp_path / "out", plots=False)
    console = Console(width=width, record=True, color_system=None)
    print_table(report, console)
    text = console.export_text()
    rows = table_lines(text, [g.label for g in report.groups])
    assert all(len(line) <= width for line in text.splitlines()), text
    assert all("…" not in line for line in rows.values())
    assert all(re.search(r"\d\d\.\d\d", line) for line in rows.values())  # the primary metric stays
    if width >= 200:
        assert "Left out" not in text and "wall s" in text
    else:
        assert "Left out at" in text  # what was folded away is said, not hidden


@pytest.mark.slow
def test_group_table_in_a_real_terminal_at_100_columns(tmp_path):
    sweep = grid_sweep(tmp_path / "sweep")
    screen = run_in_terminal(["compare", str(sweep), "-o", str(tmp_path / "out"), "--no-plots"], ROOT, 100)
    screen = screen.replace("\r", "")
    labels = [f"pooling={p},activation={a}" for p in ("max", "avg") for a in ("relu", "tanh")]
    table_lines(screen, labels)
    rich_part = screen[: screen.index("Report: ")]  # the last line is a plain print (the terminal wraps it)
    assert all(len(line) <= 100 for line in rich_part.splitlines()), screen
    assert "Left out at 100 columns" in screen


# --------------------------------------------------------------------------- HTML

MEASURE = """<script>
const boxes = [...document.querySelectorAll(".scroll")];
const images = [...document.images].map(i => [i.naturalWidth, i.getBoundingClientRect().width,
  i.parentElement.getBoundingClientRect().width]);
const out = document.createElement("pre");
out.id = "measure";
out.textContent = JSON.stringify({page: document.documentElement.scrollWidth, window: window.innerWidth,
  boxes: boxes.map(b => [b.scrollWidth, b.clientWidth, getComputedStyle(b).overflowX]), images});
document.body.appendChild(out);
</script>"""


def chromium(*args: str) -> str:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def measure(page: Path, width: int) -> dict:
    """The page's layout in a real browser window ``width`` pixels wide (a copy of it with a script that
    writes the measurements into the DOM, read back with ``--dump-dom``)."""
    probe = page.with_name(f"measure_{width}.html")
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dom = chromium(f"--window-size={width},900", "--virtual-time-budget=3000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="measure">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"'))


@pytest.mark.slow
@needs_chromium
@pytest.mark.parametrize("width", [1280, 800])
def test_html_report_does_not_overflow_in_a_real_browser(tmp_path, width):
    report = compare([grid_sweep(tmp_path / "sweep")], tmp_path / "out")
    page = tmp_path / "out" / "report.html"
    layout = measure(page, width)
    assert layout["page"] <= layout["window"], layout  # no horizontal scroll bar on the page
    assert layout["boxes"] and all(overflow == "auto" for _, _, overflow in layout["boxes"])
    runs_box = layout["boxes"][-1]  # the all-runs table: wider than its box, which scrolls instead
    assert runs_box[0] > runs_box[1], layout
    assert len(layout["images"]) == len(report.plots)
    for natural, shown, room in layout["images"]:  # each plot at its own size, or as wide as there is room
        assert natural >= 600 and shown >= min(natural, room) - 2, layout["images"]
    shot = tmp_path / f"report_{width}.png"
    chromium(f"--screenshot={shot}", f"--window-size={width},900", page.as_uri())
    assert shot.is_file() and pixel_variance(shot) > 50


def test_all_runs_table_in_percent_with_one_based_epochs(tmp_path):
    compare([grid_sweep(tmp_path / "sweep", epochs=3)], tmp_path / "out", plots=False)
    text = (tmp_path / "out" / "report.html").read_text()
    runs_part = text[text.index("<h2>All runs</h2>") :]
    assert "<th>test/acc %</th>" in runs_part and "<th>best epoch</th>" in runs_part
    first = RunRecord.read(tmp_path / "sweep" / "0")
    cells = parse_html(tmp_path / "out" / "report.html").cells
    assert f"{100 * first.metrics['test/acc']:.2f}" in cells  # 94.10, not 0.9410
    assert f"{first.metrics['test/acc']:.4f}" not in runs_part
    assert first.best_epoch == 3 and "3" in cells  # the last of 3 epochs, 1-based as recorded


# --------------------------------------------------------------------------- plots


def test_no_plot_that_cannot_say_anything(tmp_path):
    """One epoch: no curves; equal parameter counts: no accuracy against parameters."""
    report = compare([grid_sweep(tmp_path / "sweep", epochs=1)], tmp_path / "out")
    assert "curves" not in report.plots and "params" not in report.plots
    assert {"final", "time", "confusion"} <= set(report.plots)
    assert not (tmp_path / "out" / "val_curves.png").exists()
    # a rerun of a longer sweep into the same dir draws the curves; its stale absence is not kept either
    report = compare([grid_sweep(tmp_path / "sweep2", epochs=2)], tmp_path / "out")
    assert (tmp_path / "out" / "val_curves.png").is_file()


def test_one_seed_per_group_draws_curves_without_a_band(tmp_path):
    report = compare([grid_sweep(tmp_path / "sweep", seeds=1)], tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert "curves" in report.plots and "one run per group" in md and "± 1 std" not in md


def test_plots_name_model_and_data_and_use_percent(tmp_path):
    _, groups = group_runs(collect([grid_sweep(tmp_path / "sweep")]))
    assert subject(groups) == "lenet5 on digits"
    assert axis_label("test/acc") == "test acc (%)" and axis_label("test/loss") == "test loss"


def test_best_confusion_is_chosen_by_validation_not_test(tmp_path):
    """The run with the highest test accuracy is not the one shown: validation chooses."""
    sweep = tmp_path / "sweep"
    write_run(sweep, 0, {"pooling": "max", "seed": 0}, 0.99)  # best test acc ...
    write_run(sweep, 1, {"pooling": "max", "seed": 1}, 0.90)
    write_run(sweep, 2, {"pooling": "avg", "seed": 0}, 0.95)
    write_run(sweep, 3, {"pooling": "avg", "seed": 1}, 0.94)
    results = json.loads(RunRecord.file(sweep / "0").read_text())
    results["metrics"]["val/acc_best"] = 0.80  # ... but a poor validation score
    RunRecord.file(sweep / "0").write_text(json.dumps(results))
    report = compare([sweep], tmp_path / "out")
    run, chooser = confusion_choice(report.groups)
    assert chooser == "val/acc_best" and run.name == "pooling=avg,seed=0"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["confusion_run"]["name"] == "pooling=avg,seed=0"
    assert summary["confusion_run"]["chosen_by"] == "val/acc_best"
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Confusion matrix of pooling=avg,seed=0, the run with the highest best val acc (not test)" in md
