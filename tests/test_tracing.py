"""The traced count: exact MACs and params for models outside the functional graph, on TensorFlow and
JAX, and the same MACs as the layer walker for every zoo model."""

import importlib.util
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

import archbench
from archbench.counting import (
    conv_macs,
    conv_transpose_macs,
    count,
    dense_macs,
    depthwise_conv_macs,
    separable_conv_macs,
)
from archbench.errors import UsageError
from archbench.registry import unregister_model
from archbench.tracing import trace_count

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_FILE = os.path.join(HERE, "data", "subclassed_models.py")
ZOO = archbench.list_models()
BACKEND = keras.backend.backend()


def _conv_params(k, cin, cout, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


# Closed forms, written out: MACs per sample, params, and depth (weight operations on the longest path).
EXPECTED = {
    "subclassed_resnet": {
        "macs": 32 * 32 * 3 * 3 * 3 * 16  # stem
        + 2 * 32 * 32 * 3 * 3 * 16 * 16  # the residual block's two convolutions
        + 16 * 10,  # head
        "params": _conv_params(3, 3, 16) + 2 * _conv_params(3, 16, 16) + 16 * 10 + 10,
        "depth": 4,
        "rf": "7 (jump 1, start 0)",  # three 3x3 "same" convolutions, stride 1
    },
    "ops_conv_net": {
        "macs": 16 * 16 * 3 * 3 * 3 * 12  # keras.ops.conv, stride 2, "same"
        + 16 * 16 * 3 * 3 * (12 // 4) * 12  # grouped (4) and dilated (2)
        + 16 * 16 * 12 * 8  # einsum "bhwc,cd->bhwd"
        + 8 * 10,  # matmul head
        "params": _conv_params(3, 3, 12) + _conv_params(3, 3, 12) + 12 * 8 + 8 * 10,
        "depth": 4,
        # 3x3 stride 2 (padding before 0 at 32): 3, jump 2, start 1; then 3x3 dilated 2 (5 wide,
        # padding before 2): 3 + 4 x 2 = 11, start 1 + (2 - 2) x 2
        "rf": "11 (jump 2, start 1)",
    },
    "sequential_net": {
        "macs": 24 * 24 * 5 * 5 * 1 * 8 + 10 * 10 * 3 * 3 * 8 * 2 + 10 * 10 * 16 * 10,
        "params": _conv_params(5, 1, 8) + (3 * 3 * 8 * 2 + 16) + 10 * 10 * 16 * 10 + 10,
        "depth": 3,
        "rf": "10 (jump 2, start 4.5)",  # 5x5: 5, start 2; pool 2: 6, jump 2, 2.5; 3x3: 10, 4.5
    },
}

# conv_variants_model's convolutions and matrix products in program order, by archbench.counting's
# formulas (a separable convolution is its depthwise part, then its pointwise part).
VARIANTS = [
    conv_macs((16, 16), (3, 3), 8, 8, groups=4),
    depthwise_conv_macs((16, 16), (3, 3), 8, depth_multiplier=2),
    conv_macs((8, 8), (3, 3), 16, 8),
    conv_transpose_macs((8, 8), (3, 3), 8, 6),
    conv_transpose_macs((16, 16), (3, 3), 6, 4),
    depthwise_conv_macs((16, 16), (3, 3), 4, depth_multiplier=2),
    separable_conv_macs((16, 16), (3, 3), 4, 8, depth_multiplier=2)
    - depthwise_conv_macs((16, 16), (3, 3), 4, depth_multiplier=2),
    conv_macs((256,), (5,), 8, 4),
    dense_macs(4, 10),
]


def _load(path):
    spec = importlib.util.spec_from_file_location("archbench_test_subclassed_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def user():
    """The model file, registered for this module only."""
    module = _load(MODEL_FILE)
    yield module
    for name in module.NAMES:
        unregister_model(name)


def _weight_op_macs(traced):
    return [r.macs for r in traced.ops if r.per_sample and r.macs]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_models_outside_the_graph_count_exactly(user, name):
    model = archbench.get_model(name)
    spec = archbench.get_spec(name)
    traced = trace_count(model, input_shape=spec.input_shape)
    want = EXPECTED[name]
    assert (traced.macs, traced.params.total, traced.depth) == (want["macs"], want["params"], want["depth"])
    assert str(traced.receptive_field) == want["rf"] and traced.rf_note is None
    assert traced.params.trainable == want["params"] and traced.params.non_trainable == 0
    assert traced.untraced == () and traced.complete
    assert traced.backend == BACKEND
    again = trace_count(model, input_shape=spec.input_shape, batch_size=3)
    assert (again.macs, again.ops_other) == (traced.macs, traced.ops_other)


def test_the_residual_block_is_counted_and_sequential_models_agree_with_the_walker(user):
    """The issue's numbers: 442,528 MACs outside the custom block, 4,718,592 inside it."""
    traced = trace_count(archbench.get_model("subclassed_resnet"), (32, 32, 3))
    by_scope = traced.macs_by_scope()
    in_block = [s for s in by_scope if any(re.fullmatch(r"block(_\d+)?", part) for part in s.split("/"))]
    block = sum(by_scope[s] for s in in_block)  # TensorFlow makes scopes unique: "block_1"
    assert block == 2 * 32 * 32 * 9 * 16 * 16 == 4_718_592
    assert traced.macs - block == 32 * 32 * 27 * 16 + 16 * 10 == 442_528
    assert {s.split("/")[-1] for s in by_scope} == {"stem", "conv1", "conv2", "head"}  # layer names
    sequential = archbench.get_model("sequential_net")
    assert count(sequential).macs == trace_count(sequential).macs == EXPECTED["sequential_net"]["macs"]


def test_input_shape_comes_from_the_argument_or_the_functional_inputs(user):
    subclassed = archbench.get_model("subclassed_resnet")
    with pytest.raises(UsageError, match=r"input shape of 'subclassed_resnet' is unknown.*--input-size"):
        trace_count(subclassed)
    functional = archbench.get_model("ops_conv_net")
    assert trace_count(functional).input_shapes == ((32, 32, 3),)
    for bad in ((32, 0, 3), (32, "a", 3), ()):
        with pytest.raises(UsageError, match="input_shape"):
            trace_count(subclassed, input_shape=bad)
    with pytest.raises(UsageError, match="batch_size"):
        trace_count(functional, batch_size=0)
    with pytest.raises(UsageError, match="not built"):
        trace_count(type(subclassed)(16, 10))
    x = keras.Input((None, None, 3))
    flexible = keras.Model(x, keras.layers.Conv2D(2, 3)(x))
    with pytest.raises(UsageError, match="unknown sizes"):
        trace_count(flexible)
    assert trace_count(flexible, (10, 10, 3)).macs == 8 * 8 * 27 * 2


def test_convolution_variants_match_the_counting_formulas(user):
    model = user.conv_variants_model()
    traced = trace_count(model)
    assert _weight_op_macs(traced) == VARIANTS
    walked = count(model)
    assert traced.macs == walked.macs == sum(VARIANTS)
    assert traced.receptive_field == walked.receptive_field and str(walked.receptive_field) == "17 (jump 1, start 2)"


class _Sort(keras.layers.Layer):
    def call(self, x):
        return keras.ops.sort(x, axis=-1)


def test_operations_without_a_rule_are_listed_never_zero():
    x = keras.Input((4, 4, 3))
    model = keras.Model(x, _Sort(name="sorter")(keras.layers.Conv2D(2, 1)(x)))
    traced = trace_count(model)
    assert traced.macs == 4 * 4 * 3 * 2
    assert not traced.complete
    assert any("sorter" in entry for entry in traced.untraced), traced.untraced


def test_structural_zeros_of_kernels_are_not_multiply_adds():
    """A masked kernel (SparseConv2D multiplies it by a constant mask) costs its non-zero entries."""
    from archbench.layers import SparseConv2D

    mask = np.zeros((3, 3, 4, 5), dtype=bool)
    mask[1, 1] = True
    mask[0, :, :2, 3] = True
    x = keras.Input((10, 10, 4))
    model = keras.Model(x, SparseConv2D(5, 3, mask=mask)(x))
    traced = trace_count(model)
    assert traced.macs == 8 * 8 * int(mask.sum()) == 8 * 8 * (20 + 6)
    assert traced.macs == count(model).macs


class _MaskedDense(keras.layers.Layer):
    """A dense layer whose kernel is multiplied by a constant 0/1 mask in ``call``."""

    def __init__(self, mask, **kwargs):
        super().__init__(**kwargs)
        self.mask = mask

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=self.mask.shape, name="kernel")

    def call(self, x):
        return keras.ops.matmul(x, self.kernel * keras.ops.convert_to_tensor(self.mask, "float32"))


def test_structural_zeros_of_matrix_products():
    mask = np.tril(np.ones((6, 5), dtype="float32"))
    x = keras.Input((7, 6))
    traced = trace_count(keras.Model(x, _MaskedDense(mask)(x)))
    assert traced.macs == 7 * int(mask.sum()) == 7 * (1 + 2 + 3 + 4 + 5 + 5)


def test_work_on_weights_alone_is_static_not_per_sample():
    x = keras.Input((6, 6, 3))
    model = keras.Model(x, keras.layers.BatchNormalization()(keras.layers.Conv2D(4, 3)(x)))
    one, four = trace_count(model), trace_count(model, batch_size=4)
    assert one.static == four.static and one.static.get("transcendental") == 4  # rsqrt of the variances
    assert one.ops_other == four.ops_other
    assert one.ops_other["elementwise"] == 4 * 4 * 4 * (1 + 2)  # bias, then x * a + b


# A convolution run three times by keras.ops.fori_loop: JAX makes it a scan of known length,
# TensorFlow a While loop whose trip count follows from its bounds. Of a cond the costliest branch counts.
LOOP = 3 * 8 * 8 * 9 * 4 * 4
BRANCH = 8 * 8 * 9 * 4 * 4


def _control_flow(user):
    loop, branch = (trace_count(m) for m in user.control_flow_models())
    return {
        "loop": [loop.macs, loop.depth, len(loop.untraced), loop.depth_note is not None],
        "branch": [branch.macs, branch.depth, len(branch.untraced), len(branch.notes)],
    }


def _expected_control_flow(backend):
    return {"loop": [LOOP, None, 0, True], "branch": [BRANCH, 1, 0, 1]}


def test_loops_and_branches(user):
    assert _control_flow(user) == _expected_control_flow(BACKEND)


@pytest.mark.parametrize("name", ["lenet5", "lenet5_modern", "nin"])
def test_walker_equals_tracer_small_zoo_models(name, build):
    _check_zoo_model(name, build(name))


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_walker_equals_tracer_for_every_zoo_model(name, build):
    """Exact MACs for all 28 models: 55-110 s on 2 shared cores, most of it building the models
    (built once per session through the ``build`` cache, shared with the other zoo tests)."""
    _check_zoo_model(name, build(name))


# Depth is counted by operations in the trace, by weight layers in the walker (see archbench.tracing).
DEPTH_DIFFERENCES = {"lenet5": (5, 7)}


def _check_zoo_model(name, model):
    traced, walked = trace_count(model), count(model)
    assert traced.macs == walked.macs, f"{name}: traced {traced.macs:,}, walker {walked.macs:,}"
    assert traced.untraced == (), traced.untraced
    assert traced.params == walked.params
    assert (traced.depth, walked.depth) == DEPTH_DIFFERENCES.get(name, (walked.depth, walked.depth))
    assert traced.receptive_field == walked.receptive_field, f"{name}: {traced.receptive_field} vs {walked.receptive_field}"


_JAX_SCRIPT = """
import json, sys, importlib.util
import archbench
from archbench.counting import count
from archbench.tracing import trace_count
spec = importlib.util.spec_from_file_location("subclassed_models", sys.argv[1])
user = importlib.util.module_from_spec(spec)
spec.loader.exec_module(user)
out = {"backend": __import__("keras").backend.backend(), "models": {}, "zoo": {}}
for name in user.NAMES:
    t = trace_count(archbench.get_model(name), archbench.get_spec(name).input_shape)
    out["models"][name] = {"macs": t.macs, "params": t.params.total, "depth": t.depth, "untraced": t.untraced,
                           "rf": str(t.receptive_field)}
t = trace_count(user.conv_variants_model())
out["variants"] = [r.macs for r in t.ops if r.per_sample and r.macs]
out["variants_rf"] = [str(t.receptive_field), str(count(user.conv_variants_model()).receptive_field)]
loop, branch = (trace_count(m) for m in user.control_flow_models())
out["control_flow"] = {
    "loop": [loop.macs, loop.depth, len(loop.untraced), loop.depth_note is not None],
    "branch": [branch.macs, branch.depth, len(branch.untraced), len(branch.notes)],
}
for name in sys.argv[2:]:
    model = archbench.get_model(name)
    t, c = trace_count(model), count(model)
    out["zoo"][name] = [t.macs, c.macs, t.depth, c.depth, list(t.untraced), str(t.receptive_field), str(c.receptive_field)]
print(json.dumps(out))
"""


def _run_jax(*zoo):
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    run = subprocess.run(
        [sys.executable, "-c", _JAX_SCRIPT, MODEL_FILE, *zoo],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax"
    return result


@pytest.mark.jax
def test_models_outside_the_graph_count_exactly_on_jax():
    result = _run_jax()
    for name, want in EXPECTED.items():
        assert result["models"][name] == {**want, "untraced": []}, name
    assert result["variants"] == VARIANTS
    assert result["variants_rf"] == ["17 (jump 1, start 2)"] * 2
    assert result["control_flow"] == _expected_control_flow("jax")


@pytest.mark.jax
@pytest.mark.slow
def test_walker_equals_tracer_on_jax_for_a_few_zoo_models():
    names = ["lenet5", "lenet5_modern", "nin", "alexnet"]
    result = _run_jax(*names)
    for name in names:
        traced, walked, traced_depth, walked_depth, untraced, traced_rf, walked_rf = result["zoo"][name]
        assert traced == walked, name
        assert untraced == []
        assert traced_rf == walked_rf, name
        assert (traced_depth, walked_depth) == DEPTH_DIFFERENCES.get(name, (walked_depth, walked_depth))
