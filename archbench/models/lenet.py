"""LeNet-5: LeCun, Bottou, Bengio & Haffner, "Gradient-Based Learning Applied to Document Recognition".

Proceedings of the IEEE 86(11), 1998, https://doi.org/10.1109/5.726791, section II.B and appendix A.
Seven layers on a 32x32 grey image, each unit computing a weighted sum ``a`` and then the scaled
hyperbolic tangent ``f(a) = 1.7159 tanh(2a/3)`` (:func:`lecun_tanh`):

    C1  6 maps 5x5 conv       28 x 28     156 parameters
    S2  subsampling 2x2       14 x 14      12   each unit: (sum of its 4 inputs) * coefficient + bias
    C3  16 maps 5x5 conv      10 x 10   1,516   only the S2 maps of table I (:data:`C3_CONNECTIONS`)
    S4  subsampling 2x2        5 x  5      32
    C5  120 maps 5x5 conv      1 x  1  48,120
    F6  84 units                       10,164
    output: 10 Euclidean RBF units with fixed +-1 parameter vectors (84 x 10, not trained)

Exactly 60,000 trainable parameters; the 840 RBF components are non-trainable weights. The paper's
layers are :class:`TrainableSubsampling2D`, :class:`ConnectionTableConv2D` and :class:`EuclideanRBF`.
The RBF layer outputs the *negative* squared distance ``-||x - w_i||^2`` (the paper's output is the
distance itself, a penalty): the largest output is the closest class, so argmax and a softmax on top
behave as with a dense classifier. ``classifier_activation`` (default softmax) is applied to these
scores; ``None`` returns them raw, which is what the paper's loss functions take.

``lenet5_modern`` is LeNet-5 as it is usually taught, and as the lecture slides list it (tanh, average
pooling, an MLP classifier): plain ``tanh``, fixed 2x2 average pooling without parameters, a full C3
(every S2 map feeds every C3 map: 2,416 parameters) and a dense softmax output (850): 61,706 parameters.

Both take ``classes`` (default 10). ``include_top=False`` returns C5's maps (the convolutional part, the
paper's C5 being a convolution over the whole 5x5 map); F6 and the output are the classifier.

Deliberate deviations (also in each spec's ``deviations``):

- The RBF output returns ``-distance`` rather than the distance (above).
- The RBF parameter vectors are a fixed pseudo-random +-1 code (``seed``), not the paper's stylised 7x12
  bitmaps of the characters: those are drawn in the paper, not given as numbers, and the paper notes
  that random +-1 codes would do.
- Keras' default initialisers (Glorot-uniform) instead of the paper's uniform(+-2.4 / fan-in), and the
  subsampling coefficients start at 1/4 (a plain average), bias 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from ..counting import LayerCost, register_rule
from ..errors import UsageError
from ..registry import AccuracyRef, Deviation, Paper, Preprocessing, Ref, register_model
from ._blocks import keras_builder
from ._common import check_head_args, classifier, finish, model_input

__all__ = [
    "C3_CONNECTIONS",
    "ConnectionTableConv2D",
    "EuclideanRBF",
    "LeNetConfig",
    "TrainableSubsampling2D",
    "lecun_tanh",
]

PAPER = Paper(
    title="Gradient-Based Learning Applied to Document Recognition",
    authors="Yann LeCun, Léon Bottou, Yoshua Bengio, Patrick Haffner",
    venue="Proceedings of the IEEE 86(11)",
    year=1998,
    url="https://doi.org/10.1109/5.726791",
)

#: Table I of the paper, by C3 map: the S2 maps each one combines. Maps 0-5 take three contiguous S2
#: maps, 6-11 four contiguous ones, 12-14 four non-contiguous ones, 15 all six.
C3_CONNECTIONS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip


@keras.saving.register_keras_serializable(package="archbench")
def lecun_tanh(x):
    """LeCun's squashing function ``1.7159 tanh(2x/3)`` (section II.B, appendix A): f(1) = 1, f(-1) = -1."""
    return 1.7159 * ops.tanh(x * (2.0 / 3.0))


