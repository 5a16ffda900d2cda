"""The count API (``archbench.count``): the walker or the traced program, one record; loops counted as
their body times the trip count, or partial with the reason; recurrent layers, EinsumDense with a
free output size and subclassed models exact on TensorFlow and JAX (closed forms written out)."""

import json
import os
import subprocess
import sys

import keras
import pytest
from keras import layers as L

import archbench
from archbench.errors import UsageError

BACKEND = keras.backend.backend()
T, F, U = 10, 8, 16  # time steps, features, units


def _rnn_macs(gates, features, units, steps=T):
    """Per step, each gate multiplies the input (F x U) and the previous state (U x U)."""
    return steps * gates * (features * units + units * units)


# Closed forms: LSTM four gates; GRU three (update, reset, candidate: reset_after or not, the
# recurrent product is U x 3U per step); SimpleRNN one.
RECURRENT = {
    "lstm": _rnn_macs(4, F, U),  # 10 x 4 x (8*16 + 16*16) = 15,360
    "gru": _rnn_macs(3, F, U),  # 11,520
    "gru_reset_before": _rnn_macs(3, F, U),
    "simple_rnn": _rnn_macs(1, F, U),  # 3,840
    "stacked_lstm": _rnn_macs(4, F, U) + _rnn_macs(4, U, 8),
}
EINSUM = 16 * 32 * 64  # "abc,cd->abd" on (16, 32) with a 32 x 64 kernel
SUBCLASSED = 12 * 12 * 3 * 3 * 3 * 8 + 8 * 5  # 3x3 "same" convolution, global pooling, dense head
WHILE = 4 * 6 * 6 * 9 * 4 * 4  # four 3x3 "same" convolutions run by a counter loop


def _recurrent_models():
    x = keras.Input((T, F))
    stacked = L.LSTM(8)(L.LSTM(U, return_sequences=True)(x))
    return {
        "lstm": keras.Model(x, L.LSTM(U)(x)),
        "gru": keras.Model(x, L.GRU(U)(x)),
        "gru_reset_before": keras.Model(x, L.GRU(U, reset_after=False)(x)),
        "simple_rnn": keras.Model(x, L.SimpleRNN(U)(x)),
        "stacked_lstm": keras.Model(x, stacked),
    }


