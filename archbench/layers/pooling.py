"""Pooling variants of the lecture: Lp, stochastic, fractional max, spatial pyramid and generalised pooling.

Max and average pooling are Keras' own ``MaxPooling2D``/``AveragePooling2D`` (and "pooling" by a
strided convolution is a ``Conv2D``). All layers here are channels last and have no multiply-adds with
weights (``macs = 0``). Their work follows :mod:`archbench.counting`'s convention for pooling:
``other["pooling"]`` holds ``window - 1`` comparisons (max) or additions (sums) per output element, plus
one per output for a final divide or root, windows at a ``same`` border counted whole; per-element work
on the input (``|x|^p``, squares) or output (mixing) goes to ``other["elementwise"]``.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ..counting import LayerCost, register_rule
from ..errors import UsageError
from .conv import _check_padding, _positive_int, _prod, conv_output_length

__all__ = [
    "SQRT2",
    "FractionalMaxPooling2D",
    "GeneralizedPooling2D",
    "LpPooling2D",
    "SpatialPyramidPooling2D",
    "StochasticPooling2D",
    "fractional_sequence",
    "stochastic_sample",
]


SQRT2 = math.sqrt(2.0)


class _WindowPooling(keras.layers.Layer):
    """Shared arguments of the sliding-window poolings (square window, TensorFlow ``same``/``valid``)."""

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _positive_int(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _positive_int(strides, "strides")
        self.padding = _check_padding(padding)

    def _window_sum(self, x):
        """Sum over each window with zero padding (a depthwise convolution with a kernel of ones)."""
        k = self.pool_size
        ones = ops.ones((k, k, x.shape[-1], 1), dtype=x.dtype)
        return ops.depthwise_conv(x, ones, strides=self.strides, padding=self.padding)

    def compute_output_shape(self, input_shape):
        k, s = self.pool_size, self.strides
        h = conv_output_length(input_shape[1], k, s, self.padding)
        w = conv_output_length(input_shape[2], k, s, self.padding)
        return (input_shape[0], h, w, input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding)
        return config


def _window_ops(layer, output_shapes) -> int:
    """``window - 1`` comparisons or additions per output element of a sliding-window pool."""
    return _prod(output_shapes[0]) * (layer.pool_size * layer.pool_size - 1)


def _safe_where(condition, compute, value, fallback):
    """``compute(value)`` where ``condition`` else ``fallback``, with finite gradients everywhere."""
    return ops.where(condition, compute(ops.where(condition, value, ops.ones_like(value))), fallback)


@keras.saving.register_keras_serializable(package="archbench")
class LpPooling2D(_WindowPooling):
    """Lp pooling: ``(sum_window |x|^p)^(1/p)``.

    Sermanet, Chintala & LeCun, "Convolutional Neural Networks Applied to House Numbers Digit
    Classification", ICPR 2012 (arXiv 1204.3968); Bruna, Szlam & LeCun, "Signal recovery from Pooling
    Representations", ICML 2014 (arXiv 1311.4025). ``p = 1`` is average pooling times the window size
    (of ``|x|``), ``p = 2`` the L2 pooling of the house-numbers paper, and ``p = inf`` max pooling of
    ``|x|``. ``same`` padding pads with zeros, which add nothing to the sum. ``p`` must be >= 1.
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", p=2.0, **kwargs):
        super().__init__(pool_size, strides, padding, **kwargs)
        self.p = float(p)
        if not self.p >= 1.0:
            raise UsageError(f"Lp pooling needs p >= 1 (or inf), got {p}")

    def call(self, inputs):
        x = ops.abs(inputs)
        if math.isinf(self.p):
            return ops.max_pool(x, self.pool_size, self.strides, self.padding)
        if self.p == 1.0:
            return self._window_sum(x)
        total = self._window_sum(ops.power(x, self.p))
        return _safe_where(total > 0, lambda t: ops.power(t, 1.0 / self.p), total, ops.zeros_like(total))

    def get_config(self):
        config = super().get_config()
        config.update(p=self.p)
        return config


@register_rule(LpPooling2D)
def _lp_cost(layer, input_shapes, output_shapes) -> LayerCost:
    """Window sums (or maxima, p = inf) plus a root per output for 1 < p < inf; ``|x|^p`` per input element."""
    root = 0 if math.isinf(layer.p) or layer.p == 1.0 else _prod(output_shapes[0])
    return LayerCost(
        macs=0,
        other={"pooling": _window_ops(layer, output_shapes) + root, "elementwise": _prod(input_shapes[0])},
    )


