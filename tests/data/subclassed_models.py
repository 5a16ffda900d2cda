"""Models outside the functional graph, registered the way a user's --model-file does.

- ``subclassed_resnet``: a subclassed ``keras.Model`` (stem conv, a residual block written as a custom
  layer holding two 3x3 convolutions, global average pooling, a dense head), built by calling it once;
- ``ops_conv_net``: a functional model of custom layers that call ``keras.ops.conv`` (plain, then
  grouped and dilated), ``keras.ops.einsum`` and ``keras.ops.matmul`` in ``call``;
- ``sequential_net``: a ``keras.Sequential`` model.

:func:`conv_variants_model` (not registered) holds Keras' convolution variants for closed-form checks.
"""

import keras
import numpy as np
from keras import layers, ops

from archbench.registry import Paper, register_model

PAPER = Paper("test models", "archbench tests", "none", 2026, "https://example.invalid")
FIELDS = dict(family="test", year=2026, paper=PAPER, min_input_size=8, num_classes=10)
NAMES = ("subclassed_resnet", "ops_conv_net", "sequential_net")


class ResidualBlock(keras.layers.Layer):
    """``relu(x + conv(relu(conv(x))))`` with two 3x3 "same" convolutions of ``filters`` channels."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv1 = layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv1")
        self.conv2 = layers.Conv2D(filters, 3, padding="same", name="conv2")

    def call(self, x):
        return ops.relu(x + self.conv2(self.conv1(x)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


class ResNetLike(keras.Model):
    def __init__(self, filters=16, classes=10, **kwargs):
        super().__init__(**kwargs)
        self.stem = layers.Conv2D(filters, 3, padding="same", activation="relu", name="stem")
        self.block = ResidualBlock(filters, name="block")
        self.pool = layers.GlobalAveragePooling2D(name="pool")
        self.head = layers.Dense(classes, name="head")

    def call(self, x):
        return self.head(self.pool(self.block(self.stem(x))))


class OpsConv(keras.layers.Layer):
    """A convolution written with ``keras.ops.conv``; ``groups`` shrinks the kernel's input channels."""

    def __init__(self, filters, kernel_size, strides=1, dilation_rate=1, groups=1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.groups = filters, kernel_size, groups
        self.strides, self.dilation_rate = strides, dilation_rate

    def build(self, input_shape):
        k = self.kernel_size
        shape = (k, k, input_shape[-1] // self.groups, self.filters)
        self.kernel = self.add_weight(shape=shape, name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, x):
        y = ops.conv(x, self.kernel, self.strides, padding="same", dilation_rate=self.dilation_rate)
        return ops.relu(y + self.bias)


class OpsDense(keras.layers.Layer):
    """A per-position dense layer written with ``keras.ops.einsum`` or ``keras.ops.matmul``."""

    def __init__(self, units, einsum=False, **kwargs):
        super().__init__(**kwargs)
        self.units, self.einsum = units, einsum

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, x):
        if self.einsum:
            return ops.einsum("bhwc,cd->bhwd", x, self.kernel)
        return ops.matmul(x, self.kernel)


def _input(input_shape, default):
    return tuple(input_shape or default)


@register_model(
    name="subclassed_resnet", display_name="Subclassed ResNet-like", input_shape=(32, 32, 3), **FIELDS
)
def subclassed_resnet(input_shape=None, classes=10, **unused):
    """A subclassed model with a custom residual block, built by calling it on one batch."""
    model = ResNetLike(16, classes, name="subclassed_resnet")
    model(np.zeros((1, *_input(input_shape, (32, 32, 3))), dtype="float32"))
    return model


@register_model(name="ops_conv_net", display_name="keras.ops convolutions", input_shape=(32, 32, 3), **FIELDS)
def ops_conv_net(input_shape=None, classes=10, **unused):
    """Custom layers that call keras.ops.conv (plain, grouped and dilated), einsum and matmul."""
    x = inputs = keras.Input(_input(input_shape, (32, 32, 3)))
    x = OpsConv(12, 3, strides=2, name="conv_s2")(x)
    x = OpsConv(12, 3, dilation_rate=2, groups=4, name="conv_g4_d2")(x)
    x = OpsDense(8, einsum=True, name="pointwise")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = OpsDense(classes, name="head")(x)
    return keras.Model(inputs, x, name="ops_conv_net")


@register_model(name="sequential_net", display_name="Sequential", input_shape=(28, 28, 1), **FIELDS)
def sequential_net(input_shape=None, classes=10, **unused):
    """Conv 5x5, max pool, depthwise 3x3 (multiplier 2), dense head."""
    return keras.Sequential(
        [
            keras.Input(_input(input_shape, (28, 28, 1))),
            layers.Conv2D(8, 5, activation="relu", name="conv"),
            layers.MaxPooling2D(2, name="pool"),
            layers.DepthwiseConv2D(3, depth_multiplier=2, name="depthwise"),
            layers.Flatten(name="flatten"),
            layers.Dense(classes, name="head"),
        ],
        name="sequential_net",
    )


def conv_variants_model():
    """Keras' convolution variants on a 16 x 16 x 8 input, in this order (for closed-form checks)."""
    x = inputs = keras.Input((16, 16, 8))
    x = layers.Conv2D(8, 3, groups=4, dilation_rate=2, padding="same", name="grouped_dilated")(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, dilation_rate=2, padding="same", name="depthwise")(x)
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="strided")(x)
    x = layers.Conv2DTranspose(6, 3, strides=2, padding="same", name="transposed_s2")(x)
    x = layers.Conv2DTranspose(4, 3, padding="valid", name="transposed_s1")(x)
    x = layers.SeparableConv2D(8, 3, depth_multiplier=2, name="separable")(x)
    y = layers.Reshape((16 * 16, 8))(x)
    y = layers.Conv1D(4, 5, dilation_rate=3, padding="causal", name="causal")(y)
    y = layers.GlobalAveragePooling1D()(y)
    y = layers.Dense(10, name="dense")(y)
    return keras.Model(inputs, y, name="conv_variants")


class RepeatedConv(keras.layers.Layer):
    """One 3x3 convolution applied three times by ``keras.ops.fori_loop``."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(filters, 3, padding="same", name="shared")

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, x):
        return ops.fori_loop(0, 3, lambda i, y: self.conv(y), x)


class BranchingConv(keras.layers.Layer):
    """A 3x3 or a 1x1 convolution, chosen at run time by ``keras.ops.cond``."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.wide = layers.Conv2D(filters, 3, padding="same", name="wide")
        self.narrow = layers.Conv2D(filters, 1, name="narrow")

    def build(self, input_shape):
        self.wide.build(input_shape)
        self.narrow.build(input_shape)

    def call(self, x):
        return ops.cond(ops.mean(x) > 0, lambda: self.wide(x), lambda: self.narrow(x))


def control_flow_models():
    """``(loop, branch)``: the layers above on an 8 x 8 x 4 input."""
    x = keras.Input((8, 8, 4))
    loop = keras.Model(x, RepeatedConv(4, name="loop")(x), name="loop")
    y = keras.Input((8, 8, 4))
    branch = keras.Model(y, BranchingConv(4, name="branch")(y), name="branch")
    return loop, branch