class _Net(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = L.Conv2D(8, 3, padding="same")
        self.pool = L.GlobalAveragePooling2D()
        self.head = L.Dense(5)

    def call(self, x):
        return self.head(self.pool(keras.ops.relu(self.conv(x))))


class _CounterLoop(L.Layer):
    """A 3x3 convolution run while a counter is below four (``keras.ops.while_loop``)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = L.Conv2D(4, 3, padding="same")

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, x):
        return keras.ops.while_loop(lambda i, y: i < 4, lambda i, y: (i + 1, self.conv(y)), (0, x))[1]


class _DataLoop(_CounterLoop):
    """Runs until the activations' sum passes a bound: the trip count depends on the data."""

    def call(self, x):
        return keras.ops.while_loop(
            lambda y: keras.ops.sum(y) < 100.0, lambda y: (self.conv(y),), (x,), maximum_iterations=None
        )[0]


def _loop_model(layer):
    x = keras.Input((6, 6, 4))
    return keras.Model(x, layer(x))


def _einsum_model():
    x = keras.Input((16, 32))
    return keras.Model(x, L.EinsumDense("abc,cd->abd", output_shape=(None, 64))(x))


def _results():
    """What archbench.count says of each model: [method, status, macs]."""
    out = {}
    for name, model in _recurrent_models().items():
        c = archbench.count(model)
        out[name] = [c.method, c.status, c.macs]
    c = archbench.count(_einsum_model())
    out["einsum"] = [c.method, c.status, c.macs]
    net = _Net(name="net")
    net(keras.ops.zeros((1, 12, 12, 3)))
    c = archbench.count(net, (12, 12, 3))
    out["subclassed"] = [c.method, c.status, c.macs]
    c = archbench.count(_loop_model(_CounterLoop()))
    out["while"] = [c.method, c.status, c.macs]
    c = archbench.count(_loop_model(_DataLoop()))
    out["data_while"] = [c.method, c.status, any("trip count is unknown" in u for u in c.uncounted)]
    return out


def _expected():
    want = {name: ["traced", "ok", macs] for name, macs in RECURRENT.items()}
    want.update(
        einsum=["traced", "ok", EINSUM],
        subclassed=["traced", "ok", SUBCLASSED],
        **{"while": ["traced", "ok", WHILE]},
        data_while=["traced", "partial", True],
    )
    return want


def test_recurrent_einsum_subclassed_and_loops_count_exactly():
    assert _results() == _expected()


_JAX_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import test_cost
print(json.dumps({"backend": test_cost.BACKEND, "results": getattr(test_cost, sys.argv[2])()}))
"""


def _on_jax(function):
    """What ``function`` of this module returns under the JAX backend, in a subprocess."""
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    here = os.path.dirname(os.path.abspath(__file__))
    run = subprocess.run(
        [sys.executable, "-c", _JAX_SCRIPT, here, function.__name__],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax"
    return result["results"]


@pytest.mark.jax
def test_recurrent_einsum_subclassed_and_loops_count_exactly_on_jax():
    assert _on_jax(_results) == _expected()


def test_one_record_by_layer_and_by_operator():
    x = keras.Input((8, 8, 3))
    y = L.Conv2D(4, 3, name="conv")(x)
    model = keras.Model(x, L.Dense(2, name="head")(L.Flatten()(y)))
    c = archbench.count(model)
    conv, head = 6 * 6 * 27 * 4, 6 * 6 * 4 * 2
    assert (c.method, c.status, c.reason, c.uncounted) == ("walker", "ok", "", ())
    assert (c.macs, c.flops) == (conv + head, 2 * (conv + head))
    assert c.by_operator() == {"Conv2D": conv, "Flatten": 0, "Dense": head}
    assert {k: v for k, v in c.by_layer().items() if v} == {"conv": conv, "head": head}
    assert c.totals()["count_method"] == "walker"
    lstm = archbench.count(_recurrent_models()["lstm"])
    assert sum(lstm.by_operator().values()) == sum(lstm.by_layer().values()) == lstm.macs
    from archbench import counting

    assert not hasattr(counting, "count_model")  # the chooser lives above the walker only


def test_bad_input_is_a_one_line_error():
    with pytest.raises(UsageError, match="needs a built keras.Model"):
        archbench.count("resnet50")
    x = keras.Input((None, 3))
    flexible = keras.Model(x, L.Dense(2)(x))
    with pytest.raises(UsageError, match="unknown"):
        archbench.count(flexible)


# ----------------------------------------------------------------------------------------------------
# Training steps: forward + weight gradients of every layer + input gradients of every layer but the
# first, exactly, for a network without batch norm; its dropout (a random mask, drawn at no cost by rule,
# and a multiply) adds no multiply-add and leaves the count ok.

FORWARD = {"c1": 8 * 8 * 3 * 3 * 3 * 4, "c2": 4 * 4 * 3 * 3 * 4 * 6, "d": 4 * 4 * 6 * 5}  # "same"; c2 stride 2


def _small_cnn():
    x = keras.Input((8, 8, 3))
    y = L.Conv2D(4, 3, padding="same", activation="relu", name="c1")(x)
    y = L.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="c2")(y)
    y = L.Dropout(0.5, name="drop")(L.Flatten()(y))
    return keras.Model(x, L.Dense(5, activation="softmax", name="d")(y))


def _training_results():
    t = archbench.count_training(_small_cnn(), optimizer="sgd")
    timed = archbench.count_training(_small_cnn())  # the timed step: SGD with momentum, sparse labels
    layers = {r.name.split("/")[-1]: [r.forward_macs, r.backward_macs] for r in t.layers}
    return {
        "macs": [t.forward_macs, t.backward_macs, t.macs, t.status],
        "timed": [timed.forward_macs, timed.backward_macs, timed.status, timed.optimizer],
        "layers": layers,
        "optimizer_ops": sum(t.optimizer_ops.values()),
        "params": t.params.trainable,
    }


def _expected_training():
    forward = sum(FORWARD.values())
    weight_gradients = forward
    input_gradients = FORWARD["c2"] + FORWARD["d"]  # none for the first layer (no gradient for the image)
    backward = weight_gradients + input_gradients
    params = (27 * 4 + 4) + (36 * 6 + 6) + (96 * 5 + 5)
    return {
        "macs": [forward, backward, forward + backward, "ok"],
        "timed": [forward, backward, "ok", "SGD lr 0.01 momentum 0.9, no weight decay"],
        "layers": {"c1": [FORWARD["c1"], FORWARD["c1"]], "c2": [FORWARD["c2"], 2 * FORWARD["c2"]],
                   "d": [FORWARD["d"], 2 * FORWARD["d"]]},  # fmt: skip
        "optimizer_ops": 2 * params + 1,  # SGD: w - lr * g per weight, and the step counter
        "params": params,
    }


def test_training_summary_and_errors(monkeypatch):
    from click.testing import CliRunner

    from archbench._cli._render_counting import format_training
    from archbench.cli import cli

    t = archbench.count_training(_small_cnn())
    text = format_training(t)
    assert f"train_macs (forward + backward): {t.macs:,}" in text and "rule of thumb: 3 x" in text
    assert f"train_mac_ratio: {t.macs / t.forward_macs:.2f} x forward" in text
    assert json.loads(format_training(t, "json"))["totals"]["train_backward_macs"] == t.backward_macs
    with pytest.raises(UsageError, match="unknown optimizer"):
        archbench.count_training(_small_cnn(), optimizer="no_such_optimizer")
    with pytest.raises(UsageError, match="unknown loss"):
        archbench.count_training(_small_cnn(), loss="no_such_loss")
    with pytest.raises(UsageError, match="needs a built keras.Model"):
        archbench.count_training("lenet5")
    result = CliRunner().invoke(cli, ["summary", "lenet5_modern", "--training"])
    assert result.exit_code == 0, result.output
    head = result.output.splitlines()[0].split()
    assert head == ["name", "train_forward_macs", "train_backward_macs", "train_macs", "train_mac_ratio"]
    assert "train_count: ok (" in result.output


# LeNet-5's C3 (table I): 60 connected 5 x 5 kernels gathered into a dense 5 x 5 x 6 x 16 kernel with
# zeros. Forward and input gradient at the connected taps; the weight gradient of the whole dense
# kernel, as computed, then summed into the 60 kernels by the gather's gradient (a segment sum: one add
# per element of the 5 x 5 x 96 gathered kernel).
C3_POSITIONS, TAPS, CONNECTIONS, DENSE = 10 * 10, 5 * 5, 60, 6 * 16
LENET5 = {  # forward, backward per layer: the first (C1) has no input gradient, the RBF centers are fixed
    "c1": [28 * 28 * TAPS * 1 * 6, 28 * 28 * TAPS * 1 * 6],
    "c3": [C3_POSITIONS * TAPS * CONNECTIONS, C3_POSITIONS * TAPS * CONNECTIONS + C3_POSITIONS * TAPS * DENSE],
    "c5": [TAPS * 16 * 120, 2 * TAPS * 16 * 120],
    "f6": [120 * 84, 2 * 120 * 84],
    "predictions": [84 * 10, 0],  # the squared distances to fixed centers: a weighted sum, no weight gradient
}


def _lenet5_training():
    from archbench.tracing import trace_training

    t = archbench.count_training(archbench.get_model("lenet5"))
    step, _ = trace_training(archbench.get_model("lenet5"))
    segment_sums = sum(r.ops for r in step.ops if r.op in ("UnsortedSegmentSum", "scatter-add", "scatter_add"))
    return {"layers": {r.name.split("/")[-1]: [r.forward_macs, r.backward_macs] for r in t.layers},
            "totals": [t.forward_macs, t.backward_macs, t.status], "segment_sums": segment_sums}  # fmt: skip


def _expected_lenet5():
    return {"layers": LENET5, "totals": [sum(f for f, _ in LENET5.values()), sum(b for _, b in LENET5.values()), "ok"],
            "segment_sums": TAPS * DENSE}  # fmt: skip


# The small CNN with dropout, and LeNet-5 with its connection table.
TRAINING_CASES = [(_training_results, _expected_training), (_lenet5_training, _expected_lenet5)]


@pytest.mark.parametrize(("results", "expected"), TRAINING_CASES, ids=["small_cnn", "lenet5"])
def test_training_steps_count_exactly(results, expected):
    assert results() == expected()


@pytest.mark.jax
@pytest.mark.parametrize(("results", "expected"), TRAINING_CASES, ids=["small_cnn", "lenet5"])
def test_training_steps_count_exactly_on_jax(results, expected):
    assert _on_jax(results) == expected()


def test_a_partial_training_count_keeps_its_figures_on_the_row(monkeypatch):
    from archbench import tasks
    from archbench.cost import training
    from archbench.tracing import _handles

    monkeypatch.delitem(_handles.TF_RULES if BACKEND == "tensorflow" else _handles.JAX_RULES,
                        "Conv2DBackpropFilter" if BACKEND == "tensorflow" else "conv_general_dilated")
    model = _small_cnn()

    class Context:
        def model(self):
            return model

        def input_shape(self):
            return (8, 8, 3)

    row = tasks._count_training(Context())
    assert row["train_count"].startswith("partial (") and "no rule" in row["train_count"]
    assert set(training.COLUMNS) <= set(row) and all(row[c] for c in training.COLUMNS), row
