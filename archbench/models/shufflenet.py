"""ShuffleNet v1 and v2: grouped 1x1 convolutions with channel shuffle, then channel split.

- v1: Zhang, Zhou, Lin & Sun, "ShuffleNet: An Extremely Efficient Convolutional Neural Network for
  Mobile Devices", CVPR 2018, arXiv 1707.01083 (https://arxiv.org/abs/1707.01083).
- v2: Ma, Zhang, Zheng & Sun, "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture
  Design", ECCV 2018, arXiv 1807.11164 (https://arxiv.org/abs/1807.11164).

Both networks are one table each, keyed by the papers' width (v1 also by the number of groups ``g``):
a 3x3/2 stem convolution with 24 filters, a 3x3/2 max pool, three stages whose first unit has stride
2, a global average and the classifier (v2 adds ``conv5``, a 1x1 convolution to 1024 channels). Every
convolution is followed by batch norm and has no bias; depthwise convolutions are 3x3.

**v1 unit** (the paper's figure 2): 1x1 grouped convolution to a bottleneck of a quarter of the
stage's output channels, batch norm, ReLU, channel shuffle, 3x3 depthwise convolution (stride 1 or 2),
batch norm, 1x1 grouped convolution, batch norm; then the shortcut is added (stride 1) or a 3x3/2
average pool of the input is concatenated (stride 2, so that the grouped convolution only makes the
new channels), and ReLU. "We do not apply group convolution on the first pointwise layer of Stage 2
because the number of input channels is relatively small" (24): that layer is a plain convolution,
and no shuffle follows it. Table 1 of the paper gives the widths: 240, 480, 960 channels for g = 3.

**v2 unit** (figure 3): the input's channels are split in half (:class:`~archbench.layers.ChannelSplit`);
one half passes unchanged, the other goes through 1x1 convolution, batch norm, ReLU, 3x3 depthwise
convolution, batch norm, 1x1 convolution, batch norm, ReLU; the two are concatenated and shuffled
with two groups. A stride-2 unit feeds the whole input to both branches, the first being 3x3
depthwise/2, batch norm, 1x1 convolution, batch norm, ReLU. Table 5 of the paper gives the widths
(116, 232, 464 channels at 1x) and units per stage (4, 8, 4).

The channel shuffle is :class:`~archbench.layers.ChannelShuffle`: a reshape and a transpose, with no
multiply-adds. Padding is explicit and symmetric (``*_pad`` layers before the strided 3x3 windows, as
PyTorch pads), so that torchvision's v2 weights give identical outputs. Layer names of v2 are
torchvision's module paths with ``_`` for ``.`` (``stage3_0_branch2_3`` is the depthwise convolution of
the first unit of stage 3; ``predictions`` is its ``fc``); v1's units are ``stage{s}_{i}`` too, with
``conv1``, ``shuffle``, ``conv2`` (depthwise), ``conv3`` and their ``bn1``-``bn3``. v1 follows the
authors' PyTorch release (github.com/megvii-model/ShuffleNet-Series, ``ShuffleNetV1/blocks.py``)
where the paper leaves a detail open: the 3x3/2 average pool of the shortcut pads by one and counts
the padding, the ReLU of a stride-2 unit follows the concatenation (the same thing: the pooled input
is non-negative).

Choices where the papers are silent: batch-norm epsilon 1e-5 and momentum 0.9 in Keras' convention
(PyTorch's defaults, used by torchvision and the authors' release); He-normal initialisation of the
convolutions with fan-out scaling.

Deliberate deviations (also in each spec's ``deviations``):

- Inputs normalised with the ImageNet mean and standard deviation (torchvision's preprocessing).
- v1: the shuffle sits right after the first grouped convolution's ReLU, as in the paper's figure 2;
  the authors' release shuffles after the depthwise convolution and its batch norm instead. Both are
  channel-wise operations, so the two are the same function up to a permutation of their weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import keras
from keras import layers

from ..errors import UsageError
from ..layers import ChannelShuffle, ChannelSplit
from ..registry import AccuracyRef, Deviation, Paper, Ref, register_model, single_crop
from ._common import BuildArgs, variant

__all__ = [
    "V1_CONFIGS",
    "V2_CONFIGS",
    "ShuffleNetConfig",
    "shufflenet_v1_g3",
    "shufflenet_v1_unit",
    "shufflenet_v2_unit",
    "shufflenet_v2_x1_0",
]

PAPER_V1 = Paper(
    title="ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices",
    authors="Xiangyu Zhang, Xinyu Zhou, Mengxiao Lin, Jian Sun",
    venue="CVPR 2018",
    year=2018,
    url="https://arxiv.org/abs/1707.01083",
)
PAPER_V2 = Paper(
    title="ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
    authors="Ningning Ma, Xiangyu Zhang, Hai-Tao Zheng, Jian Sun",
    venue="ECCV 2018",
    year=2018,
    url="https://arxiv.org/abs/1807.11164",
)


@dataclass(frozen=True)
class ShuffleNetConfig:
    """A column of the papers' architecture tables: stage widths, units per stage, groups (v1), conv5 (v2)."""

    stage_channels: tuple[int, int, int]
    units: tuple[int, int, int]
    groups: int = 1
    conv5: int | None = None
    stem: int = 24