def _n_elements(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


@keras.saving.register_keras_serializable(package="archbench")
class TrainableSubsampling2D(keras.layers.Layer):
    """LeNet's S2/S4: per map, (sum of a ``pool_size`` x ``pool_size`` window) * coefficient + bias.

    Non-overlapping windows (stride = ``pool_size``), one trainable coefficient and one bias per map
    (2 parameters per map). The squashing function is a separate layer. A weight layer of the paper's
    depth, which counts S2 and S4 among LeNet-5's seven layers.
    """

    archbench_weight_layer = True

    def __init__(self, pool_size=2, coefficient_initializer=None, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if int(pool_size) != pool_size or pool_size < 1:
            raise UsageError(f"pool_size must be a positive integer, got {pool_size!r}")
        self.pool_size = int(pool_size)
        if coefficient_initializer is None:
            coefficient_initializer = keras.initializers.Constant(1.0 / self.pool_size**2)
        self.coefficient_initializer = keras.initializers.get(coefficient_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.coefficient = self.add_weight(
            shape=(channels,), initializer=self.coefficient_initializer, name="coefficient"
        )
        self.bias = self.add_weight(shape=(channels,), initializer=self.bias_initializer, name="bias")

    def call(self, inputs):
        p = self.pool_size
        window_sum = ops.average_pool(inputs, p, strides=p, padding="valid") * float(p * p)
        return window_sum * self.coefficient + self.bias

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        p = self.pool_size
        return (b, None if h is None else h // p, None if w is None else w // p, c)

    def get_config(self):
        config = super().get_config()
        config.update(
            pool_size=self.pool_size,
            coefficient_initializer=keras.initializers.serialize(self.coefficient_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config


@keras.saving.register_keras_serializable(package="archbench")
class ConnectionTableConv2D(keras.layers.Layer):
    """A stride-1 valid convolution in which output map ``j`` sees only input maps ``connections[j]``.

    Only the connected kernels exist as weights: ``kernel`` has shape ``(k, k, total connections)``
    (output maps in order, each one's inputs in table order), so ``count_params`` counts exactly
    ``k*k*connections + filters``. The dense ``(k, k, in, out)`` kernel, zero where not connected, is
    assembled in each call by a fixed gather (:meth:`dense_kernel`), and the gradient reaches only the
    connected weights.
    """

    archbench_weight_layer = True

    def __init__(
        self,
        connections,
        kernel_size,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.connections = tuple(tuple(int(i) for i in maps) for maps in connections)
        if not self.connections or any(len(m) == 0 or len(set(m)) != len(m) for m in self.connections):
            raise UsageError("connections must list, for every output map, distinct input maps")
        if int(kernel_size) != kernel_size or kernel_size < 1:
            raise UsageError(f"kernel_size must be a positive integer, got {kernel_size!r}")
        self.kernel_size = int(kernel_size)
        self.filters = len(self.connections)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    @property
    def n_connections(self) -> int:
        return sum(len(m) for m in self.connections)

    def _gather_index(self, in_channels: int) -> np.ndarray:
        """For each (input, output) pair of the dense kernel, its place in ``kernel`` (or the zero slot)."""
        index = np.full((in_channels, self.filters), self.n_connections, dtype="int32")
        position = 0
        for out, maps in enumerate(self.connections):
            for i in maps:
                index[i, out] = position
                position += 1
        return index.reshape(-1)

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        highest = max(max(m) for m in self.connections)
        if highest >= in_channels:
            raise UsageError(
                f"{self.name}: connections name input map {highest}, but the input has {in_channels}"
            )
        self._index = self._gather_index(in_channels)
        k = self.kernel_size
        packed = np.argsort(self._index, kind="stable")[: self.n_connections]

        def init_connected(shape, dtype=None):
            dense = self.kernel_initializer((k, k, in_channels, self.filters), dtype=dtype)
            return ops.take(ops.reshape(dense, (k, k, -1)), packed, axis=-1)

        self.kernel = self.add_weight(
            shape=(k, k, self.n_connections), initializer=init_connected, name="kernel"
        )
        self.bias = self.add_weight(shape=(self.filters,), initializer=self.bias_initializer, name="bias")

    def dense_kernel(self):
        """The ``(k, k, in, out)`` kernel with zeros where the table has no connection."""
        k = self.kernel_size
        zero = ops.zeros((k, k, 1), dtype=self.kernel.dtype)
        flat = ops.take(ops.concatenate([self.kernel, zero], axis=-1), self._index, axis=-1)
        return ops.reshape(flat, (k, k, -1, self.filters))

    def call(self, inputs):
        return ops.conv(inputs, self.dense_kernel(), strides=1, padding="valid") + self.bias

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        k = self.kernel_size
        return (b, None if h is None else h - k + 1, None if w is None else w - k + 1, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            connections=[list(m) for m in self.connections],
            kernel_size=self.kernel_size,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config


@keras.saving.register_keras_serializable(package="archbench")
class EuclideanRBF(keras.layers.Layer):
    """LeNet-5's output: ``units`` Euclidean RBF units with fixed +-1 parameter vectors.

    Returns ``activation(-sum_j (x_j - w_ji)^2)``: the *negative* squared distance of the input to each
    unit's vector, so that the best class has the largest score (the paper's RBF output is the distance
    itself, a penalty). The vectors ``centers`` (``(input_dim, units)``) are a non-trainable weight,
    drawn once as a pseudo-random +-1 code from ``seed``.
    """

    archbench_weight_layer = True

    def __init__(self, units, activation=None, seed=1998, **kwargs):
        super().__init__(**kwargs)
        if int(units) != units or units < 1:
            raise UsageError(f"units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.seed = int(seed)

    def build(self, input_shape):
        def sign_code(shape, dtype=None):
            code = np.random.default_rng(self.seed).choice(np.array([-1.0, 1.0]), size=shape)
            return ops.convert_to_tensor(code, dtype=dtype)

        self.centers = self.add_weight(
            shape=(int(input_shape[-1]), self.units), initializer=sign_code, trainable=False, name="centers"
        )

    def call(self, inputs):
        diff = ops.expand_dims(inputs, -1) - self.centers
        return self.activation(-ops.sum(ops.square(diff), axis=-2))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units, activation=keras.activations.serialize(self.activation), seed=self.seed
        )
        return config


@register_rule(TrainableSubsampling2D)
def _subsampling_cost(layer, input_shapes, output_shapes) -> LayerCost:
    """Per output, like an average pool: ``pool_size**2 - 1`` adds and a multiply; then the bias add."""
    n = _n_elements(output_shapes[0])
    return LayerCost(macs=0, other={"pooling": n * layer.pool_size**2, "bias": n})


@register_rule(ConnectionTableConv2D)
def _connection_table_cost(layer, input_shapes, output_shapes) -> LayerCost:
    """Multiply-adds of the connected kernels only (the paper's "connections" less the biases)."""
    h, w, c = (int(d) for d in output_shapes[0])
    return LayerCost(macs=h * w * layer.kernel_size**2 * layer.n_connections, other={"bias": h * w * c})


@register_rule(EuclideanRBF)
def _rbf_cost(layer, input_shapes, output_shapes) -> LayerCost:
    """One multiply-add per (input, unit) pair for the squared difference, plus the subtraction."""
    n = int(input_shapes[0][-1]) * layer.units
    other = {"elementwise": n}
    if layer.activation is not keras.activations.linear:
        other["activation"] = layer.units
    return LayerCost(macs=n, other=other)


@dataclass(frozen=True)
class LeNetConfig:
    """LeNet-5 as data: the squashing function, S2/S4 kind, C3's table (``None`` = full) and output kind."""

    activation: Any
    trainable_subsampling: bool
    c3_connections: tuple[tuple[int, ...], ...] | None
    rbf_output: bool
    input_shape: tuple[int, int, int] = (32, 32, 1)
    min_input_size: int = 32

    @property
    def weight_layers(self) -> int:
        """Layers with parameters: C1, C3, C5, F6, output, and S2, S4 when they are trainable."""
        return 5 + 2 * self.trainable_subsampling


LENET5 = LeNetConfig(
    activation=lecun_tanh, trainable_subsampling=True, c3_connections=C3_CONNECTIONS, rbf_output=True
)
LENET5_MODERN = LeNetConfig(
    activation="tanh", trainable_subsampling=False, c3_connections=None, rbf_output=False
)


def _build(
    config: LeNetConfig,
    *,
    name: str,
    include_top: bool,
    weights: str | None,
    input_tensor: Any,
    input_shape: tuple[int, int, int] | None,
    pooling: str | None,
    classes: int,
    classifier_activation: str | None,
) -> keras.Model:
    check_head_args(include_top, pooling, classes, weights)
    inputs, x = model_input(
        input_tensor,
        input_shape,
        default_shape=config.input_shape,
        min_size=config.min_input_size,
        model_name=name,
        fixed_size=include_top,
    )
    act = config.activation

    def squash(y: Any, layer_name: str) -> Any:
        return layers.Activation(act, name=f"{layer_name}_act")(y)

    def subsample(y: Any, layer_name: str) -> Any:
        if config.trainable_subsampling:
            return squash(TrainableSubsampling2D(2, name=layer_name)(y), layer_name)
        return layers.AveragePooling2D(2, name=layer_name)(y)

    x = squash(layers.Conv2D(6, 5, name="c1")(x), "c1")  # 28 x 28 x 6
    x = subsample(x, "s2")  # 14 x 14 x 6
    if config.c3_connections is None:
        x = layers.Conv2D(16, 5, name="c3")(x)
    else:
        x = ConnectionTableConv2D(config.c3_connections, 5, name="c3")(x)
    x = squash(x, "c3")  # 10 x 10 x 16
    x = subsample(x, "s4")  # 5 x 5 x 16
    x = squash(layers.Conv2D(120, 5, name="c5")(x), "c5")  # 1 x 1 x 120

    def top(features: Any) -> Any:
        y = layers.Flatten(name="flatten")(features)
        y = squash(layers.Dense(84, name="f6")(y), "f6")
        if config.rbf_output:
            return EuclideanRBF(classes, activation=classifier_activation, name="predictions")(y)
        return classifier(y, classes, classifier_activation)

    return finish(inputs, x, name=name, include_top=include_top, pooling=pooling, weights=weights, top=top)


_INIT = Deviation(
    "Keras' default initialisers instead of uniform(+-2.4 / fan-in)",
    "initialisation is training procedure; the architecture and its parameters are unchanged",
)
# Section II.A: pixel values scaled so that the white background is -0.1 and the black ink 1.175
# (mean about 0, variance about 1): x' = 1.275 * x - 0.1 for x in [0, 1] with ink = 1.
_PAPER_PIXELS = Preprocessing(resize=None, crop=None, mean=(0.1 / 1.275,), std=(1 / 1.275,), channels="L")

lenet5 = register_model(
    display_name="LeNet-5",
    family="LeNet",
    year=1998,
    paper=PAPER,
    input_shape=LENET5.input_shape,
    min_input_size=LENET5.min_input_size,
    num_classes=10,
    deviations=(
        Deviation(
            "the RBF output returns minus the squared distance; classifier_activation applies to it",
            "the largest score is then the nearest class, so argmax, softmax and cross-entropy work as with "
            "a dense classifier; classifier_activation=None gives the paper's penalties, negated",
        ),
        Deviation(
            "RBF parameter vectors: a fixed pseudo-random +-1 code, not stylised 7x12 character bitmaps",
            "the bitmaps are drawn, not listed, in the paper, which notes random +-1 codes could be used",
        ),
        Deviation(
            "S2/S4 coefficients start at 1/4 (a plain average), biases at 0",
            "the paper does not single them out; any start is trained",
        ),
        _INIT,
    ),
    params_refs=(
        Ref(
            60_000,
            "LeCun et al. 1998, section II.B (C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164)",
            "trainable parameters, 10 classes",
            rtol=0.015,
            note="our paper count adds the 840 fixed RBF components (84 x 10): weights, but not trained",
        ),
    ),
    accuracy_refs=(
        AccuracyRef(
            99.05,
            None,
            "LeCun et al. 1998, section III (0.95 % test error without distortions)",
            scope="MNIST test set, 28x28 digits padded to 32x32",
        ),
    ),
    depth_paper=LENET5.weight_layers,
    preprocessing=_PAPER_PIXELS,
    tags=("mnist",),
)(
    keras_builder(
        _build,
        LENET5,
        name="lenet5",
        doc="LeNet-5 as in the paper: scaled tanh, trainable subsampling, C3 connection table, RBF output.",
        classes=10,
    )
)

lenet5_modern = register_model(
    display_name="LeNet-5 (modern)",
    family="LeNet",
    year=1998,
    paper=PAPER,
    input_shape=LENET5_MODERN.input_shape,
    min_input_size=LENET5_MODERN.min_input_size,
    num_classes=10,
    deviations=(
        Deviation(
            "plain tanh, parameter-free 2x2 average pooling, full C3, dense softmax output",
            "LeNet-5 as usually taught (and in the lecture slides): the simplifications of the paper's "
            "scaled tanh, trainable subsampling, connection table and RBF output",
        ),
        _INIT,
    ),
    depth_paper=LENET5_MODERN.weight_layers,
    preprocessing=_PAPER_PIXELS,
    tags=("mnist",),
)(
    keras_builder(
        _build,
        LENET5_MODERN,
        name="lenet5_modern",
        doc="LeNet-5 as usually taught: tanh, average pooling, full C3, dense softmax classifier.",
        classes=10,
    )
)
