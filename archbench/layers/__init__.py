"""The lecture's layers (normalisation, pooling and convolution variants), each with a counting rule."""

from .conv import DeformableConv2D, SparseConv2D, SpatiallySeparableConv2D
from .normalization import LocalResponseNormalization
from .pooling import (
    FractionalMaxPooling2D,
    GeneralizedPooling2D,
    LpPooling2D,
    SpatialPyramidPooling2D,
    StochasticPooling2D,
)

__all__ = [
    "DeformableConv2D",
    "FractionalMaxPooling2D",
    "GeneralizedPooling2D",
    "LocalResponseNormalization",
    "LpPooling2D",
    "SparseConv2D",
    "SpatialPyramidPooling2D",
    "SpatiallySeparableConv2D",
    "StochasticPooling2D",
]
