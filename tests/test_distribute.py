"""Data-parallel training and evaluation (issue 9) on simulated multi-device CPUs.

The device setup must happen before the backend starts, so every multi-device run is a subprocess
running this file as a script: JAX with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``,
TensorFlow with four logical CPUs (``tf.config.set_logical_device_configuration``), and two JAX
processes of two devices each joined through ``JAX_COORDINATOR_ADDRESS`` as two hosts would be.

Each compares a data-parallel run of ``lenet5_modern`` on 128 digits (2 epochs of 4 steps with a global
batch of 32) with a single-device run of the same global batch. Tolerance: the runs take the same
steps on the same images and differ only in the order of float32 reductions (per-replica partial sums,
then the all-reduce, instead of one sum), a few ulps per step; after 8 steps of SGD with momentum
that is ~1e-6 relative (measured: 2e-8 on JAX, 3e-6 on TensorFlow), so losses must agree to 1e-5
relative and weights to 1e-5 absolute. A real fault is orders above that: clipping each replica's
gradient share before the all-reduce (Keras' behaviour under tf.distribute, corrected by
``DataParallelPlan.adapt_optimizer``) moved weights by 1.5e-3. Evaluation counts are integers and
must be identical.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys

import pytest

MODEL = "lenet5_modern"
LIMIT = 128
BATCH = 32
EPOCHS = 2
EVAL_BATCH = 50  # not a divisor of 128: the last data-parallel batch is padded
LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-5
TIMEOUT_S = 240


# --------------------------------------------------------------------------------------- in process


@pytest.mark.parametrize(
    "backend, env, expected",
    [
        ("jax", {}, None),
        (
            "jax",
            {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234", "JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "3"},
            ("JAX_COORDINATOR_ADDRESS", 4, 3, "10.0.0.1:1234"),
        ),
        ("jax", {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "1", "JAX_PROCESS_ID": "0"}, None),
        (
            "jax",
            {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "a:1,b:2", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2"},
            ("KERAS_DISTRIBUTION_*", 2, None, "a:1"),
        ),
        ("jax", {"SLURM_STEP_NUM_TASKS": "8", "SLURM_PROCID": "5"}, ("SLURM", 8, 5, None)),
        ("jax", {"SLURM_NTASKS": "8", "SLURM_STEP_NUM_TASKS": "1", "SLURM_PROCID": "0"}, None),
        ("jax", {"SLURM_NTASKS": "8", "SLURM_PROCID": "0"}, None),  # sbatch script, no srun
        ("jax", {"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"}, ("OMPI", 2, 1, None)),
        ("tensorflow", {"SLURM_STEP_NUM_TASKS": "8"}, None),
        (
            "tensorflow",
            {"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}'},
            ("TF_CONFIG", 2, 1, "a:1"),
        ),
        (
            "tensorflow",
            {
                "TF_CONFIG": '{"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}'
            },
            ("TF_CONFIG", 2, 1, "c:0"),
        ),
        ("torch", {"JAX_NUM_PROCESSES": "2", "TF_CONFIG": "{}"}, None),
    ],
)
def test_cluster_from_env(backend, env, expected):
    from archbench.distribute import Cluster, cluster_from_env

    assert cluster_from_env(backend, env) == (Cluster(*expected) if expected else None)


@pytest.mark.parametrize(
    "backend, env, message",
    [
        ("jax", {"JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "0"}, "need JAX_COORDINATOR_ADDRESS"),
        ("jax", {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2"}, "set both"),
        (
            "jax",
            {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "2"},
            "not in 0..1",
        ),
        ("jax", {"SLURM_STEP_NUM_TASKS": "many"}, "must be an integer"),
        ("tensorflow", {"TF_CONFIG": "not json"}, "TF_CONFIG is not a valid"),
    ],
)
def test_cluster_from_env_rejects_inconsistent_settings(backend, env, message):
    from archbench.distribute import cluster_from_env
    from archbench.errors import UsageError

    with pytest.raises(UsageError, match=message):
        cluster_from_env(backend, env)


def test_unsupported_engines_are_usage_errors():
    from archbench import distribute
    from archbench.errors import UsageError

    with pytest.raises(UsageError, match="not supported on the torch backend"):
        distribute.strategy_for("data-parallel", "torch")
    with pytest.raises(UsageError, match="unknown distribution 'model-parallel'"):
        distribute.strategy_for("model-parallel", "jax")
    with pytest.raises(UsageError, match="devices must be >= 1"):
        distribute.strategy_for("data-parallel", "jax", devices=0)
    with pytest.raises(UsageError, match=r"keras-team/keras#20585.*KERAS_BACKEND=jax"):
        distribute._tf_plan(None, distribute.Cluster("TF_CONFIG", 2, 0))


def test_plan_arithmetic_and_recorded_columns():
    from archbench.distribute import DataParallelPlan, distribution_columns
    from archbench.errors import UsageError

    plan = DataParallelPlan(
        backend="jax",
        replicas=8,
        local_replicas=4,
        num_hosts=2,
        host_index=1,
        devices=("gpu:4", "gpu:5", "gpu:6", "gpu:7"),
        engine="keras.distribution.DataParallel",
    )
    assert plan.per_replica_batch(256) == 32
    assert plan.steps_per_epoch(1000, 256) == 3  # the incomplete fourth batch is dropped
    assert not plan.is_chief
    with pytest.raises(UsageError, match="not divisible by the 8 replicas; use a multiple of 8"):
        plan.per_replica_batch(100)
    with pytest.raises(UsageError, match="make no full global batch"):
        plan.steps_per_epoch(200, 256)
    assert distribution_columns(plan, 256) == {
        "distribute": "data-parallel",
        "replicas": 8,
        "hosts": 2,
        "global_batch_size": 256,
        "per_replica_batch_size": 32,
        "distribute_engine": "keras.distribution.DataParallel",
        "distribute_devices": "gpu:4,gpu:5,gpu:6,gpu:7 (x2 hosts)",
    }
    assert distribution_columns(None, 32)["replicas"] == 1
    assert distribution_columns(None, 32)["per_replica_batch_size"] == 32


def test_learning_rate_scaling_is_recorded():
    from archbench.distribute import scaled_lr
    from archbench.errors import UsageError
    from archbench.evaluate import TrainConfig, _config_columns

    assert scaled_lr(0.1, "linear", 1024, 256) == pytest.approx(0.4)  # Goyal et al. 2017
    assert scaled_lr(0.1, "none", 1024, 256) == 0.1
    config = TrainConfig(batch_size=128, lr=0.01, lr_scaling="linear", lr_base_batch=32)
    assert config.lr_effective == pytest.approx(0.04)
    columns = _config_columns(config)
    assert (columns["lr"], columns["lr_scaling"], columns["lr_base_batch"]) == (0.01, "linear", 32)
    assert columns["lr_effective"] == pytest.approx(0.04)
    with pytest.raises(UsageError, match="unknown lr scaling rule 'sqrt'"):
        TrainConfig(lr_scaling="sqrt")
    with pytest.raises(UsageError, match="unknown distribution"):
        TrainConfig(distribute="pipeline")
    with pytest.raises(UsageError, match="needs distribute='data-parallel'"):
        TrainConfig(devices=2)


def test_cli_rejects_devices_without_distribute():
    from click.testing import CliRunner

    from archbench._cli.train import command

    result = CliRunner().invoke(command, [MODEL, "--devices", "2"])
    assert result.exit_code != 0
    assert "--devices needs --distribute data-parallel" in str(result.exception)


# --------------------------------------------------------------------------------------- subprocesses


def _run_worker(mode: str, env: dict[str, str]) -> dict:
    run = subprocess.run(
        [sys.executable, __file__, mode],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _check_equivalent(out: dict, replicas: int) -> None:
    single, parallel = out["single"], out["parallel"]
    assert parallel["columns"]["replicas"] == replicas
    assert parallel["columns"]["per_replica_batch_size"] == BATCH // replicas
    assert parallel["columns"]["global_batch_size"] == single["columns"]["global_batch_size"] == BATCH
    assert single["columns"]["distribute"] == "none"
    assert parallel["losses"] == pytest.approx(single["losses"], rel=LOSS_RTOL)
    assert out["max_weight_diff"] <= WEIGHT_ATOL
    # the same weights scored on one device and on all of them: the same integer counts
    assert out["eval_one_device"] == out["eval_data_parallel"]
    # and the two trainings end with the same held-out accuracy
    assert parallel["top1"] == single["top1"]
    assert parallel["top5"] == single["top5"]


@pytest.mark.jax
def test_jax_data_parallel_matches_one_device():
    pytest.importorskip("jax")
    out = _run_worker(
        "single-host",
        {
            "KERAS_BACKEND": "jax",
            "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        },
    )
    assert out["engine"] == "keras.distribution.DataParallel"
    _check_equivalent(out, 4)
    cli = out["cli"]
    assert (cli["replicas"], cli["per_replica_batch_size"], cli["lr_effective"]) == (2, 16, 0.02)
    assert cli["distribute_devices"] == "cpu:0,cpu:1"


def test_tensorflow_mirrored_matches_one_device():
    out = _run_worker("single-host", {"KERAS_BACKEND": "tensorflow"})
    assert out["engine"] == "tf.distribute.MirroredStrategy"
    _check_equivalent(out, 4)
    cli = out["cli"]
    assert (cli["replicas"], cli["per_replica_batch_size"], cli["lr_effective"]) == (4, 8, 0.02)
    assert cli["distribute_devices"] == "cpu:0,cpu:1,cpu:2,cpu:3"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.jax
def test_jax_two_hosts_match_one_device(tmp_path):
    """Two processes of two CPU devices each, joined as two hosts: 4 replicas, sharded input."""
    pytest.importorskip("jax")
    address = f"localhost:{_free_port()}"
    env = {
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_COORDINATOR_ADDRESS": address,
        "JAX_NUM_PROCESSES": "2",
        "ARCHBENCH_TEST_CHECKPOINT": str(tmp_path / "lenet.weights.h5"),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "multi-host"],
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env, "JAX_PROCESS_ID": str(i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=TIMEOUT_S)
        assert p.returncode == 0, stderr[-3000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    host0, host1 = outs
    assert (host0["host"], host1["host"]) == (0, 1)
    for out in outs:
        assert out["parallel"]["columns"]["replicas"] == 4
        assert out["parallel"]["columns"]["hosts"] == 2
        assert out["parallel"]["columns"]["per_replica_batch_size"] == BATCH // 4
    for key in ("losses", "top1", "top5"):
        assert host0["parallel"][key] == host1["parallel"][key]
    _check_equivalent(host0, 4)
    assert sorted(os.listdir(tmp_path)) == ["lenet.state.json", "lenet.weights.h5"]  # host 0's only
    state = json.loads((tmp_path / "lenet.state.json").read_text())
    assert state["epochs_done"] == EPOCHS


# --------------------------------------------------------------------------------------- the worker


def _summary(result) -> dict:
    return {
        "losses": [h["loss"] for h in result.history],
        "top1": result.top1,
        "top5": result.top5,
        "columns": result.distribution,
    }


def _worker(mode: str) -> dict:
    """Train single-device and data-parallel in this process; what the tests above compare."""
    if os.environ["KERAS_BACKEND"] == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 4)

    import numpy as np

    from archbench import data
    from archbench import evaluate as ev
    from archbench.distribute import strategy_for

    plan = strategy_for("data-parallel")  # first: a multi-host JAX job starts here
    ds = data.load_dataset("digits", MODEL, limit=LIMIT)
    config = ev.TrainConfig(
        epochs=EPOCHS, batch_size=BATCH, lr_schedule="constant", eval_batch_size=EVAL_BATCH
    )
    parallel_config = dataclasses.replace(
        config, distribute="data-parallel", checkpoint=os.environ.get("ARCHBENCH_TEST_CHECKPOINT")
    )
    parallel = ev.train(MODEL, ds, parallel_config, progress=False)
    single = ev.train(MODEL, ds, config, progress=False)

    on_one_device = ev.build_for_dataset(MODEL, ds)
    on_one_device.set_weights(parallel.model.get_weights())
    out = {
        "engine": plan.engine,
        "host": plan.host_index,
        "single": _summary(single),
        "parallel": _summary(parallel),
        "max_weight_diff": max(
            float(np.max(np.abs(a - b)))
            for a, b in zip(single.model.get_weights(), parallel.model.get_weights(), strict=True)
        ),
        "eval_one_device": ev.evaluate(on_one_device, ds, batch_size=EVAL_BATCH),
        "eval_data_parallel": plan.evaluate(parallel.model, ds, batch_size=EVAL_BATCH),
    }
    if mode == "single-host":
        from click.testing import CliRunner

        from archbench._cli.train import command

        args = [MODEL, "--limit", str(LIMIT), "--epochs", "1", "--batch-size", str(BATCH), "--json"]
        args += ["--distribute", "data-parallel", "--lr-scaling", "linear", "--lr-base-batch", "16"]
        if os.environ["KERAS_BACKEND"] == "jax":
            # TensorFlow runs one MirroredStrategy device set per process: a second one, of other
            # devices, collides with the first in its collective group keys
            args += ["--devices", "2"]
        args += ["--no-progress"]
        result = CliRunner().invoke(command, args, catch_exceptions=False)
        out["cli"] = json.loads(result.output.strip().splitlines()[-1])
    return out


if __name__ == "__main__":
    print(json.dumps(_worker(sys.argv[1]), default=float))
