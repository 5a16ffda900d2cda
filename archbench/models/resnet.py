"""ResNet: He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition".

CVPR 2016, arXiv 1512.03385 (https://arxiv.org/abs/1512.03385); the ILSVRC 2015 classification winner.

The networks of the paper's table 1 are one table, :data:`STAGES` (block type and blocks per stage,
conv2_x to conv5_x); one builder, :func:`_resnet`, reads it. Stage widths are 64, 128, 256, 512 (times 4
at the output of a bottleneck block); stages conv3_x to conv5_x halve the resolution in their first
block. The stem is a 7x7/2 convolution with 64 filters (padding 3), batch norm, ReLU and a 3x3/2 max
pool (padding 1), padded by explicit ``ZeroPadding2D`` layers like keras.applications; zero padding
before the pool equals PyTorch's -inf padding because its inputs come out of a ReLU.

Every convolution is followed by batch norm ("right after each convolution and before activation") and
has no bias, which batch norm would cancel. Shortcuts are identities except where the shape changes,
where a 1x1 convolution with batch norm projects them (the paper's option B). Layer names follow
keras.applications (``conv1_conv``, ``conv2_block1_1_conv``, ``conv2_block1_0_conv`` for the projection,
``conv2_block1_out``, ``avg_pool``, ``predictions``); basic blocks use ``_1`` and ``_2`` for their two 3x3
convolutions.

Variants: ``resnet18`` ... ``resnet152`` are v1, the paper's network, whose downsampling bottleneck
puts the stride in its first 1x1 convolution. ``resnet50_v1_5``, ``resnet101_v1_5``, ``resnet152_v1_5``
put it in the 3x3 convolution instead (torchvision's and NVIDIA's "v1.5"): same parameters, more
multiply-adds (4.09 instead of 3.86 G for ResNet-50), slightly higher accuracy; torchvision's weights
and reference figures are for v1.5. Basic-block networks (18, 34) have their stride in a 3x3 either
way, so v1 and v1.5 coincide and there is one registration each.

Choices where the paper is silent: batch-norm epsilon 1e-5 and momentum 0.9 in Keras' convention
(torchvision's defaults; keras.applications uses epsilon 1.001e-5); He-normal initialisation of the
convolutions with fan-out scaling (torchvision's; the paper cites He et al. 2015 for it); in a strided
3x3 convolution the padding is explicit and symmetric (``*_pad`` layers) so that torchvision weights
give identical outputs, where Keras' ``padding="same"`` would pad only the bottom and right.

Deliberate deviations (also in each spec's ``deviations``):

- ResNet-18/34: projection shortcuts (option B) where the shape changes; the paper's table 2
  experiments used zero-padded identity shortcuts (option A). Option B is what torchvision ships and
  what its reference figures measure (its table 3 finds B slightly better).
- Inputs normalised with the ImageNet mean and standard deviation (torchvision's preprocessing, which
  its reference accuracies use); the paper subtracts the per-pixel mean.
- ``*_v1_5``: the stride of a downsampling bottleneck in its 3x3 convolution (see above).

The networks built on ResNet after it are the same builder with a :class:`Design`: ResNeXt and Wide
ResNet set torchvision's ``groups`` and ``width_per_group`` (:mod:`archbench.models.resnext`); SENets
add a squeeze-and-excitation hook on each residual branch and, for SENet-154, Hu et al.'s deep stem,
halved first 1x1 convolutions and 3x3 projections (:mod:`archbench.models.senet`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import keras
from keras import layers

from ..errors import UsageError
from ..registry import AccuracyRef, Deviation, ILSVRCEntry, Paper, Ref, register_model, single_crop
from ._blocks import max_pool
from ._common import BuildArgs, variant

__all__ = [
    "STAGES",
    "Design",
    "SCOPE_MACS",
    "SCOPE_PARAMS",
    "register_design",
    "block_widths",
    "basic_block",
    "bottleneck_block",
    "conv_bn",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet50_v1_5",
    "resnet101_v1_5",
    "resnet152_v1_5",
]

PAPER = Paper(
    title="Deep Residual Learning for Image Recognition",
    authors="Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
    venue="CVPR 2016",
    year=2016,
    url="https://arxiv.org/abs/1512.03385",
)

#: Table 1 of the paper: block type and number of blocks in conv2_x, conv3_x, conv4_x, conv5_x.
STAGES: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
WIDTHS = (64, 128, 256, 512)
EXPANSION = {"basic": 1, "bottleneck": 4}
STEM_WIDTH = 64
INPUT_SIZE = 224
MIN_INPUT_SIZE = 32  # total stride 32
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def conv_bn(
    x: Any, filters: int, kernel_size: int, *, stride: int = 1, groups: int = 1, relu: bool = True, name: str
) -> Any:
    """Bias-free convolution (in ``groups`` groups), batch norm and (unless ``relu=False``) ReLU, named
    ``{name}_conv/_bn/_relu``.

    A strided convolution wider than 1x1 is preceded by ``{name}_pad``, zero padding of ``kernel_size // 2``
    on every side, and itself pads nothing (PyTorch's symmetric padding).
    """
    if kernel_size > 1 and stride > 1:
        x = layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
    padding = "same" if kernel_size > 1 and stride == 1 else "valid"
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=stride,
        padding=padding,
        groups=groups,
        use_bias=False,
        kernel_initializer=keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal"),
        name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    if relu:
        x = layers.Activation("relu", name=f"{name}_relu")(x)
    return x


@dataclass(frozen=True)
class Design:
    """How one network of the family builds its blocks, stem and head, beyond table 1's depth.

    ``groups`` and ``width_per_group`` are torchvision's: a bottleneck's 3x3 convolution has
    ``groups * width_per_group * stage_width / 64`` channels in ``groups`` groups (ResNet: 1 and 64;
    ResNeXt-50 32x4d: 32 and 4; Wide ResNet-50-2: 1 and 128). ``first_1x1`` is the width of the first
    1x1 convolution as a fraction of the 3x3's (SENet-154: 0.5). ``excite(x, name)`` is applied to
    each residual branch before the addition (squeeze-and-excitation). ``deep_stem`` replaces the 7x7
    convolution by three 3x3 convolutions of 64, 64 and 128 filters; ``caffe_pool`` pools the stem
    3x3/2 without padding, rounding up (Caffe's geometry, same output size); ``projection_kernel`` is
    the kernel of the projection shortcuts of strided blocks; ``dropout`` precedes the classifier.
    """

    stride_in_3x3: bool = False
    groups: int = 1
    width_per_group: int = 64
    first_1x1: float = 1.0
    excite: Callable[..., Any] | None = None
    deep_stem: bool = False
    caffe_pool: bool = False
    projection_kernel: int = 1
    dropout: float = 0.0


RESNET = Design()


def block_widths(width: int, design: Design) -> tuple[int, int, int]:
    """Channels of a bottleneck's first 1x1, its 3x3 and its output, for a stage of ``width``."""
    inner = width * design.width_per_group // 64 * design.groups
    return int(inner * design.first_1x1), inner, EXPANSION["bottleneck"] * width


def _shortcut(x: Any, filters: int, stride: int, name: str, kernel_size: int = 1) -> Any:
    """Identity, or a projection with batch norm where the shape changes (option B)."""
    if stride == 1 and x.shape[-1] == filters:
        return x
    return conv_bn(x, filters, kernel_size if stride > 1 else 1, stride=stride, relu=False, name=f"{name}_0")


def _merge(shortcut: Any, residual: Any, name: str, design: Design = RESNET) -> Any:
    if design.excite is not None:
        residual = design.excite(residual, name=name)
    x = layers.Add(name=f"{name}_add")([shortcut, residual])
    return layers.Activation("relu", name=f"{name}_out")(x)


def basic_block(x: Any, filters: int, *, stride: int = 1, design: Design = RESNET, name: str) -> Any:
    """Two 3x3 convolutions (ResNet-18/34); the first carries the stride whatever the design says."""
    shortcut = _shortcut(x, filters, stride, name, design.projection_kernel)
    y = conv_bn(x, filters, 3, stride=stride, name=f"{name}_1")
    y = conv_bn(y, filters, 3, relu=False, name=f"{name}_2")
    return _merge(shortcut, y, name, design)


def bottleneck_block(x: Any, filters: int, *, stride: int = 1, design: Design = RESNET, name: str) -> Any:
    """1x1 reduce, 3x3 (grouped when ``design.groups > 1``), 1x1 expand to ``4 * filters``.

    The stride sits in the first 1x1 (v1) or in the 3x3 (``design.stride_in_3x3``: v1.5, ResNeXt).
    """
    first, inner, out = block_widths(filters, design)
    shortcut = _shortcut(x, out, stride, name, design.projection_kernel)
    stride_1x1, stride_3x3 = (1, stride) if design.stride_in_3x3 else (stride, 1)
    y = conv_bn(x, first, 1, stride=stride_1x1, name=f"{name}_1")
    y = conv_bn(y, inner, 3, stride=stride_3x3, groups=design.groups, name=f"{name}_2")
    y = conv_bn(y, out, 1, relu=False, name=f"{name}_3")
    return _merge(shortcut, y, name, design)


BLOCKS = {"basic": basic_block, "bottleneck": bottleneck_block}


def _resnet(depth: int, args: BuildArgs, *, design: Design = RESNET, name: str | None = None) -> keras.Model:
    """Build the ResNet of table 1 with ``depth`` weight layers (18, 34, 50, 101 or 152), as ``design`` says.

    The default design is the paper's v1 network; ``name`` renames the model. The head is global
    average pooling and the classifier, so any input from 32x32 works, with or without it (except
    with ``design.caffe_pool``, whose rounding needs the input size).
    """
    if depth not in STAGES:
        raise UsageError(f"unknown ResNet depth {depth!r}; choose from {', '.join(map(str, STAGES))}")
    kind, blocks = STAGES[depth]
    if kind == "basic" and (design.groups, design.width_per_group, design.first_1x1) != (1, 64, 1.0):
        raise UsageError(
            f"ResNet-{depth} has basic blocks: groups and widths other than ResNet's need bottlenecks"
        )
    inputs, x = args.input((INPUT_SIZE, INPUT_SIZE, 3), MIN_INPUT_SIZE)

    if design.deep_stem:
        x = conv_bn(x, STEM_WIDTH, 3, stride=2, name="conv1_1")
        x = conv_bn(x, STEM_WIDTH, 3, name="conv1_2")
        x = conv_bn(x, 2 * STEM_WIDTH, 3, name="conv1_3")  # 112 x 112 x 128
    else:
        x = conv_bn(x, STEM_WIDTH, 7, stride=2, name="conv1")  # 112 x 112 x 64
    if design.caffe_pool:
        x = max_pool(x, 3, 2, ceil_mode=True, name="pool1_pool")
    else:
        x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)  # 56 x 56
    block = BLOCKS[kind]
    for stage, (count, width) in enumerate(zip(blocks, WIDTHS, strict=True), start=2):
        for i in range(1, count + 1):
            stride = 2 if i == 1 and stage > 2 else 1
            x = block(x, width, stride=stride, design=design, name=f"conv{stage}_block{i}")
    # 7 x 7 x 512 (basic) or 7 x 7 x 2048 (bottleneck) at 224 x 224

    def top(features):
        y = layers.GlobalAveragePooling2D(name="avg_pool")(features)
        if design.dropout:
            y = layers.Dropout(design.dropout, name="top_dropout")(y)
        return args.classifier(y)

    return args.finish(inputs, x, top, name=name)


# Reference figures, keyed by depth. torchvision: pytorch/vision torchvision/models/resnet.py, the meta
# of ResNet*_Weights.IMAGENET1K_V1 (num_params, acc@1, acc@5, _ops in G-MACs); its 50/101/152 are v1.5.
_TORCHVISION = {
    18: (11_689_512, 69.758, 89.078, 1.814),
    34: (21_797_672, 73.314, 91.420, 3.664),
    50: (25_557_032, 76.130, 92.862, 4.089),
    101: (44_549_160, 77.374, 93.546, 7.801),
    152: (60_192_808, 78.312, 94.046, 11.514),
}
# keras.applications table (keras.io/api/applications): params, top-1, top-5; v1 with conv biases.
# rtol: keras counts a bias in every convolution and the BN moving statistics, which our paper-
# convention count excludes (ResNet-50: 25,636,712 = 25,557,032 + 26,560 biases + 53,120 statistics).
_KERAS = {
    50: (25_636_712, 74.9, 92.1, 0.0035),
    101: (44_707_176, 76.4, 92.8, 0.004),
    152: (60_419_944, 76.6, 93.1, 0.004),
}
# The paper's table 1, "FLOPs" (multiply-adds), x 10^9, for v1.
_PAPER_GMACS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}

