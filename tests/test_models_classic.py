"""The classic family (LeNet-5, AlexNet, ZFNet, NiN): exact counts from each architecture's arithmetic,
the papers' feature-map sizes, LeNet-5's own layers against NumPy, and the builders' edge cases.

Expected parameter counts are written as the arithmetic of the architecture (kernel x kernel x inputs
x outputs + biases), never as a number copied from a run. Each large model is built once per session
through the ``build`` fixture.
"""

import dataclasses

import keras
import numpy as np
import pytest

import archbench
from archbench.counting import RULES, count
from archbench.layers import lenet as lenet_layers
from archbench.models import alexnet as alexnet_module
from archbench.models import lenet, nin, zfnet
from archbench.models._blocks import build_convnet, max_pool, pool_output_length
from archbench.models._common import BuildArgs
from archbench.params import count_params

rng = np.random.default_rng(0)


def conv(k, c_in, c_out, groups=1):
    return k * k * (c_in // groups) * c_out + c_out


def dense(n_in, n_out):
    return n_in * n_out + n_out


def bn(channels):
    """Batch norm: (trainable gamma and beta, non-trainable moving mean and variance)."""
    return 2 * channels, 2 * channels


LENET5_TRAINABLE = (
    conv(5, 1, 6)  # C1
    + 2 * 6  # S2: coefficient and bias per map
    + (6 * (3 * 25 + 1) + 9 * (4 * 25 + 1) + (6 * 25 + 1))  # C3: table I
    + 2 * 16  # S4
    + conv(5, 16, 120)  # C5
    + dense(120, 84)  # F6
)
LENET5_MODERN = conv(5, 1, 6) + conv(5, 6, 16) + conv(5, 16, 120) + dense(120, 84) + dense(84, 10)
ALEXNET = (
    conv(11, 3, 96)
    + conv(5, 96, 256, groups=2)
    + conv(3, 256, 384)
    + conv(3, 384, 384, groups=2)
    + conv(3, 384, 256, groups=2)
    + dense(6 * 6 * 256, 4096)
    + dense(4096, 4096)
    + dense(4096, 1000)
)
_ONETOWER_CONVS = (64, 192, 384, 256, 256)
ALEXNET_ONETOWER = (
    conv(11, 3, 64)
    + conv(5, 64, 192)
    + conv(3, 192, 384)
    + conv(3, 384, 256)
    + conv(3, 256, 256)
    + dense(6 * 6 * 256, 4096)
    + dense(4096, 4096)
    + dense(4096, 1000)
)
ZFNET = (
    conv(7, 3, 96)
    + conv(5, 96, 256)
    + conv(3, 256, 384)
    + conv(3, 384, 384)
    + conv(3, 384, 256)
    + dense(6 * 6 * 256, 4096)
    + dense(4096, 4096)
    + dense(4096, 1000)
)
_NIN_BODY = (
    conv(11, 3, 96)
    + 2 * conv(1, 96, 96)
    + conv(5, 96, 256)
    + 2 * conv(1, 256, 256)
    + conv(3, 256, 384)
    + 2 * conv(1, 384, 384)
    + conv(3, 384, 1024)
    + conv(1, 1024, 1024)
)
NIN = _NIN_BODY + conv(1, 1024, 1000)
BN_NIN = _NIN_BODY + conv(1, 1024, 1024) + dense(1024, 1000)
_BN_NIN_CHANNELS = 3 * (96 + 256 + 384 + 1024)
_BN_ALEXNET_CHANNELS = sum(_ONETOWER_CONVS) + 4096 + 4096

# name: (trainable, non_trainable, paper)
EXPECTED = {
    "lenet5": (LENET5_TRAINABLE, 84 * 10, LENET5_TRAINABLE),
    "lenet5_modern": (LENET5_MODERN, 0, LENET5_MODERN),
    "alexnet": (ALEXNET, 0, ALEXNET),
    "alexnet_onetower": (ALEXNET_ONETOWER, 0, ALEXNET_ONETOWER),
    "bn_alexnet": (
        ALEXNET_ONETOWER + bn(_BN_ALEXNET_CHANNELS)[0],
        bn(_BN_ALEXNET_CHANNELS)[1],
        ALEXNET_ONETOWER + bn(_BN_ALEXNET_CHANNELS)[0],
    ),
    "zfnet": (ZFNET, 0, ZFNET),
    "nin": (NIN, 0, NIN),
    "bn_nin": (BN_NIN + bn(_BN_NIN_CHANNELS)[0], bn(_BN_NIN_CHANNELS)[1], BN_NIN + bn(_BN_NIN_CHANNELS)[0]),
}
CLASSIC = tuple(EXPECTED)


def test_the_family_is_registered():
    assert set(CLASSIC) <= set(archbench.list_models())
    assert {archbench.get_spec(n).family for n in CLASSIC} == {"LeNet", "AlexNet", "ZFNet", "NiN"}


@pytest.mark.parametrize("name", CLASSIC)
def test_exact_parameter_counts(name, build):
    trainable, non_trainable, paper = EXPECTED[name]
    counts = count_params(build(name))
    assert (counts.total, counts.trainable, counts.non_trainable, counts.paper) == (
        trainable + non_trainable,
        trainable,
        non_trainable,
        paper,
    )


def test_reference_figures_hold():
    assert LENET5_TRAINABLE == 60_000  # section II.B of the paper, layer by layer
    assert ALEXNET_ONETOWER == 61_100_840  # torchvision's AlexNet
    assert conv(5, 6, 16) == 2_416 and 6 * (3 * 25 + 1) + 9 * (4 * 25 + 1) + (6 * 25 + 1) == 1_516


@pytest.mark.parametrize("name", CLASSIC)
def test_spec_matches_builder(name, build):
    spec = archbench.get_spec(name)
    model = build(name)
    assert model.output_shape == (None, spec.num_classes)
    assert tuple(model.input_shape[1:]) == spec.input_shape
    assert spec.paper.url.startswith("https://") and spec.depth_paper
    for dev in spec.deviations:
        assert dev.what and dev.why
    assert all(ref.source for ref in spec.params_refs + spec.macs_refs + spec.accuracy_refs)


# --- LeNet-5: table I and the paper's layers ----------------------------------------------------------

# Table I of the paper as printed: one row per S2 map, one column per C3 map, X = connected.
TABLE_I = (
    "X   XXX  XXXX XX",
    "XX   XXX  XXXX X",
    "XXX   XXX  X XXX",
    " XXX  XXXX  X XX",
    "  XXX  XXXX XX X",
    "   XXX  XXXX XXX",
)


def test_c3_connections_are_table_one():
    from_table = tuple(tuple(s for s in range(6) if TABLE_I[s][c] == "X") for c in range(16))
    assert lenet.C3_CONNECTIONS == from_table


def test_c3_kernel_is_zero_exactly_where_table_one_has_no_connection(build):
    layer = build("lenet5").get_layer("c3")
    assert tuple(layer.kernel.shape) == (5, 5, 60) and layer.count_params() == 1_516
    dense_kernel = keras.ops.convert_to_numpy(layer.dense_kernel())
    connected = np.abs(dense_kernel).sum(axis=(0, 1)) > 0
    assert connected.tolist() == [[x == "X" for x in row] for row in TABLE_I]


@pytest.mark.parametrize(
    ("name", "sizes"),
    [
        ("lenet5", {"c1": 28, "s2": 14, "c3": 10, "s4": 5, "c5": 1}),
        ("lenet5_modern", {"c1": 28, "s2": 14, "c3": 10, "s4": 5, "c5": 1}),
        (
            "alexnet",
            {"conv1": 55, "pool1": 27, "conv2": 27, "pool2": 13, "conv3": 13, "conv5": 13, "pool5": 6},
        ),
        ("alexnet_onetower", {"conv1": 55, "pool1": 27, "conv2": 27, "pool2": 13, "conv5": 13, "pool5": 6}),
        (
            "zfnet",
            {"conv1": 110, "pool1": 55, "conv2": 26, "pool2": 13, "conv3": 13, "conv5": 13, "pool5": 6},
        ),
        ("nin", {"conv1": 54, "pool1": 27, "conv2": 27, "pool2": 13, "pool3": 6, "cccp8": 6}),
        ("bn_nin", {"conv1": 56, "pool1": 28, "pool2": 14, "pool3": 7, "cccp8": 7}),
    ],
)
def test_feature_map_sizes_follow_the_papers(name, sizes, build):
    model = build(name)
    got = {layer: tuple(model.get_layer(layer).output.shape[1:3]) for layer in sizes}
    assert got == {layer: (s, s) for layer, s in sizes.items()}


def test_alexnet_towers_are_groups(build):
    model = build("alexnet")
    kernels = {n: tuple(model.get_layer(n).kernel.shape) for n in ("conv2", "conv3", "conv4", "conv5")}
    assert kernels == {
        "conv2": (5, 5, 48, 256),
        "conv3": (3, 3, 256, 384),
        "conv4": (3, 3, 192, 384),
        "conv5": (3, 3, 192, 256),
    }
    assert [type(model.get_layer(n)).__name__ for n in ("lrn1", "lrn2")] == ["LocalResponseNormalization"] * 2


def _numpy_correlate(x, k):
    """Valid 2-D cross-correlation of one map batch (b, h, w) with one kernel (kh, kw)."""
    windows = np.lib.stride_tricks.sliding_window_view(x, k.shape, axis=(1, 2))
    return np.einsum("bpquv,uv->bpq", windows, k)


@pytest.mark.smoke
def test_lecun_tanh():
    x = np.linspace(-3, 3, 13).astype("float32")
    y = keras.ops.convert_to_numpy(lenet_layers.lecun_tanh(x))
    np.testing.assert_allclose(y, 1.7159 * np.tanh(2 * x / 3), rtol=1e-6)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(lenet_layers.lecun_tanh(np.float32([1.0, -1.0]))), [1, -1], atol=1e-4
    )


