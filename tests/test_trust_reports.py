"""Reports to trust: report.md shows run data as text (never HTML), compare does not write over a person's
files, a secret typed in an override is masked everywhere, a job of another sweep is not called failed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.records.run_record import RunRecord
from tests.conftest import cli_env, run_cli
from tests.test_compare import write_run

SCRIPT = "<script>alert(1)</script>"


def _compare(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experiments", "compare", "--no-plots", "-q", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _hand_built_sweep(root: Path) -> Path:
    sweep = root / "sweep"
    num = 0
    for pooling in ("max", f"x{SCRIPT}"):
        for seed in (0, 1):
            write_run(sweep, num, {"pooling": pooling, "seed": seed}, 0.9 + 0.01 * num)
            num += 1
    failed = write_run(sweep, num, {"pooling": "max", "seed": 2}, None, status="failed")
    record = json.loads(RunRecord.file(failed).read_text())
    record["error"] = f"RuntimeError: <img src=x onerror=alert(2)> {SCRIPT}"
    RunRecord.file(failed).write_text(json.dumps(record))
    return sweep


def test_report_md_escapes_html_from_run_data_as_report_html_does(tmp_path):
    sweep = _hand_built_sweep(tmp_path)
    result = _compare(str(sweep), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    markdown = (sweep / "compare" / "report.md").read_text()
    assert "&lt;script>" in markdown  # the group name is shown, as text
    assert "<script" not in markdown and "<img" not in markdown
    assert "<script" not in (sweep / "compare" / "report.html").read_text().split("</style>", 1)[1]


def test_sweep_summary_md_escapes_html_from_overrides_and_errors(tmp_path):
    from experiments.sweeps.table import SUMMARY_MD, job_rows, write_summary

    sweep = _hand_built_sweep(tmp_path)
    write_summary(sweep, job_rows(sweep))
    text = (sweep / SUMMARY_MD).read_text()
    assert "<script" not in text and "<img" not in text and "&lt;script>" in text


def test_compare_refuses_a_dir_it_did_not_write_unless_overwrite(tmp_path):
    sweep = _hand_built_sweep(tmp_path)
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "report.md").write_text("my own report, written by hand\n")
    refused = _compare(str(sweep), "-o", str(mine), cwd=tmp_path)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and str(mine) in lines[0] and "--overwrite" in lines[0], refused.stderr
    assert (mine / "report.md").read_text() == "my own report, written by hand\n"
    assert sorted(p.name for p in mine.iterdir()) == ["report.md"]  # nothing written

    forced = _compare(str(sweep), "-o", str(mine), "--overwrite", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert "my own report" not in (mine / "report.md").read_text()

    out = tmp_path / "out"
    for _ in range(2):  # its own earlier output is written over without --overwrite; the default dir too
        assert _compare(str(sweep), "-o", str(out), cwd=tmp_path).returncode == 0
        assert _compare(str(sweep), cwd=tmp_path).returncode == 0


def test_compare_recognises_a_report_written_before_the_marker(tmp_path):
    sweep = _hand_built_sweep(tmp_path)
    out = tmp_path / "out"
    assert _compare(str(sweep), "-o", str(out), cwd=tmp_path).returncode == 0
    (out / ".experiments-compare").unlink()
    assert _compare(str(sweep), "-o", str(out), cwd=tmp_path).returncode == 0


def _hold(run_dir: str, ready, stop) -> None:
    from experiments.records.lock import lock_run_dir

    lock_run_dir(run_dir)
    ready.set()
    stop.wait(60)


def test_a_job_that_another_sweep_runs_is_reported_as_such_not_failed(tmp_path, capsys):
    import multiprocessing

    from omegaconf import OmegaConf

    from experiments.sweeps.progress import SweepCallback, _outcome
    from experiments.sweeps.table import SUMMARY_JSON, job_rows

    sweep = tmp_path / "sweep"
    write_run(sweep, 0, {"seed": 0}, 0.9)
    running = write_run(sweep, 1, {"seed": 1}, None, status="running")
    stale = write_run(sweep, 2, {"seed": 2}, None, status="running")  # its process is gone: not ok
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(str(running), ready, stop))
    holder.start()
    try:
        assert ready.wait(60)
        assert [r["status"] for r in job_rows(sweep)] == ["ok", "running in another sweep", "running"]
        assert _outcome(RunRecord.file(running)).startswith("running in another sweep")
        config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})
        SweepCallback().on_multirun_end(config)
    finally:
        stop.set()
        holder.join(30)
    out = capsys.readouterr().out
    assert SweepCallback.failed_jobs == 1  # the stale one only
    assert "1 of 3 jobs ok" in out and "1 job(s) failed" in out
    assert "1 job(s) running in another sweep" in out
    counts = json.loads((sweep / SUMMARY_JSON).read_text())["counts"]
    assert counts["running in another sweep"] == 1
    assert RunRecord.read(stale).status == "running"


SECRET = "sk-typed-0123456789abcdef"


@pytest.mark.slow
@pytest.mark.parametrize("override", [f"+wandb_api_key={SECRET}", f"+hf_token={SECRET}"])
def test_a_secret_typed_in_an_override_is_in_no_file_of_the_run(tmp_path, override):
    import torch

    run_dir = tmp_path / "run"
    result = run_cli(
        "logger=many",
        "trainer.max_epochs=1",
        "trainer.num_sanity_val_steps=0",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1",
        override,
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert SECRET not in result.stdout + result.stderr
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files) and any(p.suffix == ".ckpt" for p in files)
    leaked = [str(p.relative_to(run_dir)) for p in files if SECRET.encode() in p.read_bytes()]
    assert not leaked, leaked
    for checkpoint in run_dir.rglob("*.ckpt"):
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        assert SECRET not in repr(state.get("config")) and SECRET not in repr(state.get("hyper_parameters"))


@pytest.mark.slow
def test_a_secret_typed_in_a_parallel_sweep_is_in_no_file_of_its_workers_jobs(tmp_path):
    import torch

    sweep = tmp_path / "sweep"
    result = run_cli(
        "-m",
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=2",
        "seed=0,1",
        "logger=many",
        "trainer.max_epochs=1",
        "trainer.num_sanity_val_steps=0",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1",
        f"+wandb_api_key={SECRET}",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert SECRET not in result.stdout + result.stderr
    files = [p for p in sweep.rglob("*") if p.is_file()]
    assert len([p for p in files if p.suffix == ".wandb"]) == 2
    leaked = [str(p.relative_to(sweep)) for p in files if SECRET.encode() in p.read_bytes()]
    assert not leaked, leaked
    for checkpoint in sweep.rglob("*.ckpt"):
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        assert SECRET not in repr(state)
