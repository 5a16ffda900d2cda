"""The measured training step: one compiled step changes the weights (and batch norm's moving averages),
its rows are latency rows with the training columns, the ``train`` task's units follow latency's, and a
run writes rows whose MACs are count_training's."""

import keras
import numpy as np
import pytest

from archbench import count_training, registry, runner
from archbench.benchmark import LatencyConfig
from archbench.benchmark.measure import prepare
from archbench.benchmark.processes import measure_in_subprocess
from archbench.benchmark.sweeps import sweep
from archbench.benchmark.targets import Way, make_target, missing_module
from archbench.benchmark.train_step import COLUMNS
from archbench.tasks import RunSettings, resolve_tasks

QUICK = LatencyConfig(batch_size=4, min_time_s=0.05, max_time_s=0.3)


def tiny_bn(input_shape=(32, 32, 3), **kwargs):
    """Convolution, batch norm, dropout and a softmax head: every layer a training step treats apart."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.2, name="drop")(x)
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax", name="fc")(x), name="tiny_bn")


TINY_BN = f"{__file__}:tiny_bn"


def _values(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def test_one_step_changes_every_weight_and_the_moving_averages():
    model = tiny_bn()
    weights, moving = _values(model.trainable_variables), _values(model.non_trainable_variables)
    prepared = prepare(model, QUICK, train=True)
    for _ in range(2):
        out = prepared.compiled.fn()
        prepared.compiled.sync(out)
    state = getattr(prepared.compiled, "state", None)  # JAX carries the weights from step to step
    after = _values(state[0] if state else model.trainable_variables)
    after_moving = _values(state[1] if state else model.non_trainable_variables)
    assert [w.shape for w in after] == [w.shape for w in weights]
    assert all(not np.allclose(a, b) for a, b in zip(after, weights, strict=True))
    assert not np.allclose(after_moving[0], moving[0]), "batch norm ran in inference mode"
    assert prepared.config.freeze_weights is False


def test_freezing_the_weights_of_a_training_step_is_refused():
    with pytest.raises(Exception, match="freeze_weights"):
        prepare(tiny_bn(), QUICK.replace(freeze_weights=True), train=True)


def test_training_rows_are_latency_rows_with_the_training_columns():
    backend = keras.backend.backend()
    inference = sweep(TINY_BN, [QUICK], target=make_target(Way("keras", backend)), memory="this process")[0]
    train = sweep(TINY_BN, [QUICK], target=make_target(Way("keras", backend, step="train")),
                  memory="this process")[0]  # fmt: skip
    assert train.status == "ok", train.message
    row, base = train.as_row(), inference.as_row()
    assert set(base) - {"max_abs_diff", "max_rel_diff", "conformance_reference", "graph_breaks", "eager_median_ms",
                        "slower_than_eager"} <= set(row)  # fmt: skip
    assert row["mode"].endswith(" train step") and row["mode"].startswith(backend)
    assert {k: row[k] for k in COLUMNS} == dict(COLUMNS)
    assert row["images_per_s"] > 0 and row["mem_peak_mb"] is not None
    assert row["macs"] is None, "the inference count is not a training step's"
    assert row["mem_activations_mb"] >= base["mem_activations_mb"], "a training step keeps every activation"


def test_the_jax_step_in_its_own_process():
    if missing_module("jax"):
        pytest.skip("jax is not installed")
    row = measure_in_subprocess(TINY_BN, QUICK, 300, way=Way("keras", "jax", step="train"), macs=1234)[0]
    assert row["status"] == "ok", row["message"]
    assert row["mode"] == "jax jit train step" and row["path"].startswith("jax.jit(train step")
    assert row["images_per_s"] > 0 and row["macs"] == 1234
    assert row["gflops_per_s"] == pytest.approx(2 * 1234 * row["images_per_s"] / 1e9)


def test_train_units_are_latency_units_of_the_keras_runtime_and_the_peers(user_models):
    settings = RunSettings(backends=("tensorflow", "jax"), batches=(1, 4), runtimes=("keras", "onnxruntime"),
                           peers=("torchvision",), peer_modes=("eager", "compile"))  # fmt: skip
    train = runner.plan(["tiny1"], resolve_tasks("train"), settings)
    latency = runner.plan(["tiny1"], resolve_tasks("latency"), settings)
    assert [u.settings for u in train] == [u.settings for u in latency if u.settings["runtime"] != "onnxruntime"]
    assert len(train) == 2 * 2 + 2 * 2
    assert {u.key for u in train}.isdisjoint(u.key for u in latency)
    assert resolve_tasks("train")[0].sweep_axis == "batch_size"


def test_a_train_run_writes_rows_with_the_counted_step(tmp_path, user_models):
    settings = RunSettings(batches=(2,), latency=QUICK.replace(batch_size=1))
    summary = runner.run(["tiny2"], resolve_tasks("train"), settings, str(tmp_path), notify=lambda m: None)
    assert summary.measured == 1 and not summary.failed, summary
    rows = [r for r in runner.ResultStore(str(tmp_path)).rows() if r["task"] == "train"]
    assert rows and all(r["status"] == "ok" for r in rows), rows  # two where a busy machine made it noisy
    counted = count_training(registry.get_spec("tiny2").build())
    for result in (r["result"] for r in rows):
        assert result["train_macs"] == counted.macs == result["macs"]
        assert result["train_mac_ratio"] == pytest.approx(counted.ratio)
        assert result["images_per_s"] > 0 and result["batch_size"] == 2
        assert result["mode"] == "tensorflow xla train step" and result["task_kind"] == "train"


def test_the_torchvision_peer_trains_in_its_own_process():
    if missing_module("torch", "torchvision"):
        pytest.skip("torch and torchvision are not installed")
    from archbench.benchmark import measure_way

    way = Way("torchvision", "torch", "eager", step="train")
    row = measure_way("resnet18", QUICK.replace(input_size=32, batch_size=2), way)
    assert row["status"] == "ok", row["message"]
    assert row["framework"] == "torchvision" and row["path"] == "torch eager(train step)"
    assert row["task_kind"] == "train" and row["images_per_s"] > 0


def test_the_timer_and_the_count_build_the_one_step(monkeypatch):
    """archbench.step defines the step once: the compiled step and count_training both call its loss
    and its update (the timed step's optimizer, SGD with momentum, is the count's default)."""
    from archbench import step

    calls = []
    loss_value, optimizer = step.loss_value, step.optimizer
    monkeypatch.setattr(step, "loss_value", lambda *a: calls.append("loss") or loss_value(*a))
    monkeypatch.setattr(step, "optimizer", lambda *a: calls.append("optimizer") or optimizer(*a))
    prepared = prepare(tiny_bn(), QUICK, train=True)
    prepared.compiled.sync(prepared.compiled.fn())
    timed, calls[:] = list(calls), []
    counted = count_training(tiny_bn())
    assert sorted(set(timed)) == sorted(set(calls)) == ["loss", "optimizer"]
    assert counted.status == "ok" and counted.optimizer == step.OPTIMIZER == COLUMNS["train_optimizer"]