#: Table 1 of the v1 paper, 1x, keyed by the number of groups g.
V1_CONFIGS = {3: ShuffleNetConfig((240, 480, 960), (4, 8, 4), groups=3)}
#: Table 5 of the v2 paper, keyed by the width multiplier.
V2_CONFIGS = {"1_0": ShuffleNetConfig((116, 232, 464), (4, 8, 4), conv5=1024)}

INPUT_SIZE = 224
MIN_INPUT_SIZE = 32  # total stride 32
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9
_INIT = keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


def _bn(x: Any, name: str, relu: bool = False) -> Any:
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def _conv(x: Any, filters: int, name: str, *, kernel: int = 1, stride: int = 1, groups: int = 1) -> Any:
    """A bias-free convolution, its 3x3 windows padded by one on every side (explicitly when strided)."""
    if kernel > 1 and stride > 1:
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    padding = "same" if kernel > 1 and stride == 1 else "valid"
    return layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, groups=groups, use_bias=False,
        kernel_initializer=_INIT, name=name,
    )(x)  # fmt: skip


def _depthwise(x: Any, stride: int, name: str) -> Any:
    """A bias-free 3x3 depthwise convolution, padded by one on every side."""
    if stride > 1:
        x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return layers.DepthwiseConv2D(
        3, strides=stride, padding="valid" if stride > 1 else "same", use_bias=False,
        depthwise_initializer=_INIT, name=name,
    )(x)  # fmt: skip


