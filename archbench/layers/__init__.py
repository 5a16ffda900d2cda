"""The lecture's layers (normalisation, pooling and convolution variants), each with a counting rule."""

from .normalization import LocalResponseNormalization

__all__ = ["LocalResponseNormalization"]