SCOPE_PARAMS = "paper convention (BN moving statistics excluded), with classifier, 1000 classes"
SCOPE_MACS = "multiply-adds of convolutions and dense layers, 224x224, with classifier"
_TV_SOURCE = "torchvision ResNet{}_Weights.IMAGENET1K_V1 meta (pytorch/vision torchvision/models/resnet.py)"
_KERAS_SOURCE = "keras.applications ResNet{} (keras.io/api/applications)"

_PREPROCESSING_DEVIATION = Deviation(
    "inputs normalised with the ImageNet mean and std; the paper subtracts the per-pixel mean",
    "torchvision's preprocessing, used by the reference accuracies quoted here",
)
_OPTION_B_DEVIATION = Deviation(
    "projection shortcuts (1x1 conv + BN, option B) where the shape changes; the paper's 18/34-layer "
    "nets of table 2 used zero-padded identity shortcuts (option A)",
    "option B is what torchvision ships and what its reference figures measure; the paper's table 3 "
    "finds it slightly better than A",
)
_V1_5_DEVIATION = Deviation(
    "stride 2 of a downsampling bottleneck in its 3x3 convolution (v1.5), not in the first 1x1",
    "torchvision's variant, to which its weights and reference figures belong; it sees every input "
    "pixel in the strided layer, costs about 6 % more multiply-adds and is slightly more accurate",
)
_ILSVRC = ILSVRCEntry(
    year=2015,
    team="MSRA",
    place=1,
    top5_error=3.57,
    source="Russakovsky et al., IJCV 2015; He et al. 2016",
    note="an ensemble of six models of different depth (two of them 152-layer), not one network",
)


