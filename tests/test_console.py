"""What a person sees: the default run in a real pseudo-terminal (80 and 120 columns) and through a pipe."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .conftest import cli_env, run_in_terminal

pytestmark = pytest.mark.slow

CHATTER = (
    "GPU available",
    "TPU available",
    "litlogger",
    "LeafSpec",
    "on_after_batch_transfer",
    "[pytorch_lightning",
    "Restoring states from the checkpoint",
    "Loaded model weights",
    "To append to your config",
)


@pytest.mark.parametrize("columns", [80, 120])
def test_a_run_in_a_terminal_shows_a_live_bar_a_layer_table_and_no_library_chatter(tmp_path, columns):
    screen = run_in_terminal(["trainer.max_epochs=2", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, columns)
    lines = [line for raw in screen.splitlines() for line in raw.split("\r") if line.strip()]
    assert lines[0].startswith("experiments: lenet5 on digits")
    assert any(line.startswith("layer") and "params" in line for line in lines)  # the layer table
    assert any("total" in line and "61,706" in line for line in lines)
    assert any(line.startswith("Epoch 2/2") for line in lines)  # rich bar, epochs numbered from 1
    assert not any(line.startswith("Epoch 0/") for line in lines)
    assert f"Run dir: {tmp_path / 'run'}" in screen and "experiments compare" in screen
    for chatter in CHATTER:
        assert chatter not in screen, chatter
    table = [line for line in lines if re.match(r"(C1|S2|C3|S4|C5|F6|output|total)\s", line)]
    assert table and max(len(line) for line in table) <= columns


def test_the_default_run_piped_fits_one_screen_and_says_what_matters(default_cli_run):
    result, run_dir = default_cli_run  # its records: test_cli
    tmp_path = run_dir.parent  # the run's working dir
    out = result.stdout + result.stderr
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) <= 25, out
    assert lines[0] == f"experiments: lenet5 on digits (the defaults) -> {tmp_path / 'run'}"
    assert any(line.startswith("device: cpu") for line in lines)
    assert any("sizes {'train': 1258, 'val': 179, 'test': 360}" in line for line in lines)
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == [f"{n}/10" for n in range(1, 11)]
    assert all("train/loss=" in line and "val/acc=" in line and "loss_step" not in line for line in epochs)
    assert f"Run dir: {tmp_path / 'run'}" in out and re.search(r"test/acc\s+0\.\d{4}\s+\(\d+\.\d\d %\)", out)
    assert "Next:\n  experiments compare run\n" in out  # paths below the working dir are shown relative
    for chatter in CHATTER:
        assert chatter not in out, chatter
    log = (tmp_path / "run" / "experiments.log").read_text()
    assert "GPU available" in log  # the libraries' lines are kept in the run's log file


def test_the_first_line_comes_before_torch_is_imported(tmp_path):
    """stdout and stderr in one pipe: ``-X importtime`` reports torch's import after the first line."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "experiments", "trainer.max_epochs=1"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    lines = result.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("experiments: lenet5 on digits"))
    torch_loaded = next(i for i, line in enumerate(lines) if re.search(r"\|\s+torch$", line))
    assert first < torch_loaded