@pytest.mark.smoke
@pytest.mark.parametrize("size", [6, 7])
def test_trainable_subsampling_against_numpy(size):
    layer = lenet_layers.TrainableSubsampling2D(2)
    x = rng.standard_normal((2, size, size, 3)).astype("float32")
    layer.build(x.shape)
    coef, bias = rng.standard_normal(3).astype("float32"), rng.standard_normal(3).astype("float32")
    layer.set_weights([coef, bias])
    h = size // 2
    sums = x[:, : 2 * h, : 2 * h].reshape(2, h, 2, h, 2, 3).sum(axis=(2, 4))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), sums * coef + bias, rtol=1e-5, atol=1e-5)
    assert layer.compute_output_shape((None, size, size, 3)) == (None, h, h, 3)


def _table_conv_numpy(x, layer, kernel, bias):
    """Output map j = sum over its input maps i of x_i correlated with kernel (i, j), plus b_j."""
    out, position = [], 0
    for j, maps in enumerate(layer.connections):
        acc = 0.0
        for i in maps:
            acc = acc + _numpy_correlate(x[..., i], kernel[:, :, position])
            position += 1
        out.append(acc + bias[j])
    return np.stack(out, axis=-1)


@pytest.mark.smoke
def test_connection_table_conv_against_numpy():
    layer = lenet_layers.ConnectionTableConv2D(lenet.C3_CONNECTIONS, 5)
    x = rng.standard_normal((2, 14, 14, 6)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x))
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(y, _table_conv_numpy(x, layer, kernel, bias), rtol=1e-4, atol=1e-4)
    assert y.shape == layer.compute_output_shape(x.shape) == (2, 10, 10, 16)


