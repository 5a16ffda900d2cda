"""Local response normalisation (Krizhevsky, Sutskever & Hinton, NIPS 2012, section 3.3).

    b[c] = a[c] / (k + alpha * sum_{j=max(0, c-n//2)}^{min(C-1, c+n//2)} a[j]^2) ** beta

AlexNet uses k=2, n=5, alpha=1e-4, beta=0.75 with ``alpha`` multiplying the plain sum (the paper's
and TensorFlow's ``tf.nn.lrn`` convention). Caffe divides ``alpha`` by ``n``; GoogLeNet's Caffe model
(k=1, n=5, alpha=1e-4, beta=0.75) used that one, so the layer takes ``alpha_over_size=True`` for it.
"""

from __future__ import annotations

import keras
from keras import ops

from ..counting import LayerCost, register_rule


@keras.saving.register_keras_serializable(package="archbench")
class LocalResponseNormalization(keras.layers.Layer):
    """Cross-channel LRN over ``size`` neighbouring channels (channels last)."""

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, alpha_over_size=False, **kwargs):
        super().__init__(**kwargs)
        if size < 1 or size % 2 == 0:
            raise ValueError(f"LRN size must be a positive odd integer, got {size}")
        self.size = int(size)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)
        self.alpha_over_size = bool(alpha_over_size)

    def call(self, inputs):
        half = self.size // 2
        sq = ops.square(inputs)
        pad = [[0, 0]] * (len(inputs.shape) - 1) + [[half, half]]
        padded = ops.pad(sq, pad)
        channels = inputs.shape[-1]
        total = padded[..., 0:channels]
        for i in range(1, self.size):
            total = total + padded[..., i : i + channels]
        alpha = self.alpha / self.size if self.alpha_over_size else self.alpha
        return inputs / ops.power(self.k + alpha * total, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            size=self.size, alpha=self.alpha, beta=self.beta, k=self.k, alpha_over_size=self.alpha_over_size
        )
        return config


@register_rule(LocalResponseNormalization)
def _lrn_cost(layer, input_shapes, output_shapes) -> LayerCost:
    """Per element: 1 square, size-1 adds over the window, 1 multiply-add (k + alpha*s), 1 power, 1 divide."""
    n = 1
    for d in output_shapes[0]:
        n *= int(d)
    return LayerCost(macs=0, other={"normalization": n * (layer.size + 3)})