def _stem(x: Any, config: ShuffleNetConfig) -> Any:
    x = _conv(x, config.stem, "conv1_0", kernel=3, stride=2)
    x = _bn(x, "conv1_1", relu=True)  # 112 x 112 x 24
    x = layers.ZeroPadding2D(1, name="maxpool_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="maxpool")(x)  # 56 x 56 x 24


def shufflenet_v1_unit(
    x: Any, channels: int, *, stride: int, groups: int, first_groups: int, name: str
) -> Any:
    """A v1 unit with ``channels`` outputs; ``first_groups`` is the first 1x1 convolution's (1 in stage 2's first)."""
    cin = int(x.shape[-1])
    bottleneck = channels // 4
    new = channels - cin if stride > 1 else channels
    y = _conv(x, bottleneck, f"{name}_conv1", groups=first_groups)
    y = _bn(y, f"{name}_bn1", relu=True)
    if first_groups > 1:
        y = ChannelShuffle(first_groups, name=f"{name}_shuffle")(y)
    y = _bn(_depthwise(y, stride, f"{name}_conv2"), f"{name}_bn2")
    y = _bn(_conv(y, new, f"{name}_conv3", groups=groups), f"{name}_bn3")
    if stride == 1:
        y = layers.Add(name=f"{name}_add")([x, y])
    else:
        shortcut = layers.ZeroPadding2D(1, name=f"{name}_avgpool_pad")(x)
        shortcut = layers.AveragePooling2D(3, strides=2, name=f"{name}_avgpool")(shortcut)
        y = layers.Concatenate(name=f"{name}_concat")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_relu")(y)


def shufflenet_v2_unit(x: Any, channels: int, *, stride: int, name: str) -> Any:
    """A v2 unit with ``channels`` outputs, torchvision's ``InvertedResidual`` (modules ``branch1``, ``branch2``)."""
    half = channels // 2
    if stride == 1:
        kept, x2 = ChannelSplit(name=f"{name}_split")(x)
    else:
        kept = _bn(_depthwise(x, stride, f"{name}_branch1_0"), f"{name}_branch1_1")
        kept = _bn(_conv(kept, half, f"{name}_branch1_2"), f"{name}_branch1_3", relu=True)
        x2 = x
    y = _bn(_conv(x2, half, f"{name}_branch2_0"), f"{name}_branch2_1", relu=True)
    y = _bn(_depthwise(y, stride, f"{name}_branch2_3"), f"{name}_branch2_4")
    y = _bn(_conv(y, half, f"{name}_branch2_5"), f"{name}_branch2_6", relu=True)
    y = layers.Concatenate(name=f"{name}_concat")([kept, y])
    return ChannelShuffle(2, name=f"{name}_shuffle")(y)


def _shufflenet(
    config: ShuffleNetConfig, args: BuildArgs, *, version: int, name: str | None = None
) -> keras.Model:
    """Build a ShuffleNet ``version`` (1 or 2) column ``config``. Any input from 32x32 works."""
    if version not in (1, 2):
        raise UsageError(f"unknown ShuffleNet version {version!r}; choose 1 or 2")
    inputs, x = args.input((INPUT_SIZE, INPUT_SIZE, 3), MIN_INPUT_SIZE)
    x = _stem(x, config)
    for stage, (channels, units) in enumerate(zip(config.stage_channels, config.units, strict=True), start=2):
        for unit in range(units):
            stride, unit_name = (2 if unit == 0 else 1), f"stage{stage}_{unit}"
            if version == 2:
                x = shufflenet_v2_unit(x, channels, stride=stride, name=unit_name)
            else:
                first = 1 if stage == 2 and unit == 0 else config.groups
                x = shufflenet_v1_unit(
                    x, channels, stride=stride, groups=config.groups, first_groups=first, name=unit_name
                )
    if config.conv5:
        x = _bn(_conv(x, config.conv5, "conv5_0"), "conv5_1", relu=True)
    # 7 x 7 x 1024 (v2) or 7 x 7 x 960 (v1, g = 3) at 224 x 224

    def top(features: Any) -> Any:
        return args.classifier(layers.GlobalAveragePooling2D(name="globalpool")(features))

    return args.finish(inputs, x, top, name=name)


_SCOPE_PARAMS = "paper convention (BN moving statistics excluded), with classifier, 1000 classes"
_SCOPE_MACS = "multiply-adds of convolutions and dense layers, 224x224, with classifier"
_PREPROCESSING = Deviation(
    "inputs normalised with the ImageNet mean and std",
    "torchvision's preprocessing, also used by the authors' PyTorch release",
)
_V1_SHUFFLE = Deviation(
    "channel shuffle right after the first grouped 1x1 convolution (the paper's figure 2); the authors' "
    "PyTorch release shuffles after the depthwise convolution and its batch norm",
    "both are channel-wise operations, so the two networks are the same function up to a permutation "
    "of their weights; the paper's order is the one explained there",
)
# pytorch/vision torchvision/models/shufflenetv2.py, ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1 meta.
_TV_V2 = "torchvision ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1 meta (pytorch/vision torchvision/models/shufflenetv2.py)"
_TV_DOCS = "torchvision docs, Classification table (docs.pytorch.org/vision/stable/models.html)"
_MEGVII = "github.com/megvii-model/ShuffleNet-Series, {}/README.md (the authors' PyTorch release)"
_MEGVII_NOTE = "'FLOPs' there are multiply-adds, in M; parameters in M; top-1/top-5 errors"

_SPECS: dict[str, dict[str, Any]] = {
    "shufflenet_v2_x1_0": dict(
        display_name="ShuffleNet v2 1.0x",
        family="ShuffleNet",
        year=PAPER_V2.year,
        paper=PAPER_V2,
        params_refs=(
            Ref(2_278_604, _TV_V2, _SCOPE_PARAMS),
            Ref(2.3e6, "Ma et al. 2018, table 5 ('# of Weights', 1x); " + _MEGVII.format("ShuffleNetV2"),
                _SCOPE_PARAMS, rtol=0.05 / 2.3, note="rounded to 0.1 M"),
        ),
        macs_refs=(
            Ref(0.145e9, _TV_V2 + ", _ops", _SCOPE_MACS, rtol=0.0005 / 0.145, note="given to 3 decimals in G"),
            Ref(0.14e9, _TV_DOCS, _SCOPE_MACS, rtol=0.005 / 0.14, note="'GFLOPS' there are multiply-adds, "
                "given to 2 decimals"),
            Ref(146e6, "Ma et al. 2018, table 5 (FLOPs, 1x); " + _MEGVII.format("ShuffleNetV2"), _SCOPE_MACS,
                rtol=0.01, note="'FLOPs' there are multiply-adds, in M; 0.7 % above ours, about the 1.0 M "
                "multiply-adds of the classifier once more (the source does not say how it counts)"),
        ),
        accuracy_refs=(
            AccuracyRef(69.362, 88.316, _TV_V2, note="torchvision's port of a reimplementation's weights "
                        "(github.com/ericsun99/Shufflenet-v2-Pytorch)", protocol=single_crop(INPUT_SIZE),
                        weights="torchvision"),
            AccuracyRef(69.4, 88.9, _MEGVII.format("ShuffleNetV2"), note=_MEGVII_NOTE + " (30.6, 11.1)",
                        protocol=single_crop(INPUT_SIZE), weights="paper"),
        ),
        deviations=(_PREPROCESSING,),
    ),
    "shufflenet_v1_g3": dict(
        display_name="ShuffleNet v1 1x (g=3)",
        family="ShuffleNet",
        year=2017,  # arXiv, July 2017
        paper=PAPER_V1,
        params_refs=(
            Ref(1.9e6, _MEGVII.format("ShuffleNetV1"), _SCOPE_PARAMS, rtol=0.05 / 1.9, note="rounded to 0.1 M"),
        ),
        macs_refs=(
            Ref(138e6, _MEGVII.format("ShuffleNetV1"), _SCOPE_MACS, rtol=0.01, note=_MEGVII_NOTE + "; 0.4 % "
                "above ours, about the 0.96 M multiply-adds of the classifier once more (how it counts is not said)"),
            Ref(140e6, "Zhang et al. 2017, table 2 (complexity of 'ShuffleNet 1x', all g)", _SCOPE_MACS,
                rtol=0.02, note="the nominal budget of the 1x networks, in M multiply-adds ('FLOPs')"),
        ),
        accuracy_refs=(
            AccuracyRef(67.8, 87.7, _MEGVII.format("ShuffleNetV1"), note=_MEGVII_NOTE + " (32.2, 12.3)",
                        protocol=single_crop(INPUT_SIZE), weights="paper"),
        ),
        deviations=(_PREPROCESSING, _V1_SHUFFLE),
    ),
}  # fmt: skip


def _register(name: str, version: int, config: ShuffleNetConfig, doc: str):
    """Register one ShuffleNet (option: ``name``)."""
    builder = variant(
        partial(_shufflenet, version=version),
        config,
        name=name,
        doc=doc + "\n\nOption: ``name``; see :func:`_shufflenet`.",
        options=("name",),
    )
    spec = dict(
        input_shape=(INPUT_SIZE, INPUT_SIZE, 3),
        min_input_size=MIN_INPUT_SIZE,
        tags=("after-resnet",),
        **_SPECS[name],
    )
    return register_model(name=name, **spec)(builder)


shufflenet_v2_x1_0 = _register(
    "shufflenet_v2_x1_0", 2, V2_CONFIGS["1_0"], "ShuffleNet v2 1x (table 5 of the paper)."
)
shufflenet_v1_g3 = _register(
    "shufflenet_v1_g3", 1, V1_CONFIGS[3], "ShuffleNet v1 1x with g = 3 groups (table 1)."
)