@pytest.mark.smoke
def test_euclidean_rbf_against_numpy():
    x = rng.standard_normal((4, 84)).astype("float32")
    raw = lenet_layers.EuclideanRBF(10, seed=3)
    scores = keras.ops.convert_to_numpy(raw(x))
    centers = raw.get_weights()[0]
    assert set(np.unique(centers)) == {-1.0, 1.0} and not raw.trainable_weights
    expected = -((x[:, :, None] - centers[None]) ** 2).sum(axis=1)
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
    soft = lenet_layers.EuclideanRBF(10, activation="softmax", seed=3)
    probs = keras.ops.convert_to_numpy(soft(x))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert (probs.argmax(axis=1) == expected.argmax(axis=1)).all()


def _tf_gradients(layer, x, g):
    """Gradients of sum(layer(x) * g) with respect to x and the layer's trainable weights."""
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradient check uses tf.GradientTape")
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x) * g)
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    return [np.asarray(v) for v in grads]


def test_connection_table_gradient_against_numpy():
    layer = lenet_layers.ConnectionTableConv2D(((0, 1), (1,), (0, 2)), 3)
    x = rng.standard_normal((2, 6, 6, 3)).astype("float32")
    g = rng.standard_normal((2, 4, 4, 3)).astype("float32")
    _, d_kernel, d_bias = _tf_gradients(layer, x, g)
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))  # b, p, q, c, u, v
    expected, position = np.zeros((3, 3, 5), "float32"), 0
    for j, maps in enumerate(layer.connections):
        for i in maps:
            expected[:, :, position] = np.einsum("bpquv,bpq->uv", windows[:, :, :, i], g[..., j])
            position += 1
    np.testing.assert_allclose(d_kernel, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(d_bias, g.sum(axis=(0, 1, 2)), rtol=1e-5)


def test_subsampling_and_rbf_gradients_against_numpy():
    sub = lenet_layers.TrainableSubsampling2D(2)
    x = rng.standard_normal((2, 4, 4, 3)).astype("float32")
    g = rng.standard_normal((2, 2, 2, 3)).astype("float32")
    _, d_coef, d_bias = _tf_gradients(sub, x, g)
    sums = x.reshape(2, 2, 2, 2, 2, 3).sum(axis=(2, 4))
    np.testing.assert_allclose(d_coef, (g * sums).sum(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(d_bias, g.sum(axis=(0, 1, 2)), rtol=1e-5)

    rbf = lenet_layers.EuclideanRBF(10)
    x = rng.standard_normal((3, 84)).astype("float32")
    g = rng.standard_normal((3, 10)).astype("float32")
    (d_x,) = _tf_gradients(rbf, x, g)
    centers = rbf.get_weights()[0]
    expected = -2 * np.einsum("bi,bji->bj", g, x[:, :, None] - centers[None])
    np.testing.assert_allclose(d_x, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "layer",
    [
        lenet_layers.TrainableSubsampling2D(2, name="s"),
        lenet_layers.ConnectionTableConv2D(lenet.C3_CONNECTIONS, 5, name="c"),
        lenet_layers.EuclideanRBF(10, activation="softmax", seed=7, name="r"),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_custom_layers_round_trip_get_config(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == config


@pytest.mark.smoke
def test_lenet5_saves_and_loads(tmp_path, build):
    model = build("lenet5")
    path = tmp_path / "lenet5.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = rng.standard_normal((2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    assert count_params(loaded) == count_params(model)


def test_lenet5_scores_are_negative_distances():
    model = archbench.get_model("lenet5", classifier_activation=None, classes=26)
    y = np.asarray(model(rng.standard_normal((2, 32, 32, 1)).astype("float32")))
    assert y.shape == (2, 26) and (y <= 0).all()
    assert count_params(model).non_trainable == 84 * 26


def test_counting_rules_give_the_papers_connections(build):
    """Section II.B: C3 has 151,600 connections, S2 5,880 (inputs and bias of every unit)."""
    model = build("lenet5")

    def cost(name):
        layer = model.get_layer(name)
        shape = lambda t: tuple(t.shape[1:])  # noqa: E731
        return RULES[type(layer)](layer, [shape(layer.input)], [shape(layer.output)])

    c3, s2, out = cost("c3"), cost("s2"), cost("predictions")
    assert c3.macs == 10 * 10 * 5 * 5 * 60 and c3.macs + c3.other["bias"] == 151_600
    assert s2.macs == 0 and sum(s2.other.values()) == 5_880
    assert out.macs == 84 * 10


@pytest.mark.parametrize("name", CLASSIC)
def test_counted_depth_is_the_papers(name, build):
    assert count(build(name)).depth == archbench.get_spec(name).depth_paper


# --- Caffe/Torch geometry -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((110, 3, 2, 0, True), 55),
        ((110, 3, 2, 0, False), 54),
        ((26, 3, 2, 0, True), 13),
        ((13, 3, 2, 0, True), 6),
        ((56, 3, 2, 1, False), 28),
        ((1, 1, 2, 1, True), 1),  # the last window would start in the padding: dropped
        ((2, 3, 2, 0, True), 0),
    ],
)
def test_pool_output_length(args, expected):
    assert pool_output_length(*args) == expected


def _caffe_max_pool(x, size, stride, pad, ceil_mode):
    """Caffe's max pooling, padding ignored, one (b, h, w, c) array."""
    n = x.shape[1]
    out = pool_output_length(n, size, stride, pad, ceil_mode)
    y = np.empty((x.shape[0], out, out, x.shape[3]), x.dtype)
    for p in range(out):
        for q in range(out):
            h0, w0 = p * stride - pad, q * stride - pad
            win = x[:, max(h0, 0) : min(h0 + size, n), max(w0, 0) : min(w0 + size, n)]
            y[:, p, q] = win.max(axis=(1, 2))
    return y


@pytest.mark.smoke
@pytest.mark.parametrize(("n", "pad", "ceil_mode"), [(8, 0, True), (7, 0, True), (8, 1, False), (9, 1, True)])
def test_max_pool_matches_caffe(n, pad, ceil_mode):
    x = np.abs(rng.standard_normal((2, n, n, 3))).astype("float32")
    inputs = keras.Input((n, n, 3))
    model = keras.Model(inputs, max_pool(inputs, 3, 2, pad=pad, ceil_mode=ceil_mode, name="pool"))
    np.testing.assert_allclose(np.asarray(model(x)), _caffe_max_pool(x, 3, 2, pad, ceil_mode))


def test_ceil_mode_needs_a_known_size():
    with pytest.raises(archbench.UsageError, match="known input"):
        archbench.get_model("nin", include_top=False, input_shape=(None, None, 3))


# --- heads, sizes and options -------------------------------------------------------------------------

HEADLESS = [
    # name, input size, channels of the last feature map, its size
    ("lenet5", 32, 120, 1),
    ("lenet5_modern", 40, 120, 3),
    ("alexnet", 67, 256, 1),
    ("alexnet_onetower", 63, 256, 1),
    ("bn_alexnet", 63, 256, 1),
    ("zfnet", 63, 256, 1),
    ("nin", 64, 1024, 1),
    ("bn_nin", 64, 1024, 2),
]


@pytest.mark.smoke
@pytest.mark.parametrize(("name", "size", "channels", "side"), HEADLESS)
def test_include_top_false_and_pooling(name, size, channels, side):
    c = archbench.get_spec(name).input_shape[2]
    features = archbench.get_model(name, include_top=False, input_shape=(size, size, c))
    assert features.output_shape == (None, side, side, channels)
    pooled = archbench.get_model(name, include_top=False, pooling="max", input_shape=(size, size, c))
    assert pooled.output_shape == (None, channels)
    y = np.asarray(pooled(rng.standard_normal((2, size, size, c)).astype("float32"), training=False))
    assert y.shape == (2, channels) and np.isfinite(y).all()
    names = {layer.name for layer in features.layers}
    assert not names & {"predictions", "flatten", "f6", "fc6", "pool4"}
    if name == "nin":
        assert "cccp8" not in names and "cccp7" in names


def test_nin_head_is_a_class_map_and_any_size_works():
    model = archbench.get_model("nin", input_shape=(96, 96, 3), classes=10)
    assert model.output_shape == (None, 10)
    assert model.get_layer("cccp8").output.shape[-1] == 10
    assert not any(isinstance(layer, keras.layers.Dense) for layer in model.layers)


@pytest.mark.parametrize("name", ["alexnet", "zfnet", "lenet5", "alexnet_onetower"])
def test_fully_connected_heads_need_the_default_size(name):
    spec = archbench.get_spec(name)
    size = spec.input_shape[0] + 1
    with pytest.raises(archbench.UsageError, match="include_top=True"):
        archbench.get_model(name, input_shape=(size, size, spec.input_shape[2]))


@pytest.mark.parametrize("name", CLASSIC)
def test_input_too_small(name):
    spec = archbench.get_spec(name)
    tiny = spec.min_input_size - 1
    with pytest.raises(archbench.InputTooSmallError, match=f"minimum {spec.min_input_size}x"):
        archbench.get_model(name, include_top=False, input_shape=(tiny, tiny, spec.input_shape[2]))


@pytest.mark.parametrize(
    ("build_fn", "config"),
    [
        (build_convnet, alexnet_module.ALEXNET),
        (build_convnet, alexnet_module.ALEXNET_ONETOWER),
        (build_convnet, zfnet.ZFNET),
        (nin._build, nin.NIN),
        (lenet._build, lenet.LENET5),
    ],
    ids=["alexnet", "alexnet_onetower", "zfnet", "nin", "lenet5"],
)
def test_min_input_size_is_the_true_minimum(build_fn, config):
    """One pixel less and some feature map would be empty (checked with the size guard switched off)."""
    unguarded = dataclasses.replace(config, min_input_size=1)
    size, c = config.min_input_size, config.input_shape[2]

    def headless(n):
        return build_fn(
            unguarded,
            BuildArgs(
                name="probe", include_top=False, weights=None, input_tensor=None,
                input_shape=(n, n, c), pooling=None, classes=10, classifier_activation=None,
            ),
        )  # fmt: skip

    assert min(headless(size).output_shape[1:3]) >= 1
    with pytest.raises(ValueError):
        headless(size - 1)


def test_options():
    with pytest.raises(archbench.UsageError, match="unknown option"):
        archbench.get_model("lenet5", dropout=0.1)
    with pytest.raises(archbench.UsageError, match="unknown option"):
        archbench.get_model("bn_nin", dropout=0.1)
    with pytest.raises(archbench.UsageError, match="dropout"):
        archbench.get_model("zfnet", include_top=False, input_shape=(63, 63, 3), dropout=1.5)
    model = archbench.get_model("nin", include_top=True, input_shape=(64, 64, 3), classes=5, dropout=0.2)
    assert model.get_layer("dropout").rate == 0.2