def stochastic_sample(taps, uniform):
    """Pick one tap per window with probability ``a_i / sum(a)`` (``a = relu(taps)``), given ``uniform``.

    ``taps`` is a list of ``k*k`` tensors of one shape (the window's elements), ``uniform`` a tensor of
    that shape with values in [0, 1): the first tap whose cumulative activation exceeds
    ``uniform * sum(a)`` is chosen, which has exactly the multinomial probabilities of Zeiler & Fergus.
    A window of zeros gives zero.
    """
    acts = [ops.relu(t) for t in taps]
    total = acts[0]
    for a in acts[1:]:
        total = total + a
    threshold = uniform * total
    out = ops.zeros_like(total)
    chosen = ops.zeros_like(total, dtype="bool")
    cumulative = ops.zeros_like(total)
    for a in acts:
        cumulative = cumulative + a
        pick = ops.logical_and(cumulative > threshold, ops.logical_not(chosen))
        out = ops.where(pick, a, out)
        chosen = ops.logical_or(chosen, pick)
    return out


@keras.saving.register_keras_serializable(package="archbench")
class StochasticPooling2D(_WindowPooling):
    """Stochastic pooling (Zeiler & Fergus, "Stochastic Pooling for Regularization of Deep Convolutional
    Neural Networks", ICLR 2013, arXiv 1301.3557).

    Within each window the activations ``a_i`` define probabilities ``p_i = a_i / sum_j a_j``. In
    training one ``a_i`` is sampled per window (and channel) with those probabilities; at inference the
    output is the probability-weighted average ``sum_i p_i a_i = sum a_i^2 / sum a_i``. The paper uses it
    after ReLU; negative inputs are treated as zero (``relu`` is applied first). ``seed`` makes the
    training draws reproducible (a ``keras.random.SeedGenerator``).
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", seed=None, **kwargs):
        super().__init__(pool_size, strides, padding, **kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def taps(self, inputs):
        """The ``k*k`` window elements, each ``(batch, out_h, out_w, C)`` (zeros where padded)."""
        k = self.pool_size
        channels = inputs.shape[-1]
        onehot = np.zeros((k, k, channels, k * k), dtype="float32")
        for t in range(k * k):
            onehot[t // k, t % k, :, t] = 1.0
        kernel = ops.convert_to_tensor(onehot, dtype=inputs.dtype)
        # depthwise output channel c*k*k + t holds tap t of channel c
        stacked = ops.depthwise_conv(inputs, kernel, strides=self.strides, padding=self.padding)
        return [stacked[..., t :: k * k] for t in range(k * k)]

    def sample(self, inputs, uniform):
        """The training-mode output for given uniform draws (shape of the output)."""
        return stochastic_sample(self.taps(inputs), uniform)

    def expectation(self, inputs):
        """The inference-mode output ``sum a^2 / sum a`` (``a = relu(inputs)``)."""
        a = ops.relu(inputs)
        total = self._window_sum(a)
        squares = self._window_sum(a * a)
        return _safe_where(total > 0, lambda t: squares / t, total, ops.zeros_like(total))

    def call(self, inputs, training=None):
        if training:
            taps = self.taps(inputs)
            uniform = keras.random.uniform(ops.shape(taps[0]), dtype=inputs.dtype, seed=self.seed_generator)
            return stochastic_sample(taps, uniform)
        return self.expectation(inputs)

    def get_config(self):
        config = super().get_config()
        config.update(seed=self.seed)
        return config


@register_rule(StochasticPooling2D)
def _stochastic_cost(layer, input_shapes, output_shapes) -> LayerCost:
    """Inference form: two window sums (of a and a^2) and a divide per output; a square per input element."""
    pooling = 2 * _window_ops(layer, output_shapes) + _prod(output_shapes[0])
    return LayerCost(macs=0, other={"pooling": pooling, "elementwise": _prod(input_shapes[0])})


def fractional_sequence(n_in: int, n_out: int, pseudo_random: bool = True, u: float = 0.5, increments=None):
    """Region boundaries ``[0 = a_0 < a_1 < ... < a_n_out = n_in]`` of fractional max pooling, NumPy.

    Pseudo-random (Graham 2014, as in TensorFlow's ``fractional_pool_common.cc``):
    ``a_i = ceil(alpha * (i + u * u_max)) - 1`` with ``alpha = n_in / n_out`` and ``u_max`` the largest
    offset that keeps every increment in ``{k, k+1}``, ``k = n_in // n_out``, and ``u`` in (0, 1). Random: the increments
    are a permutation of ``n_out - r`` copies of ``k`` and ``r = n_in - k*n_out`` copies of ``k + 1``;
    ``increments`` gives that permutation (default: the ``k + 1`` ones last).
    """
    n_in, n_out = int(n_in), int(n_out)
    if not 0.0 < u < 1.0:
        raise UsageError(f"u must be in (0, 1), got {u}")
    k = n_in // n_out
    if pseudo_random:
        alpha = n_in / n_out
        u_max = min((k + 2) / alpha - 1, (n_in + 1 - k) / alpha - (n_out - 1))
        cum = [1] + [int(math.ceil(alpha * (i + u * u_max))) for i in range(1, n_out)] + [n_in + 1]
        return np.asarray(cum, dtype=np.int64) - 1
    if increments is None:
        r = n_in - k * n_out
        increments = [k] * (n_out - r) + [k + 1] * r
    return np.concatenate([[0], np.cumsum(increments)]).astype(np.int64)


@keras.saving.register_keras_serializable(package="archbench")
class FractionalMaxPooling2D(keras.layers.Layer):
    """Fractional max pooling (Graham, "Fractional Max-Pooling", arXiv 1412.6071, 2014).

    Reduces each spatial side by a non-integer ``pooling_ratio`` (e.g. sqrt(2)) to
    ``floor(n / ratio)``: rows and columns are cut at boundaries ``a_0 = 0 < ... < a_n_out = n`` whose
    increments are ``k`` or ``k + 1`` (``k = n // n_out``; 1 or 2 for ratios in (1, 2)), drawn at every
    training call either *pseudo-randomly* (``a_i = ceil(alpha (i + u))``, one uniform ``u``) or
    *randomly* (a random permutation of the increments), as TensorFlow's ``fractional_max_pool`` does.
    Regions are ``[a_{i-1}, a_i)`` (disjoint) or ``[a_{i-1}, a_i]`` (``overlapping=True``, clipped at the
    border) in each direction, and the output is the maximum of each region.

    Training draws come from a ``keras.random.SeedGenerator(seed)``: reproducible for a given seed, rows
    first, then columns. At inference (``training`` false) a fixed sequence is used for both modes: the
    pseudo-random one with ``u`` at the middle of its range, so predictions are deterministic. (Graham
    averages the outputs of several random draws at test time; call the layer with ``training=True``
    several times to do that.) The spatial input size must be known when the layer is built.
    """

    def __init__(self, pooling_ratio=SQRT2, pseudo_random=True, overlapping=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.pooling_ratio = float(pooling_ratio)
        if not self.pooling_ratio >= 1.0:
            raise UsageError(f"pooling_ratio must be >= 1, got {pooling_ratio}")
        self.pseudo_random = bool(pseudo_random)
        self.overlapping = bool(overlapping)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def output_length(self, n_in: int) -> int:
        return int(math.floor(n_in / self.pooling_ratio))

    def build(self, input_shape):
        for n in input_shape[1:3]:
            if n is None:
                raise UsageError("FractionalMaxPooling2D needs a known spatial input size")
            if self.output_length(n) < 1:
                raise UsageError(f"input side {n} is too small for pooling_ratio {self.pooling_ratio}")

    def sequence(self, n_in: int, training: bool = False):
        """Boundaries for an input side ``n_in`` (an int tensor of ``n_out + 1`` values)."""
        n_out = self.output_length(n_in)
        if not training:
            return ops.convert_to_tensor(fractional_sequence(n_in, n_out, True, 0.5), dtype="int32")
        k = n_in // n_out
        if self.pseudo_random:
            alpha = n_in / n_out
            u_max = min((k + 2) / alpha - 1, (n_in + 1 - k) / alpha - (n_out - 1))
            # u stays off the ends of (0, 1): at u = 0 an integer ratio would give an empty region
            u = keras.random.uniform((), 1e-3, 1 - 1e-3, dtype="float32", seed=self.seed_generator) * u_max
            steps = ops.arange(1, n_out, dtype="float32")
            inner = ops.cast(ops.ceil(alpha * (steps + u)), "int32") - 1
            return ops.concatenate([ops.zeros((1,), "int32"), inner, ops.full((1,), n_in, "int32")])
        r = n_in - k * n_out
        order = keras.random.shuffle(ops.arange(n_out, dtype="int32"), seed=self.seed_generator)
        increments = k + ops.cast(order < r, "int32")
        return ops.concatenate([ops.zeros((1,), "int32"), ops.cumsum(increments)])

    def _pool_axis(self, x, bounds, n_in: int, axis: int):
        """Max over the regions of one axis; ``bounds`` of length ``n_out + 1``."""
        k = n_in // self.output_length(n_in)
        start = bounds[:-1]
        end = ops.minimum(bounds[1:] + int(self.overlapping), n_in)
        out = None
        for t in range(k + 1 + int(self.overlapping)):
            index = ops.minimum(start + t, end - 1)
            part = ops.take(x, index, axis=axis)
            out = part if out is None else ops.maximum(out, part)
        return out

    def pool(self, inputs, rows, cols):
        """The output for given row and column boundaries."""
        h, w = inputs.shape[1], inputs.shape[2]
        return self._pool_axis(self._pool_axis(inputs, rows, h, 1), cols, w, 2)

    def call(self, inputs, training=None):
        h, w = inputs.shape[1], inputs.shape[2]
        rows = self.sequence(h, bool(training))
        cols = self.sequence(w, bool(training))
        return self.pool(inputs, rows, cols)

    def compute_output_shape(self, input_shape):
        h, w = input_shape[1], input_shape[2]
        return (
            input_shape[0],
            None if h is None else self.output_length(h),
            None if w is None else self.output_length(w),
            input_shape[3],
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            pooling_ratio=self.pooling_ratio,
            pseudo_random=self.pseudo_random,
            overlapping=self.overlapping,
            seed=self.seed,
        )
        return config


@register_rule(FractionalMaxPooling2D)
def _fractional_cost(layer, input_shapes, output_shapes) -> LayerCost:
    """Region size - 1 comparisons per output: ``(H W - Ho Wo) C`` when disjoint, ``((H + Ho - 1)(W + Wo - 1)
    - Ho Wo) C`` when overlapping.

    Exact for every draw, since the regions tile the input (overlapping: each inner boundary is read twice).
    """
    h, w, c = (int(d) for d in input_shapes[0])
    ho, wo = int(output_shapes[0][0]), int(output_shapes[0][1])
    if layer.overlapping:
        h, w = h + ho - 1, w + wo - 1
    return LayerCost(macs=0, other={"pooling": (h * w - ho * wo) * c})


def _pyramid_bins(n, bins: int):
    """Start and end of each of ``bins`` adaptive bins over ``n`` (ints or backend scalars)."""
    return [((i * n) // bins, -((-(i + 1) * n) // bins)) for i in range(bins)]


@keras.saving.register_keras_serializable(package="archbench")
class SpatialPyramidPooling2D(keras.layers.Layer):
    """Spatial pyramid pooling (He, Zhang, Ren & Sun, "Spatial Pyramid Pooling in Deep Convolutional
    Networks for Visual Recognition", ECCV 2014, arXiv 1406.4729).

    For each level ``n`` in ``levels`` the feature map is divided into ``n x n`` bins and each bin is
    max- (or average-) pooled; the ``C * sum(n^2)`` values are concatenated, so the output length does
    not depend on the input size (which may be ``None``). Bin ``i`` of ``n`` over a side of length ``L``
    covers ``[floor(i L / n), ceil((i + 1) L / n))``; the paper's window ``ceil(L/n)`` with stride
    ``floor(L/n)`` does not always give ``n`` bins (e.g. ``L = 7, n = 4``), this adaptive rule always
    does. The output is ordered level by level, each level ``(row, column, channel)``.
    """

    def __init__(self, levels=(1, 2, 4), mode="max", **kwargs):
        super().__init__(**kwargs)
        self.levels = tuple(_positive_int(n, "pyramid level") for n in levels)
        if not self.levels:
            raise UsageError("spatial pyramid pooling needs at least one level")
        if mode not in ("max", "avg"):
            raise UsageError(f"mode must be 'max' or 'avg', got {mode!r}")
        self.mode = mode

    def _reduce(self, x, axis):
        return ops.max(x, axis=axis) if self.mode == "max" else ops.mean(x, axis=axis)

    def call(self, inputs):
        shape = ops.shape(inputs)
        height, width, channels = shape[1], shape[2], inputs.shape[-1]
        outputs = []
        for n in self.levels:
            rows = ops.stack([self._reduce(inputs[:, a:b], 1) for a, b in _pyramid_bins(height, n)], axis=1)
            cells = ops.stack([self._reduce(rows[:, :, a:b], 2) for a, b in _pyramid_bins(width, n)], axis=2)
            outputs.append(ops.reshape(cells, (-1, n * n * channels)))
        return ops.concatenate(outputs, axis=-1) if len(outputs) > 1 else outputs[0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(input_shape[-1]) * sum(n * n for n in self.levels))

    def get_config(self):
        config = super().get_config()
        config.update(levels=list(self.levels), mode=self.mode)
        return config


@register_rule(SpatialPyramidPooling2D)
def _pyramid_cost(layer, input_shapes, output_shapes) -> LayerCost:
    """Per level, the bins' areas summed ((sum of row extents) x (sum of column extents)), minus one per bin
    for max (comparisons), times C."""
    h, w, c = (int(d) for d in input_shapes[0])
    ops_ = 0
    for n in layer.levels:
        rows = sum(b - a for a, b in _pyramid_bins(h, n))
        cols = sum(b - a for a, b in _pyramid_bins(w, n))
        ops_ += (rows * cols - (n * n if layer.mode == "max" else 0)) * c
    return LayerCost(macs=0, other={"pooling": ops_})


@keras.saving.register_keras_serializable(package="archbench")
class GeneralizedPooling2D(_WindowPooling):
    """Mixed max-average pooling (Lee, Gallagher & Tu, "Generalizing Pooling Functions in Convolutional
    Neural Networks: Mixed, Gated, and Tree", AISTATS 2016, arXiv 1509.08985).

        f(x) = alpha * max(x) + (1 - alpha) * avg(x)

    ``alpha`` is fixed (any value in [0, 1]) or, with ``trainable_alpha=True``, learned as
    ``sigmoid(w)`` of one trainable scalar per layer, or one per channel with ``per_channel=True``,
    initialised so that ``alpha`` starts at the given value (then strictly between 0 and 1). The paper's
    "mixed" pooling learns one alpha per layer (or per layer/region/channel); the sigmoid keeps it in
    [0, 1] without clipping. ``same`` padding: the average excludes padded positions (Keras' convention).
    """

    def __init__(
        self,
        pool_size=2,
        strides=None,
        padding="valid",
        alpha=0.5,
        trainable_alpha=False,
        per_channel=False,
        **kwargs,
    ):
        super().__init__(pool_size, strides, padding, **kwargs)
        self.alpha = float(alpha)
        self.trainable_alpha = bool(trainable_alpha)
        self.per_channel = bool(per_channel)
        low_ok = self.alpha > 0.0 if self.trainable_alpha else self.alpha >= 0.0
        high_ok = self.alpha < 1.0 if self.trainable_alpha else self.alpha <= 1.0
        if not (low_ok and high_ok):
            span = "(0, 1) for a learned alpha" if self.trainable_alpha else "[0, 1]"
            raise UsageError(f"alpha must be in {span}, got {alpha}")
        if self.per_channel and not self.trainable_alpha:
            raise UsageError("per_channel applies to a learned alpha (trainable_alpha=True)")

    def build(self, input_shape):
        if self.trainable_alpha:
            shape = (int(input_shape[-1]),) if self.per_channel else ()
            logit = math.log(self.alpha / (1.0 - self.alpha))
            self.alpha_logit = self.add_weight(
                name="alpha_logit", shape=shape, initializer=keras.initializers.Constant(logit)
            )

    def mixing_weight(self):
        """The current alpha (a tensor when learned)."""
        return ops.sigmoid(self.alpha_logit) if self.trainable_alpha else self.alpha

    def call(self, inputs):
        k, s, p = self.pool_size, self.strides, self.padding
        peak = ops.max_pool(inputs, k, s, p)
        mean = ops.average_pool(inputs, k, s, p)
        return mean + self.mixing_weight() * (peak - mean)

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha, trainable_alpha=self.trainable_alpha, per_channel=self.per_channel)
        return config


@register_rule(GeneralizedPooling2D)
def _generalized_cost(layer, input_shapes, output_shapes) -> LayerCost:
    """A max pool and an average pool over the same windows, then one subtract and one multiply-add per output."""
    n_out = _prod(output_shapes[0])
    return LayerCost(
        macs=0, other={"pooling": 2 * _window_ops(layer, output_shapes) + n_out, "elementwise": 2 * n_out}
    )
