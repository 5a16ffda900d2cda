"""The lecture's layers against NumPy references: forward values, gradients, counting rules, serialisation."""

import json
import math
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import ops

from archbench.counting import RULES
from archbench.errors import UsageError
from archbench.layers import (
    DeformableConv2D,
    FractionalMaxPooling2D,
    GeneralizedPooling2D,
    LocalResponseNormalization,
    LpPooling2D,
    SparseConv2D,
    SpatiallySeparableConv2D,
    SpatialPyramidPooling2D,
    StochasticPooling2D,
)
from archbench.layers.pooling import fractional_sequence

RNG = np.random.default_rng(0)


def _tf_only():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradient checks use tf.GradientTape")


def _grad(fn, variables):
    """Gradients of the scalar ``fn()`` w.r.t. ``variables`` (keras Variables or input arrays), TF autodiff."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        for v in variables:
            if not isinstance(v, keras.Variable):
                tape.watch(v)
        loss = fn()
    watched = [v.value if isinstance(v, keras.Variable) else v for v in variables]
    return [np.asarray(g) for g in tape.gradient(loss, watched)]


# --------------------------------------------------------------------- NumPy references


def _pad_amounts(n, k, s, d, padding):
    if padding == "valid":
        return 0, 0
    out = -(-n // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def pad_ref(x, kernel_hw, strides, padding, dilation=(1, 1), value=0.0):
    (kh, kw), (sh, sw), (dh, dw) = kernel_hw, strides, dilation
    ph = _pad_amounts(x.shape[1], kh, sh, dh, padding)
    pw = _pad_amounts(x.shape[2], kw, sw, dw, padding)
    return np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=value), ph[0], pw[0]


def conv_ref(x, kernel, strides=(1, 1), padding="valid", dilation=(1, 1), bias=None):
    kh, kw = kernel.shape[:2]
    (sh, sw), (dh, dw) = strides, dilation
    xp, _, _ = pad_ref(x, (kh, kw), strides, padding, dilation)
    ho = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], ho, wo, kernel.shape[3]))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw]
            out += patch @ kernel[i, j]
    return out if bias is None else out + bias


def windows_ref(x, k, s, padding, value=0.0):
    """All windows, (B, Ho, Wo, k*k, C); padded positions hold ``value``."""
    xp, _, _ = pad_ref(x, (k, k), (s, s), padding, value=value)
    ho = (xp.shape[1] - k) // s + 1
    wo = (xp.shape[2] - k) // s + 1
    taps = [
        xp[:, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s] for i in range(k) for j in range(k)
    ]
    return np.stack(taps, axis=3)


def bilinear_ref(img, y, x):
    y0, x0 = math.floor(y), math.floor(x)
    out = np.zeros(img.shape[-1])
    for yc, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xc, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yc < img.shape[0] and 0 <= xc < img.shape[1]:
                out += wy * wx * img[yc, xc]
    return out


def deformable_ref(x, kernel, bias, offset_kernel, offset_bias, s, padding, d):
    k = kernel.shape[0]
    offsets = conv_ref(x, offset_kernel, (s, s), padding, (d, d), offset_bias)
    top = _pad_amounts(x.shape[1], k, s, d, padding)[0]
    left = _pad_amounts(x.shape[2], k, s, d, padding)[0]
    b_, ho, wo, _ = offsets.shape
    out = np.zeros((b_, ho, wo, kernel.shape[-1]))
    for b in range(b_):
        for i in range(ho):
            for j in range(wo):
                for t in range(k * k):
                    py = i * s - top + (t // k) * d + offsets[b, i, j, 2 * t]
                    px = j * s - left + (t % k) * d + offsets[b, i, j, 2 * t + 1]
                    out[b, i, j] += bilinear_ref(x[b], py, px) @ kernel[t // k, t % k]
    return out + bias


def pyramid_ref(x, levels, mode):
    reduce = np.max if mode == "max" else np.mean
    parts = []
    for n in levels:
        cells = np.zeros((x.shape[0], n, n, x.shape[-1]))
        for i in range(n):
            for j in range(n):
                r0, r1 = (i * x.shape[1]) // n, math.ceil((i + 1) * x.shape[1] / n)
                c0, c1 = (j * x.shape[2]) // n, math.ceil((j + 1) * x.shape[2] / n)
                cells[:, i, j] = reduce(x[:, r0:r1, c0:c1], axis=(1, 2))
        parts.append(cells.reshape(x.shape[0], -1))
    return np.concatenate(parts, axis=1)


def fractional_ref(x, rows, cols, overlapping):
    h, w = x.shape[1:3]
    extra = int(overlapping)
    out = np.zeros((x.shape[0], len(rows) - 1, len(cols) - 1, x.shape[-1]))
    for i in range(len(rows) - 1):
        for j in range(len(cols) - 1):
            r1, c1 = min(rows[i + 1] + extra, h), min(cols[j + 1] + extra, w)
            out[:, i, j] = x[:, rows[i] : r1, cols[j] : c1].max(axis=(1, 2))
    return out


def _x(shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, size=shape).astype("float32")


def _np(t):
    return np.asarray(ops.convert_to_numpy(t), dtype=np.float64)


# --------------------------------------------------------------------- convolutions


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), (2, 1), (1, 2)])
def test_spatially_separable_matches_two_convolutions(padding, strides, dilation):
    x = _x((2, 9, 8, 3))
    layer = SpatiallySeparableConv2D(
        5,
        3,
        strides=strides,
        padding=padding,
        dilation_rate=dilation,
        intermediate_filters=4,
        bias_initializer="random_normal",
    )
    y = _np(layer(x))
    kv, kh, b = (_np(w) for w in (layer.kernel_vertical, layer.kernel_horizontal, layer.bias))
    mid = conv_ref(x, kv, (strides, 1), padding, (dilation, 1))
    ref = conv_ref(mid, kh, (1, strides), padding, (1, dilation), b)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    assert y.shape == layer.compute_output_shape(x.shape)


@pytest.mark.smoke
def test_spatially_separable_is_a_low_rank_kxk_convolution():
    """Valid padding: the pair equals one k x k convolution with kernel sum_m v[:, c, m] h[:, m, f]."""
    x = _x((1, 7, 7, 2))
    layer = SpatiallySeparableConv2D(3, 3, intermediate_filters=1, use_bias=False)
    y = _np(layer(x))
    kv, kh = _np(layer.kernel_vertical)[:, 0], _np(layer.kernel_horizontal)[0]
    full = np.einsum("acm,bmf->abcf", kv, kh)
    np.testing.assert_allclose(y, conv_ref(x, full), rtol=1e-5, atol=1e-5)
    assert layer.count_params() == 3 * 2 * 1 + 3 * 1 * 3 < 3 * 3 * 2 * 3


@pytest.mark.parametrize(
    "padding,strides,dilation", [("valid", 1, 1), ("same", 1, 1), ("same", 2, 1), ("valid", 1, 2)]
)
def test_deformable_with_zero_offsets_is_a_plain_convolution(padding, strides, dilation):
    x = _x((2, 8, 7, 3))
    layer = DeformableConv2D(4, 3, strides=strides, padding=padding, dilation_rate=dilation)
    y = _np(layer(x))
    ref = conv_ref(x, _np(layer.kernel), (strides, strides), padding, (dilation, dilation), _np(layer.bias))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    assert not np.any(_np(layer.offset_kernel)) and not np.any(_np(layer.offset_bias))


@pytest.mark.smoke
@pytest.mark.parametrize("padding,strides,dilation", [("valid", 1, 1), ("same", 2, 1), ("same", 1, 2)])
def test_deformable_matches_numpy_bilinear_reference(padding, strides, dilation):
    x = _x((2, 7, 6, 2))
    layer = DeformableConv2D(
        3,
        3,
        strides=strides,
        padding=padding,
        dilation_rate=dilation,
        offset_initializer=keras.initializers.RandomNormal(stddev=0.6, seed=1),
        bias_initializer="random_normal",
    )
    layer.build(x.shape)
    layer.offset_bias.assign(RNG.normal(0, 1.5, size=layer.offset_bias.shape).astype("float32"))
    y = _np(layer(x))
    weights = [_np(w) for w in (layer.kernel, layer.bias, layer.offset_kernel, layer.offset_bias)]
    ref = deformable_ref(x.astype(np.float64), *weights, strides, padding, dilation)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


def test_deformable_gradients_match_finite_differences():
    """Gradients of sum(g * y) w.r.t. the offset bias (through the bilinear weights) and the kernel."""
    _tf_only()
    x = _x((1, 5, 5, 2))
    layer = DeformableConv2D(
        2, 3, padding="same", offset_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=2)
    )
    layer.build(x.shape)
    layer.offset_bias.assign(RNG.normal(0, 0.7, size=layer.offset_bias.shape).astype("float32"))
    g = RNG.normal(size=(1, 5, 5, 2))
    got_bias, got_kernel = _grad(lambda: ops.sum(layer(x) * g), [layer.offset_bias, layer.kernel])
    kernel, bias, ok, ob = (
        _np(w) for w in (layer.kernel, layer.bias, layer.offset_kernel, layer.offset_bias)
    )
    x64 = x.astype(np.float64)

    def loss(kernel_=kernel, ob_=ob):
        return float(np.sum(g * deformable_ref(x64, kernel_, bias, ok, ob_, 1, "same", 1)))

    eps = 1e-6
    for j in range(ob.size):
        step = np.zeros_like(ob)
        step[j] = eps
        fd = (loss(ob_=ob + step) - loss(ob_=ob - step)) / (2 * eps)
        assert got_bias[j] == pytest.approx(fd, rel=2e-3, abs=2e-4), j
    for idx in [(0, 0, 0, 0), (1, 2, 1, 1), (2, 1, 0, 1)]:
        step = np.zeros_like(kernel)
        step[idx] = eps
        fd = (loss(kernel_=kernel + step) - loss(kernel_=kernel - step)) / (2 * eps)
        assert got_kernel[idx] == pytest.approx(fd, rel=1e-3, abs=1e-4), idx


@pytest.mark.smoke
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9])
def test_sparse_conv_masks_the_smallest_weights(sparsity):
    x = _x((2, 6, 6, 3))
    layer = SparseConv2D(4, 3, sparsity=sparsity, padding="same")
    y = _np(layer(x))
    kernel, mask = _np(layer.kernel), layer.mask
    n = kernel.size
    assert mask.shape == kernel.shape and mask.dtype == bool
    assert layer.nonzero_weights == n - round(sparsity * n)
    if 0 < layer.nonzero_weights < n:
        assert np.abs(kernel[~mask]).max() <= np.abs(kernel[mask]).min()
    np.testing.assert_allclose(y, conv_ref(x, kernel * mask, padding="same", bias=_np(layer.bias)), atol=1e-5)


def test_sparse_conv_given_mask_gradient_and_serialisation():
    _tf_only()
    x = _x((1, 5, 5, 2))
    mask = RNG.random((3, 3, 2, 3)) < 0.4
    layer = SparseConv2D(3, 3, mask=mask.astype(int))
    layer.build(x.shape)
    g = RNG.normal(size=(1, 3, 3, 3))
    (got,) = _grad(lambda: ops.sum(layer(x) * g), [layer.kernel])
    analytic = np.zeros((3, 3, 2, 3))
    for i in range(3):
        for j in range(3):
            analytic[i, j] = np.einsum("bhwc,bhwf->cf", x[:, i : i + 3, j : j + 3], g)
    np.testing.assert_allclose(got, analytic * mask, rtol=1e-4, atol=1e-5)
    config = json.loads(json.dumps(layer.get_config()))
    clone = SparseConv2D.from_config(config)
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    assert np.array_equal(clone.mask, mask)
    np.testing.assert_allclose(_np(clone(x)), _np(layer(x)))


def test_sparse_conv_prune_after_training():
    layer = SparseConv2D(2, 3)
    layer.build((None, 6, 6, 2))
    assert layer.nonzero_weights == 36
    kernel = np.arange(36, dtype="float32").reshape(3, 3, 2, 2) - 17.5
    layer.kernel.assign(kernel)
    layer.prune(8 / 36)  # the 8 weights with |w| <= 3.5
    assert layer.nonzero_weights == 28
    np.testing.assert_array_equal(layer.mask, np.abs(kernel) > 4.0)


def test_sparse_conv_rejects_bad_masks_and_sparsity():
    with pytest.raises(UsageError):
        SparseConv2D(2, 3, sparsity=1.0)
    with pytest.raises(UsageError):
        SparseConv2D(2, 3, mask=np.full((3, 3, 1, 2), 2))
    with pytest.raises(UsageError):
        SparseConv2D(2, 3, mask=np.ones((3, 3, 1, 2))).build((None, 5, 5, 4))


# --------------------------------------------------------------------- pooling


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, math.inf])
@pytest.mark.parametrize("pool,stride,padding", [(2, None, "valid"), (3, 2, "same"), (3, 1, "valid")])
def test_lp_pooling(p, pool, stride, padding):
    x = _x((2, 7, 8, 3))
    layer = LpPooling2D(pool, stride, padding, p=p)
    y = _np(layer(x))
    w = np.abs(windows_ref(x.astype(np.float64), pool, stride or pool, padding))
    ref = w.max(axis=3) if math.isinf(p) else (w**p).sum(axis=3) ** (1 / p)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    assert y.shape == layer.compute_output_shape(x.shape)


@pytest.mark.smoke
def test_lp_pooling_p1_is_average_times_window_and_large_p_approaches_max():
    x = _x((1, 6, 6, 2), 0.1, 1.0)
    avg = _np(keras.layers.AveragePooling2D(2)(x))
    np.testing.assert_allclose(_np(LpPooling2D(2, p=1)(x)), 4 * avg, rtol=1e-6)
    np.testing.assert_allclose(_np(LpPooling2D(2, p=64)(x)), _np(keras.layers.MaxPooling2D(2)(x)), rtol=0.03)


def test_lp_pooling_input_gradient_and_zero_window():
    """d/dx of the L2 norm of a window is x / norm; a window of zeros has a zero (finite) gradient."""
    _tf_only()
    x = _x((1, 4, 4, 1))
    x[0, :2, :2] = 0.0
    g = RNG.normal(size=(1, 2, 2, 1))
    xt = ops.convert_to_tensor(x)
    (got,) = _grad(lambda: ops.sum(LpPooling2D(2, p=2)(xt) * g), [xt])
    expected = np.zeros((4, 4))
    for i in range(2):
        for j in range(2):
            w = x[0, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2, 0].astype(np.float64)
            norm = np.sqrt((w**2).sum())
            expected[2 * i : 2 * i + 2, 2 * j : 2 * j + 2] = w / norm * g[0, i, j, 0] if norm > 0 else 0.0
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[0, :, :, 0], expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("pool,stride,padding", [(2, None, "valid"), (3, 2, "same"), (3, 1, "valid")])
def test_stochastic_pooling_inference_and_sampling(pool, stride, padding):
    x = _x((2, 7, 6, 3))
    layer = StochasticPooling2D(pool, stride, padding, seed=3)
    a = np.maximum(windows_ref(x.astype(np.float64), pool, stride or pool, padding), 0)
    total = a.sum(axis=3)
    expected = np.where(total > 0, (a * a).sum(axis=3) / np.where(total > 0, total, 1), 0)
    np.testing.assert_allclose(_np(layer(x)), expected, rtol=1e-5, atol=1e-6)
    uniform = RNG.random(expected.shape).astype("float32")
    picks = (np.cumsum(a, axis=3) > (uniform * total)[:, :, :, None, :]).argmax(axis=3)
    chosen = np.take_along_axis(a, picks[:, :, :, None, :], axis=3)[:, :, :, 0]
    np.testing.assert_allclose(_np(layer.sample(x, uniform)), np.where(total > 0, chosen, 0), atol=1e-6)


@pytest.mark.smoke
def test_stochastic_pooling_samples_with_activation_probabilities_and_seed():
    window = np.array([[1.0, 0.0], [3.0, -2.0]], dtype="float32")
    x = np.broadcast_to(window[None, :, :, None], (4000, 2, 2, 1)).copy()
    y = _np(StochasticPooling2D(2, seed=7)(x, training=True)).ravel()
    assert set(np.unique(y)) <= {1.0, 3.0}
    assert np.mean(y == 3.0) == pytest.approx(0.75, abs=0.03)
    again = _np(StochasticPooling2D(2, seed=7)(x, training=True)).ravel()
    np.testing.assert_array_equal(y, again)


@pytest.mark.parametrize("n_in,ratio", [(32, math.sqrt(2)), (25, 1.5), (17, 1.25), (10, 2.5), (9, 1.0)])
def test_fractional_sequences_tile_the_input(n_in, ratio):
    n_out = math.floor(n_in / ratio)
    k = n_in // n_out
    for seq in (fractional_sequence(n_in, n_out, True, u) for u in (1e-3, 0.3, 0.5, 0.999)):
        assert seq[0] == 0 and seq[-1] == n_in and len(seq) == n_out + 1
        assert set(np.diff(seq)) <= {k, k + 1}
    layer = FractionalMaxPooling2D(ratio, pseudo_random=False, seed=1)
    seq = ops.convert_to_numpy(layer.sequence(n_in, training=True))
    assert seq[-1] == n_in and set(np.diff(seq)) <= {k, k + 1}
    assert sorted(np.diff(seq)) == sorted(np.diff(fractional_sequence(n_in, n_out, False)))


@pytest.mark.smoke
@pytest.mark.parametrize("pseudo_random", [True, False])
@pytest.mark.parametrize("overlapping", [False, True])
def test_fractional_max_pooling(pseudo_random, overlapping):
    x = _x((2, 11, 9, 3))
    kwargs = dict(pooling_ratio=math.sqrt(2), pseudo_random=pseudo_random, overlapping=overlapping)
    layer = FractionalMaxPooling2D(seed=5, **kwargs)
    inference = _np(layer(x))
    rows, cols = fractional_sequence(11, 7), fractional_sequence(9, 6)
    np.testing.assert_allclose(inference, fractional_ref(x, rows, cols, overlapping))
    assert inference.shape == layer.compute_output_shape(x.shape) == (2, 7, 6, 3)
    trained = _np(layer(x, training=True))
    twin = FractionalMaxPooling2D(seed=5, **kwargs)
    rows = ops.convert_to_numpy(twin.sequence(11, training=True))
    cols = ops.convert_to_numpy(twin.sequence(9, training=True))
    np.testing.assert_allclose(trained, fractional_ref(x, rows, cols, overlapping))
    np.testing.assert_allclose(_np(FractionalMaxPooling2D(seed=5, **kwargs)(x, training=True)), trained)


def test_fractional_max_pooling_needs_known_sizes():
    with pytest.raises(UsageError):
        FractionalMaxPooling2D()(keras.Input((None, None, 3)))
    with pytest.raises(UsageError):
        FractionalMaxPooling2D(0.5)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("size", [(13, 13), (7, 5), (3, 2), (1, 1)])
def test_spatial_pyramid_pooling(mode, size):
    x = _x((2, *size, 3))
    layer = SpatialPyramidPooling2D((1, 2, 4), mode)
    y = _np(layer(x))
    assert y.shape == (2, 3 * 21) == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, pyramid_ref(x, (1, 2, 4), mode), rtol=1e-6, atol=1e-6)


@pytest.mark.smoke
def test_spatial_pyramid_pooling_any_input_size_in_one_model():
    inputs = keras.Input((None, None, 2))
    model = keras.Model(inputs, keras.layers.Dense(4)(SpatialPyramidPooling2D((1, 3))(inputs)))
    assert model.output_shape == (None, 4)
    for size in [(6, 9), (17, 4)]:
        x = _x((3, *size, 2))
        spp = _np(SpatialPyramidPooling2D((1, 3))(x))
        np.testing.assert_allclose(
            model.predict(x, verbose=0),
            spp @ _np(model.layers[-1].kernel) + _np(model.layers[-1].bias),
            rtol=1e-5,
            atol=1e-5,
        )


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("pool,stride,padding", [(2, None, "valid"), (3, 2, "same")])
def test_generalized_pooling_fixed_alpha(alpha, pool, stride, padding):
    x = _x((2, 7, 6, 3))
    y = _np(GeneralizedPooling2D(pool, stride, padding, alpha=alpha)(x))
    w = windows_ref(x.astype(np.float64), pool, stride or pool, padding, value=np.nan)
    ref = alpha * np.nanmax(w, axis=3) + (1 - alpha) * np.nanmean(w, axis=3)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("per_channel", [False, True])
def test_generalized_pooling_learned_alpha_gradient(per_channel):
    _tf_only()
    x = _x((2, 6, 6, 3))
    layer = GeneralizedPooling2D(2, alpha=0.2, trainable_alpha=True, per_channel=per_channel)
    layer.build(x.shape)
    assert layer.alpha_logit.shape == ((3,) if per_channel else ())
    np.testing.assert_allclose(_np(layer.mixing_weight()), 0.2, rtol=1e-6)
    g = RNG.normal(size=(2, 3, 3, 3))
    (got,) = _grad(lambda: ops.sum(layer(x) * g), [layer.alpha_logit])
    w = windows_ref(x.astype(np.float64), 2, 2, "valid")
    diff = (w.max(axis=3) - w.mean(axis=3)) * g
    expected = 0.2 * 0.8 * (diff.sum(axis=(0, 1, 2)) if per_channel else diff.sum())
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_generalized_pooling_rejects_bad_alpha():
    with pytest.raises(UsageError):
        GeneralizedPooling2D(alpha=1.0, trainable_alpha=True)
    with pytest.raises(UsageError):
        GeneralizedPooling2D(alpha=1.5)
    with pytest.raises(UsageError):
        GeneralizedPooling2D(per_channel=True)


# --------------------------------------------------------------------- counting rules


def _cost(layer, input_shape):
    layer.build((None, *input_shape)) if not layer.built else None
    out = layer.compute_output_shape((None, *input_shape))[1:]
    return RULES[type(layer)](layer, [tuple(input_shape)], [tuple(out)])


CLOSED_FORMS = [
    # (layer factory, input shape, macs, other)
    (
        lambda: SpatiallySeparableConv2D(16, 3, padding="same"),
        (8, 8, 4),
        8 * 8 * 3 * 4 * 16 + 8 * 8 * 3 * 16 * 16,
        {"bias": 8 * 8 * 16},
    ),
    (
        lambda: SpatiallySeparableConv2D(16, 5, intermediate_filters=2, use_bias=False, activation="relu"),
        (9, 10, 4),
        5 * 10 * 5 * 4 * 2 + 5 * 6 * 5 * 2 * 16,
        {"activation": 5 * 6 * 16},
    ),
    (
        lambda: DeformableConv2D(8, 3, padding="same"),
        (6, 6, 4),
        6 * 6 * 9 * 4 * (8 + 18),
        {"bias": 6 * 6 * (18 + 8), "interpolation": 6 * 6 * 9 * 4 * 4},
    ),
    (
        lambda: SparseConv2D(8, 3, mask=np.eye(8, dtype=int)[None, None, :4, :].repeat(3, 0).repeat(3, 1)),
        (6, 6, 4),
        4 * 4 * 9 * 4,
        {"bias": 4 * 4 * 8},
    ),
    # pooling: window - 1 per output (+1 for a root or divide); elementwise: per input (|x|^p, squares)
    (lambda: LpPooling2D(2, p=2), (8, 8, 3), 0, {"pooling": 48 * 3 + 48, "elementwise": 8 * 8 * 3}),
    (lambda: LpPooling2D(3, 2, "same", p=1), (8, 8, 3), 0, {"pooling": 48 * 8, "elementwise": 8 * 8 * 3}),
    (lambda: LpPooling2D(2, p=math.inf), (8, 8, 3), 0, {"pooling": 48 * 3, "elementwise": 8 * 8 * 3}),
    (lambda: StochasticPooling2D(2), (8, 6, 3), 0, {"pooling": 2 * 36 * 3 + 36, "elementwise": 8 * 6 * 3}),
    (lambda: FractionalMaxPooling2D(math.sqrt(2)), (32, 16, 5), 0, {"pooling": (32 * 16 - 22 * 11) * 5}),
    (
        lambda: FractionalMaxPooling2D(math.sqrt(2), overlapping=True),
        (32, 16, 5),
        0,
        {"pooling": ((32 + 22 - 1) * (16 + 11 - 1) - 22 * 11) * 5},
    ),
    (lambda: SpatialPyramidPooling2D((1, 2, 4)), (8, 8, 3), 0, {"pooling": (63 + 60 + 48) * 3}),
    (lambda: SpatialPyramidPooling2D((1, 2, 4), "avg"), (8, 8, 3), 0, {"pooling": 3 * 64 * 3}),
    # bins over 7: [0,7) | [0,4) [3,7) | [0,3) [2,5) [4,7); over 5: [0,5) | [0,3) [2,5) | [0,2) [1,4) [3,5)
    (
        lambda: SpatialPyramidPooling2D((1, 2, 3)),
        (7, 5, 2),
        0,
        {"pooling": 2 * (7 * 5 - 1 + 8 * 6 - 4 + 9 * 7 - 9)},
    ),
    (
        lambda: GeneralizedPooling2D(2, trainable_alpha=True),
        (8, 8, 3),
        0,
        {"pooling": 48 * 3 + 48 * 4, "elementwise": 2 * 48},
    ),
]


@pytest.mark.parametrize("make,shape,macs,other", CLOSED_FORMS)
def test_counting_rules_closed_forms(make, shape, macs, other):
    cost = _cost(make(), shape)
    assert cost.macs == macs
    assert dict(cost.other) == other


def test_sparse_conv_macs_count_only_nonzeros():
    layer = SparseConv2D(16, 3, sparsity=0.75, padding="same")
    dense = 8 * 8 * 9 * 4 * 16
    assert _cost(layer, (8, 8, 4)).macs == dense // 4


# --------------------------------------------------------------------- whole-model checks (TF and JAX)


def _zoo_model(spatial=16):
    """One model with every layer of the module in parallel branches (weights seeded)."""
    keras.utils.set_random_seed(11)
    inputs = keras.Input((spatial, spatial, 3), name="image")
    branches = [
        SpatiallySeparableConv2D(4, 3, padding="same", name="spatially_separable")(inputs),
        DeformableConv2D(
            4,
            3,
            padding="same",
            name="deformable",
            offset_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=3),
        )(inputs),
        SparseConv2D(4, 3, sparsity=0.5, name="sparse")(inputs),
        LpPooling2D(2, p=3, name="lp")(inputs),
        StochasticPooling2D(2, seed=1, name="stochastic")(inputs),
        FractionalMaxPooling2D(seed=2, overlapping=True, name="fractional")(inputs),
        GeneralizedPooling2D(
            3, 2, "same", alpha=0.4, trainable_alpha=True, per_channel=True, name="generalized"
        )(inputs),
        LocalResponseNormalization(name="lrn")(inputs),
    ]
    flat = [keras.layers.Flatten(name=f"flat_{i}")(b) for i, b in enumerate(branches)]
    flat.append(SpatialPyramidPooling2D((1, 2), name="pyramid")(inputs))
    return keras.Model(inputs, keras.layers.Concatenate(name="concat")(flat), name="zoo")


def test_zoo_model_trains_one_step_in_graph_mode():
    """fit() traces the training path (sampling, random fractional sequences, learned alpha) into a graph."""
    model = _zoo_model()
    model.compile(optimizer="sgd", loss="mse")
    x = _x((4, 16, 16, 3), 0.0, 1.0)
    before = [np.array(w) for w in model.get_layer("generalized").get_weights()]
    history = model.fit(x, np.zeros((4, model.output_shape[-1])), epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(model.get_layer("generalized").get_weights()[0], before[0])


def test_zoo_model_saves_and_reloads(tmp_path):
    model = _zoo_model()
    x = _x((2, 16, 16, 3), 0.0, 1.0)
    path = tmp_path / "zoo.keras"
    model.save(path)
    clone = keras.saving.load_model(path)
    np.testing.assert_allclose(_np(clone(x)), _np(model(x)), rtol=1e-6, atol=1e-6)
    assert np.array_equal(clone.get_layer("sparse").mask, model.get_layer("sparse").mask)


def test_every_layer_is_counted_by_the_walker():
    from archbench.counting import count

    model = _zoo_model()
    result = count(model)
    assert result.uncounted == ()
    macs = {r.name: r.macs for r in result.layers}
    assert macs["spatially_separable"] == 16 * 16 * 3 * 3 * 4 + 16 * 16 * 3 * 4 * 4
    assert macs["deformable"] == 16 * 16 * 9 * 3 * (4 + 18)
    assert macs["sparse"] == 14 * 14 * model.get_layer("sparse").nonzero_weights == 14 * 14 * 54
    assert result.macs == sum(macs.values())
    assert result.depth == 1


_JAX_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, jax, keras
    import archbench.layers  # noqa: F401  (registers the classes)
    assert keras.backend.backend() == "jax"
    model = keras.saving.load_model(sys.argv[1])
    x = np.load(sys.argv[2])
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]

    def loss(params, x):
        y, _ = model.stateless_call(params, frozen, x, training=True)
        return jax.numpy.sum(y ** 2), y

    @jax.jit
    def run(params, x):
        inference, _ = model.stateless_call(params, frozen, x)
        (_, train), grads = jax.value_and_grad(loss, has_aux=True)(params, x)
        return inference, train, grads

    inference, train, grads = run(trainable, x)
    np.savez(
        sys.argv[3],
        inference=np.asarray(inference),
        train_finite=np.array(bool(np.isfinite(train).all())),
        grads_finite=np.array(all(bool(np.isfinite(g).all()) for g in grads)),
    )
    """
)


@pytest.mark.jax
def test_layers_under_jax_backend(tmp_path):
    """Every layer builds, runs, differentiates under JAX and agrees with TensorFlow (one subprocess)."""
    pytest.importorskip("jax")
    model = _zoo_model()
    x = _x((2, 16, 16, 3), 0.0, 1.0)
    model.save(tmp_path / "zoo.keras")
    np.save(tmp_path / "x.npy", x)
    script = tmp_path / "run_jax.py"
    script.write_text(_JAX_SCRIPT)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            str(tmp_path / "zoo.keras"),
            str(tmp_path / "x.npy"),
            str(tmp_path / "out.npz"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    assert bool(out["train_finite"]) and bool(out["grads_finite"])
    np.testing.assert_allclose(out["inference"], _np(model(x)), rtol=1e-4, atol=1e-4)
