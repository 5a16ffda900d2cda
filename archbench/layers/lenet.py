"""LeNet-5's own layers (LeCun, Bottou, Bengio & Haffner, Proceedings of the IEEE 86(11), 1998).

https://doi.org/10.1109/5.726791, section II.B and appendix A. :func:`lecun_tanh` is the paper's
squashing function; :class:`TrainableSubsampling2D` its S2/S4 layers; :class:`ConnectionTableConv2D`
a convolution whose output maps see only the input maps of a table (C3, table I); :class:`EuclideanRBF`
its output layer. Each counts as a weight layer of the paper's depth and has its counting rule here.
The network itself is :mod:`archbench.models.lenet`.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ..counting import LayerCost, register_rule
from ..errors import UsageError
from .conv import _prod

__all__ = ["ConnectionTableConv2D", "EuclideanRBF", "TrainableSubsampling2D", "lecun_tanh"]


@keras.saving.register_keras_serializable(package="archbench")
def lecun_tanh(x):
    """LeCun's squashing function ``1.7159 tanh(2x/3)`` (section II.B, appendix A): f(1) = 1, f(-1) = -1."""
    return 1.7159 * ops.tanh(x * (2.0 / 3.0))


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
    archbench_fixed_weights = ("centers",)

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
    n = _prod(output_shapes[0])
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
