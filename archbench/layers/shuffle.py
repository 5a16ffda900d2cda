"""Channel shuffle and channel split (Zhang et al. 2017, arXiv 1707.01083; Ma et al. 2018, arXiv 1807.11164).

ShuffleNet's channel shuffle lets the groups of one grouped convolution feed every group of the
next: the ``C = g * n`` channels are read as a ``(g, n)`` matrix, transposed and flattened back, so
channel ``i * n + j`` moves to ``j * g + i`` (the paper's "reshape, transpose, flatten"). ShuffleNet
v2's channel split hands the first half of the channels to the shortcut and the second to the branch.

Both only move data: no multiply-adds and no other operations (their counting rule is zero, like
Keras' ``Reshape`` and ``Permute``). Each is one named layer rather than loose ``keras.ops`` calls so
that the layer walker keeps the receptive field through them (the height and width are unchanged)
and the per-layer tables name them. Channels last; the spatial size may be unknown.
"""

from __future__ import annotations

import keras
from keras import ops

from ..counting import LayerCost, register_rule
from ..errors import UsageError

__all__ = ["ChannelShuffle", "ChannelSplit"]


def _channels(input_shape, groups: int, layer: str) -> int:
    channels = input_shape[-1]
    if channels is None or channels % groups:
        raise UsageError(f"{layer}: {channels} channels cannot be split into {groups} equal groups")
    return int(channels)


@keras.saving.register_keras_serializable(package="archbench")
class ChannelShuffle(keras.layers.Layer):
    """Interleave ``groups`` groups of channels: ``(..., g * n) -> (..., n * g)`` by reshape and transpose."""

    def __init__(self, groups: int = 2, **kwargs):
        super().__init__(**kwargs)
        if int(groups) < 1:
            raise UsageError(f"groups must be a positive integer, got {groups!r}")
        self.groups = int(groups)

    def build(self, input_shape):
        _channels(input_shape, self.groups, self.name)

    def call(self, inputs):
        shape = ops.shape(inputs)
        g = self.groups
        n = inputs.shape[-1] // g
        x = ops.reshape(inputs, (*shape[:-1], g, n))
        x = ops.swapaxes(x, -1, -2)
        return ops.reshape(x, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="archbench")
class ChannelSplit(keras.layers.Layer):
    """Split the channels into two halves: returns ``[first half, second half]``."""

    def build(self, input_shape):
        _channels(input_shape, 2, self.name)

    def call(self, inputs):
        half = inputs.shape[-1] // 2
        return [inputs[..., :half], inputs[..., half:]]

    def compute_output_shape(self, input_shape):
        half = (*input_shape[:-1], input_shape[-1] // 2)
        return [half, half]


@register_rule(ChannelShuffle, ChannelSplit)
def _data_movement(layer, input_shapes, output_shapes) -> LayerCost:
    """Moving channels costs nothing (the convention of reshapes and concatenations)."""
    return LayerCost()
