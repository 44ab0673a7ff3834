"""Small fixes of #29: debug presets' headers, compare's default output dir, the run plot's title, srun."""

from __future__ import annotations

import warnings
from pathlib import Path

from experiments.records.run_record import RunRecord

REPO = Path(__file__).resolve().parents[1]


def test_debug_presets_say_debug_without_plus():
    """conf/config.yaml has ``- debug: null``: ``+debug=X`` fails, so no header may say it."""
    for preset in sorted((REPO / "conf" / "debug").glob("*.yaml")):
        text = preset.read_text()
        assert "+debug=" not in text, preset
        assert f"experiments debug={preset.stem}" in text, preset


def test_compare_without_out_writes_beside_its_inputs_not_into_the_cwd(tmp_path, monkeypatch):
    from experiments.comparison.pipeline import default_out

    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert default_out([first]) == first / "compare"
    assert default_out([first, second]) == first / "compare"  # was ./compare in the cwd
    assert default_out(["entity/project"]) == Path("compare")  # W&B only: said in --help and printed


def test_run_plot_title_names_the_run_not_default(tmp_path):
    from experiments.records.run_plots import plot_title

    record = RunRecord(name="default", model="lenet5", data="digits")
    assert plot_title(record, tmp_path / "12-00-00") == "lenet5 on digits: the defaults (12-00-00)"
    record = RunRecord(name="pooling=avg,seed=1", model="lenet5", data="mnist")
    assert plot_title(record, tmp_path / "3") == "lenet5 on mnist: pooling=avg,seed=1 (3)"


def test_srun_warning_is_quiet_only_outside_slurm(monkeypatch):
    from experiments.training.task import SRUN_WARNING, quiet_library_warnings

    message = "The `srun` command is available on your system but is not used. HINT: ..."
    for job_id, shown in ((None, 0), ("123", 1)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if job_id is None:
                monkeypatch.delenv("SLURM_JOB_ID", raising=False)
            else:
                monkeypatch.setenv("SLURM_JOB_ID", job_id)
            quiet_library_warnings()
            warnings.warn(message, UserWarning, stacklevel=1)
        assert len([w for w in caught if SRUN_WARNING[:20] in str(w.message)]) == shown