def _spec(depth: int, v1_5: bool) -> dict[str, Any]:
    kind = STAGES[depth][0]
    tv_params, tv_top1, tv_top5, tv_gmacs = _TORCHVISION[depth]
    tv_source = _TV_SOURCE.format(depth)
    tv_matches = v1_5 or kind == "basic"
    params = [
        Ref(
            tv_params,
            tv_source,
            SCOPE_PARAMS,
            note=""
            if tv_matches
            else "torchvision's model is v1.5; the stride's place does not change the count",
        )
    ]
    paper_macs = Ref(
        _PAPER_GMACS[depth] * 1e9,
        "He et al. 2016, table 1",
        SCOPE_MACS,
        rtol=0.08 if v1_5 else 0.02,
        note="'FLOPs' there are multiply-adds, rounded to 0.1 G, for v1"
        + ("; v1.5 costs more (strided 3x3)" if v1_5 else ""),
    )
    macs = [paper_macs]
    accuracy = []
    if tv_matches:
        tv_macs = Ref(
            tv_gmacs * 1e9, tv_source + ", _ops", SCOPE_MACS, rtol=1e-3, note="given to 3 decimals in G"
        )
        # the first reference is the headline one (models.csv): the paper's, unless it describes v1 only
        macs = [tv_macs, paper_macs] if v1_5 else [paper_macs, tv_macs]
        accuracy.append(
            AccuracyRef(
                tv_top1,
                tv_top5,
                tv_source,
                note="torchvision's weights and training recipe; "
                + (
                    "basic blocks: v1 and v1.5 coincide"
                    if kind == "basic"
                    else "its gap to the v1 figure (keras.applications weights) is made of other weights, "
                    "another recipe and framework as much as of the stride's place"
                ),
                protocol=single_crop(INPUT_SIZE),
                weights="torchvision",
            )
        )
    if depth in _KERAS and not v1_5:
        keras_params, keras_top1, keras_top5, rtol = _KERAS[depth]
        keras_source = _KERAS_SOURCE.format(depth)
        params.append(
            Ref(
                keras_params,
                keras_source,
                "every variable: conv biases and BN moving statistics included, with classifier",
                rtol=rtol,
                note="keras puts a (redundant) bias in every convolution before batch norm; we have none",
            )
        )
        accuracy.append(
            AccuracyRef(
                keras_top1,
                keras_top5,
                keras_source,
                note="keras.applications' v1 weights (with conv biases and epsilon 1.001e-5, which convert "
                "exactly into this builder); the v1.5 figures are torchvision's weights, not these",
                protocol=single_crop(INPUT_SIZE),
                weights="keras.applications",
            )
        )
    deviations = [_PREPROCESSING_DEVIATION]
    if kind == "basic":
        deviations.append(_OPTION_B_DEVIATION)
    if v1_5:
        deviations.append(_V1_5_DEVIATION)
    return dict(
        display_name=f"ResNet-{depth}{' v1.5' if v1_5 else ''}",
        family="ResNet",
        year=PAPER.year,
        paper=PAPER,
        input_shape=(INPUT_SIZE, INPUT_SIZE, 3),
        min_input_size=MIN_INPUT_SIZE,
        deviations=tuple(deviations),
        params_refs=tuple(params),
        macs_refs=tuple(macs),
        accuracy_refs=tuple(accuracy),
        ilsvrc=_ILSVRC if depth == 152 and not v1_5 else None,
        depth_paper=depth,
        tags=("v1.5",) if v1_5 else (),
    )


