"""The lecture's layers (LRN, pooling and convolution variants), LeNet-5's and ShuffleNet's, each with a counting rule."""

from .conv import DeformableConv2D, SparseConv2D, SpatiallySeparableConv2D
from .lenet import ConnectionTableConv2D, EuclideanRBF, TrainableSubsampling2D, lecun_tanh
from .normalization import LocalResponseNormalization
from .pooling import (
    FractionalMaxPooling2D,
    GeneralizedPooling2D,
    LpPooling2D,
    SpatialPyramidPooling2D,
    StochasticPooling2D,
)
from .shuffle import ChannelShuffle, ChannelSplit

__all__ = [
    "ChannelShuffle",
    "ChannelSplit",
    "ConnectionTableConv2D",
    "DeformableConv2D",
    "EuclideanRBF",
    "FractionalMaxPooling2D",
    "GeneralizedPooling2D",
    "LocalResponseNormalization",
    "LpPooling2D",
    "SparseConv2D",
    "SpatialPyramidPooling2D",
    "SpatiallySeparableConv2D",
    "StochasticPooling2D",
    "TrainableSubsampling2D",
    "lecun_tanh",
]
