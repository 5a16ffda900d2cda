"""MnasNet: Tan, Chen, Pang, Vasudevan, Sandler, Howard & Le, "MnasNet: Platform-Aware Neural Architecture
Search for Mobile".

CVPR 2019, arXiv 1807.11626 (https://arxiv.org/abs/1807.11626). The network built here is the one of
the paper's first version (July 2018, figure 7(a); "74.0 % top-1 accuracy with 76 ms latency on a Pixel
phone"), which torchvision ships as ``mnasnet1_0`` and calls the B1 variant; the final version's
MnasNet-A1 adds squeeze-and-excitation and changes kernels (75.2 % in that version's abstract).

The network is one table, :data:`STACKS`: after a 3x3/2 stem convolution (32 filters) and a 3x3
depthwise-separable convolution to 16 channels, six stacks of inverted residual blocks (MBConv: 1x1
expansion by ``expansion``, ``kernel`` x ``kernel`` depthwise convolution, linear 1x1 projection; the
shortcut is added where the shape allows), then a 1x1 convolution to 1280 channels, global average
pooling, dropout 0.2 and the classifier. Every convolution is followed by batch norm and, except the
projections, ReLU; none has a bias. Layer names are torchvision's module paths with ``_`` for ``.``
(``layers_8_0_layers_3`` is the depthwise convolution of the first block of the first stack;
``predictions`` is ``classifier.1``), so that its weights map one to one.

Choices where the paper is silent, as torchvision: batch-norm momentum 0.9997 in Keras' convention
(the paper's TensorFlow value) and epsilon 1e-5; He-normal initialisation with fan-out scaling.

Deliberate deviations (also in the spec's ``deviations``):

- Strided convolutions pad symmetrically (explicit ``*_pad`` layers), as PyTorch does, where the
  authors' TensorFlow code pads ``same`` (one more row and column at the bottom and right), so that
  torchvision's weights give identical outputs; the cost is the same.
- Batch-norm epsilon 1e-5 (torchvision's) instead of the TensorFlow reference's 1e-3.
- Inputs normalised with the ImageNet mean and standard deviation (torchvision's preprocessing).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from ..errors import UsageError
from ..registry import AccuracyRef, Deviation, Paper, Ref, register_model, single_crop
from ._common import BuildArgs, variant

__all__ = ["STACKS", "mnasnet1_0"]

PAPER = Paper(
    title="MnasNet: Platform-Aware Neural Architecture Search for Mobile",
    authors="Mingxing Tan, Bo Chen, Ruoming Pang, Vijay Vasudevan, Mark Sandler, Andrew Howard, Quoc V. Le",
    venue="CVPR 2019",
    year=2019,
    url="https://arxiv.org/abs/1807.11626",
)

#: Figure 7(a) of the paper's first version: (expansion, kernel, stride of the first block, blocks, channels).
STACKS: tuple[tuple[int, int, int, int, int], ...] = (
    (3, 3, 2, 3, 24),
    (3, 5, 2, 3, 40),
    (6, 5, 2, 3, 80),
    (6, 3, 1, 2, 96),
    (6, 5, 2, 4, 192),
    (6, 3, 1, 1, 320),
)
STEM, SEPARABLE, HEAD = 32, 16, 1280
INPUT_SIZE = 224
MIN_INPUT_SIZE = 32  # total stride 32
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9997
DROPOUT = 0.2
_INIT = keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


def conv_bn(
    x: Any, filters: int | None, kernel: int, index: int, *, stride: int = 1, relu: bool = True, prefix: str
) -> Any:
    """Convolution ``{prefix}_{index}`` (depthwise when ``filters`` is None), batch norm ``{prefix}_{index + 1}``
    and ReLU ``{prefix}_{index + 2}`` (torchvision's ``Sequential`` indices); strided windows padded explicitly."""
    name = f"{prefix}_{index}"
    if kernel > 1 and stride > 1:
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    options = dict(strides=stride, padding="same" if stride == 1 else "valid", use_bias=False, name=name)
    if filters is None:
        x = layers.DepthwiseConv2D(kernel, depthwise_initializer=_INIT, **options)(x)
    else:
        x = layers.Conv2D(filters, kernel, kernel_initializer=_INIT, **options)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{prefix}_{index + 1}")(x)
    return layers.Activation("relu", name=f"{prefix}_{index + 2}")(x) if relu else x


def mbconv(x: Any, channels: int, kernel: int, stride: int, expansion: int, prefix: str) -> Any:
    """torchvision's ``_InvertedResidual``: 1x1 expansion, depthwise, linear 1x1 projection, shortcut."""
    cin = int(x.shape[-1])
    y = conv_bn(x, cin * expansion, 1, 0, prefix=f"{prefix}_layers")
    y = conv_bn(y, None, kernel, 3, stride=stride, prefix=f"{prefix}_layers")
    y = conv_bn(y, channels, 1, 6, relu=False, prefix=f"{prefix}_layers")
    return layers.Add(name=f"{prefix}_add")([x, y]) if stride == 1 and cin == channels else y


def _mnasnet(
    alpha: str, args: BuildArgs, *, dropout: float = DROPOUT, name: str | None = None
) -> keras.Model:
    """Build MnasNet at width ``alpha`` ("1_0"). Any input from 32x32 works; ``dropout`` before the classifier."""
    if alpha != "1_0":
        raise UsageError(f"MnasNet is built at width 1.0 only, got {alpha!r}")
    if not 0.0 <= dropout < 1.0:
        raise UsageError(f"dropout must be in [0, 1), got {dropout!r}")
    inputs, x = args.input((INPUT_SIZE, INPUT_SIZE, 3), MIN_INPUT_SIZE)
    x = conv_bn(x, STEM, 3, 0, stride=2, prefix="layers")  # 112 x 112 x 32
    x = conv_bn(x, None, 3, 3, prefix="layers")
    x = conv_bn(x, SEPARABLE, 1, 6, relu=False, prefix="layers")  # 112 x 112 x 16
    for stack, (expansion, kernel, stride, blocks, channels) in enumerate(STACKS, start=8):
        for block in range(blocks):
            x = mbconv(x, channels, kernel, stride if block == 0 else 1, expansion, f"layers_{stack}_{block}")
    x = conv_bn(x, HEAD, 1, 14, prefix="layers")  # 7 x 7 x 1280 at 224 x 224

    def top(features: Any) -> Any:
        y = layers.GlobalAveragePooling2D(name="avg_pool")(features)
        return args.classifier(layers.Dropout(dropout, name="classifier_0")(y))

    return args.finish(inputs, x, top, name=name)


_TV_SOURCE = (
    "torchvision MNASNet1_0_Weights.IMAGENET1K_V1 meta (pytorch/vision torchvision/models/mnasnet.py)"
)
_TV_DOCS = "torchvision docs, Classification table (docs.pytorch.org/vision/stable/models.html)"
_SCOPE_PARAMS = "paper convention (BN moving statistics excluded), with classifier, 1000 classes"
_SCOPE_MACS = "multiply-adds of convolutions and dense layers, 224x224, with classifier"

_SPEC = dict(
    display_name="MnasNet 1.0",
    family="MnasNet",
    year=2018,  # arXiv, July 2018
    paper=PAPER,
    input_shape=(INPUT_SIZE, INPUT_SIZE, 3),
    min_input_size=MIN_INPUT_SIZE,
    deviations=(
        Deviation(
            "strided convolutions padded symmetrically (PyTorch's way); the authors' TensorFlow code pads 'same'",
            "torchvision's network, whose weights then give identical outputs; the cost is the same",
        ),
        Deviation(
            "batch-norm epsilon 1e-5 instead of the TensorFlow reference's 1e-3",
            "torchvision's value, that of the weights and reference accuracy quoted here",
        ),
        Deviation(
            "inputs normalised with the ImageNet mean and std",
            "torchvision's preprocessing, used by the reference accuracy quoted here",
        ),
    ),
    params_refs=(Ref(4_383_312, _TV_SOURCE, _SCOPE_PARAMS),),
    macs_refs=(
        Ref(
            0.314e9, _TV_SOURCE + ", _ops", _SCOPE_MACS, rtol=0.0005 / 0.314, note="given to 3 decimals in G"
        ),
        Ref(
            0.31e9,
            _TV_DOCS,
            _SCOPE_MACS,
            rtol=0.005 / 0.31,
            note="'GFLOPS' there are multiply-adds, given to 2 decimals",
        ),
    ),  # fmt: skip
    accuracy_refs=(
        AccuracyRef(
            73.456,
            91.510,
            _TV_SOURCE,
            note="torchvision's training (github.com/1e100/mnasnet_trainer)",
            protocol=single_crop(INPUT_SIZE),
            weights="torchvision",
        ),
        AccuracyRef(
            74.0,
            None,
            "Tan et al. 2018, arXiv 1807.11626v1, abstract",
            note="the authors' TensorFlow model, trained with their recipe; the final version's MnasNet-A1 "
            "(with squeeze-and-excitation) reaches 75.2",
            protocol=single_crop(INPUT_SIZE),
            weights="paper",
        ),
    ),
    tags=("after-resnet",),
)

mnasnet1_0 = register_model(name="mnasnet1_0", **_SPEC)(
    variant(
        _mnasnet,
        "1_0",
        name="mnasnet1_0",
        doc="MnasNet at width 1.0 (the first version's figure 7(a); torchvision's B1).\n\n"
        "Options: ``dropout`` (0.2), ``name``; see :func:`_mnasnet`.",
        options=("dropout", "name"),
    )
)
