"""Jobs that are the same experiment: max/min pooling commute with monotone activations, avg/Lp and gelu do not."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from experiments.records.run_record import RunRecord
from experiments.sweeps.identical import block_order_is_moot, identical_jobs

from .conftest import compose_config, run_cli

ORDERS = ("conv-act-pool", "conv-pool-act")


def outputs_for_both_orders(*overrides: str) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.randn(4, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    outputs = []
    for order in ORDERS:
        torch.manual_seed(0)
        net = instantiate(compose_config(*overrides, f"model.net.block_order={order}").model.net).eval()
        with torch.no_grad():
            outputs.append(net(images))
    return outputs[0], outputs[1]


@pytest.mark.parametrize("pooling", ["max", "min"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu", "elu", "scaled_tanh"])
def test_order_statistic_pools_commute_with_monotone_activations(pooling, activation):
    first, second = outputs_for_both_orders(f"pooling={pooling}", f"activation={activation}")
    assert torch.equal(first, second)  # the same network: bit-identical outputs on the same weights
    assert block_order_is_moot(compose_config(f"pooling={pooling}", f"activation={activation}"))


@pytest.mark.parametrize(
    ("pooling", "activation"), [("avg", "relu"), ("lp", "tanh"), ("max", "gelu"), ("min", "silu")]
)
def test_the_block_order_matters_for_averaging_pools_and_non_monotone_activations(pooling, activation):
    first, second = outputs_for_both_orders(f"pooling={pooling}", f"activation={activation}")
    assert not torch.allclose(first, second)
    assert not block_order_is_moot(compose_config(f"pooling={pooling}", f"activation={activation}"))


def test_a_layer_between_activation_and_pool_breaks_the_identity():
    assert not block_order_is_moot(compose_config("model=lenet5_classic", "pooling=max", "activation=relu"))
    assert not block_order_is_moot(compose_config("model=alexnet_paper", "pooling=max", "activation=relu"))
    assert block_order_is_moot(compose_config("model=alexnet_bn", "pooling=max", "activation=relu"))


def test_equal_values_under_two_option_names_are_one_experiment():
    configs = [
        compose_config("padding=same"),
        compose_config("padding=zeros"),
        compose_config("padding=valid"),
    ]
    assert identical_jobs(configs) == {1: 0}


def test_constant_padding_with_the_value_0_is_zero_padding():
    """As measured in the padding study: constant (value 0) and zeros trained bit-identical networks."""
    configs = [
        compose_config("padding=zeros"),
        compose_config("padding=constant"),
        compose_config("padding=constant", "padding.value=0.5"),
        compose_config("padding=reflect"),
    ]
    assert identical_jobs(configs) == {1: 0}


def test_the_dry_run_names_the_identical_jobs_and_starts_nothing(tmp_path):
    result = run_cli(
        "-m",
        "pooling=max,avg",
        "activation=relu",
        f"model.net.block_order={','.join(ORDERS)}",
        "sweep.dry_run=true",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert any(line.startswith("1 ") and "same experiment as job 0" in line for line in lines)
    assert not any("same experiment" in line for line in lines if line.startswith(("2 ", "3 ")))
    assert "4 jobs: 3 to run, 0 invalid, 1 the same experiment as an earlier job" in result.stdout
    assert not (tmp_path / "outputs" / "multirun").exists()


def test_a_dry_run_with_a_bad_job_exits_2_and_lists_it(tmp_path):
    result = run_cli("-m", "optimizer.lr=0.001,-1", "sweep.dry_run=true", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid: optimizer.lr: must be a number > 0" in result.stdout
    assert not (tmp_path / "outputs" / "multirun").exists()


@pytest.mark.slow
def test_an_identical_job_reuses_the_earlier_record_and_trained_it_would_be_bit_identical(tmp_path):
    import json

    orders = f"model.net.block_order={','.join(ORDERS)}"
    runs = {}
    for reuse in ("true", "false"):
        sweep = tmp_path / f"reuse-{reuse}"
        result = run_cli(
            "-m",
            "pooling=max",
            orders,
            "trainer.max_epochs=1",
            "deterministic=true",
            f"sweep.reuse_identical={reuse}",
            f"hydra.sweep.dir={sweep}",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        runs[reuse] = [RunRecord.read(sweep / str(n)) for n in (0, 1)]
    first, reused = runs["true"]
    assert reused.identical_to == "../0" and "not trained again" in str(reused.note).replace(
        "nothing was trained again", "not trained again"
    )
    assert reused.metrics == first.metrics and reused.overrides[1] == "model.net.block_order=conv-pool-act"
    assert not (tmp_path / "reuse-true" / "1" / "checkpoints").exists()
    trained = runs["false"]
    assert trained[1].identical_to is None
    assert trained[1].metrics["test/acc"] == trained[0].metrics["test/acc"]  # the same network, trained
    assert trained[1].history[-1]["val/loss"] == trained[0].history[-1]["val/loss"]
    summaries = {
        reuse: json.loads((tmp_path / f"reuse-{reuse}" / "sweep_summary.json").read_text())["totals"]
        for reuse in runs
    }
    assert summaries["true"]["trained_jobs"] == 1 and summaries["false"]["trained_jobs"] == 2
    assert summaries["true"]["train_seconds"] == first.train_seconds


def test_the_command_line_narrows_a_presets_sweep_as_hydra_does(tmp_path):
    """``experiment=study_pooling_shared_lr activation=relu ...``: the command line replaces the preset's values, in
    the up-front check as in Hydra's sweeper, so the reused record is the right job's."""

    narrow = ["experiment=study_pooling_shared_lr", "data=digits", "activation=relu", "pooling=max,avg", "seed=0"]
    narrow.append(f"model.net.block_order={','.join(ORDERS)}")
    dry = run_cli("-m", *narrow, "sweep.dry_run=true", cwd=tmp_path)
    assert "4 jobs: 3 to run, 0 invalid, 1 the same experiment as an earlier job" in dry.stdout, dry.stdout
    sweep = tmp_path / "sweep"
    done = run_cli("-m", *narrow, "trainer.max_epochs=1", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [RunRecord.read(sweep / str(n)) for n in range(4)]
    assert not (sweep / "4").exists()
    settings = [(r.swept["pooling"], r.swept["model.net.block_order"]) for r in results]
    assert settings == [("max", ORDERS[0]), ("max", ORDERS[1]), ("avg", ORDERS[0]), ("avg", ORDERS[1])]
    assert [r.identical_to for r in results] == [None, "../0", None, None]
