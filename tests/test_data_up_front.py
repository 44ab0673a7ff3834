"""#29.4: a dataset's files are checked torch-free before any run or sweep dir exists (run, sweep, dry run)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO, cli_env, run_cli

MISSING = ["data=mnist", "paths.data_dir=/nonexistent"]


@pytest.mark.parametrize(
    "args",
    [MISSING, ["-m", *MISSING, "seed=0,1"], ["-m", *MISSING, "seed=0,1", "sweep.dry_run=true"]],
    ids=["run", "sweep", "dry run"],
)
def test_missing_data_is_refused_before_any_dir(tmp_path, args):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    shown = result.stdout + result.stderr
    assert "paths.data_dir is /nonexistent" in shown and "EXPERIMENTS_DATA_DIR" in shown
    assert "0 invalid" not in shown
    assert list(tmp_path.iterdir()) == []  # no outputs/, no run or sweep dir


def test_the_check_imports_no_torch():
    code = (
        "import sys\n"
        "from experiments.config import compose, ConfigError\n"
        "from experiments.cli.preflight import check_data_files\n"
        "cfg = compose(['data=mnist', 'paths.data_dir=/nonexistent', 'paths.output_dir=x'], validated=False)\n"
        "try:\n    check_data_files(cfg)\nexcept ConfigError as error:\n    print('refused:', error)\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=cli_env(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "refused: paths.data_dir" in result.stdout and result.stdout.strip().endswith("False")


def test_a_sweep_advises_a_retry_only_for_failures_a_retry_can_fix():
    from experiments.sweeps.progress import failure_advice

    config = {"status": "failed", "error": "ConfigError: optimizer.lr: must be a positive number"}
    data = {"status": "failed", "error": "DataSourceError: no MNIST files in /nowhere"}
    crash = {"status": "failed", "error": "RuntimeError: CUDA out of memory"}
    assert failure_advice([config, data]) == [
        "2 job(s) failed on their config or data (a retry fails the same way): fix what their error names, "
        "then re-run with sweep.resume=true."
    ]
    advice = failure_advice([config, crash])
    assert len(advice) == 2 and advice[1].startswith("1 job(s) failed; re-run the same command with sweep.resume=true")
    assert failure_advice([]) == []