def _register(depth: int, *, v1_5: bool = False):
    """Register the builder of one depth (option: ``name``)."""
    if v1_5 and STAGES[depth][0] != "bottleneck":
        raise UsageError(f"ResNet-{depth} has basic blocks: v1.5 is the same network as v1")
    name = f"resnet{depth}{'_v1_5' if v1_5 else ''}"
    doc = (
        f"ResNet-{depth}"
        + (
            " v1.5 (stride in the 3x3 of a downsampling bottleneck)."
            if v1_5
            else " as in table 1 of the paper."
        )
        + "\n\nOption: ``name``; see :func:`_resnet`."
    )
    return register_design(name, depth, Design(stride_in_3x3=v1_5), doc, _spec(depth, v1_5))


def register_design(name: str, depth: int, design: Design, doc: str, spec: dict[str, Any]):
    """Register :func:`_resnet` at ``depth`` with ``design`` as ``name`` (option: ``name``), with ``spec``'s fields."""
    builder = variant(partial(_resnet, design=design), depth, name=name, doc=doc, options=("name",))
    return register_model(name=name, **spec)(builder)


resnet18 = _register(18)
resnet34 = _register(34)
resnet50 = _register(50)
resnet101 = _register(101)
resnet152 = _register(152)
resnet50_v1_5 = _register(50, v1_5=True)
resnet101_v1_5 = _register(101, v1_5=True)
resnet152_v1_5 = _register(152, v1_5=True)
