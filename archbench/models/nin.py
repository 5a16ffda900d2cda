"""Network in Network: Lin, Chen & Yan, "Network In Network".

ICLR 2014, arXiv 1312.4400 (https://arxiv.org/abs/1312.4400). The paper replaces each convolution by an
"mlpconv" layer, a convolution followed by 1x1 convolutions (its "cascaded cross channel parametric
pooling", ``cccp``), and the fully connected classifier by global average pooling over one map per
class. The paper itself only details CIFAR/SVHN/MNIST networks; the ImageNet model is the authors'
Caffe Model Zoo release "NIN-imagenet" (gist mavenlin/d802a5849de39225bcc6, ``train_val.prototxt``),
four mlpconv layers, 224x224 input:

    conv1 96@11x11/4 (no pad) -> 54, cccp1 96, cccp2 96, max 3x3/2 -> 27
    conv2 256@5x5 (pad 2), cccp3 256, cccp4 256, max 3x3/2 -> 13
    conv3 384@3x3 (pad 1), cccp5 384, cccp6 384, max 3x3/2 -> 6, dropout 0.5
    conv4 1024@3x3 (pad 1), cccp7 1024, cccp8 classes, average over the 6x6 map, softmax

with ReLU after every convolution, cccp8 included, and Caffe's ceil-mode pooling (54 -> 27 needs it).
No layer is fully connected. ``include_top=False`` drops cccp8 and the average pool and returns cccp7's
6x6x1024 map, or its global pool when ``pooling`` is given.

``bn_nin`` is BN-NIN of Canziani, Paszke & Culurciello (arXiv 1605.07678): the Torch7 model ``ninbn``
of soumith/imagenet-multiGPU.torch (``models/ninbn.lua``). It pads conv1 by 5 and the pools by 1 (Torch,
rounding down: 56-28-14-7), puts batch norm (epsilon 1e-3) between every convolution and its ReLU, keeps
cccp8 at 1024 maps and classifies with a fully connected layer after the 7x7 average pool; it has no
dropout. Its ``include_top=False`` drops the average pool and that layer.

Deliberate deviations (also in each spec's ``deviations``):

- The final fixed-size average pool (6x6 in Caffe, 7x7 in Torch) is a global average pool: the same at
  224x224, and defined at other input sizes.
- Keras' default (Glorot-uniform) initialisation instead of Caffe's Gaussian fillers.
- ``bn_nin``: convolution biases kept before batch norm, as the Torch model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import keras
from keras import layers

from ..errors import UsageError
from ..registry import CHART, AccuracyRef, Deviation, Paper, register_model, single_crop
from ._blocks import BatchNorm, Conv, Pool, conv_unit, pool2d
from ._common import BuildArgs, variant

__all__ = ["BN_NIN", "NIN", "MlpConv", "NinConfig", "bn_nin", "nin"]

PAPER = Paper(
    title="Network In Network",
    authors="Min Lin, Qiang Chen, Shuicheng Yan",
    venue="ICLR 2014",
    year=2014,
    url="https://arxiv.org/abs/1312.4400",
)
CANZIANI = Paper(
    title="An Analysis of Deep Neural Network Models for Practical Applications",
    authors="Alfredo Canziani, Adam Paszke, Eugenio Culurciello",
    venue="arXiv:1605.07678",
    year=2016,
    url="https://arxiv.org/abs/1605.07678",
)


@dataclass(frozen=True)
class MlpConv:
    """One mlpconv layer: the convolution ``conv`` (named by its place), then 1x1 convolutions, ``cccp``."""

    conv: Conv
    cccp: tuple[int, ...] = ()


@dataclass(frozen=True)
class NinConfig:
    """A NiN: mlpconv ``blocks`` with the max pool ``pool`` between consecutive ones, then the classifier.

    ``class_maps=True`` is the paper's head: one more cccp with ``classes`` maps (and ReLU), then the
    global average. ``False`` is BN-NIN's: global average, then a fully connected layer.
    ``dropout_before`` is the index of the block that dropout precedes, if any.
    """

    blocks: tuple[MlpConv, ...]
    input_shape: tuple[int, int, int]
    min_input_size: int
    pool: Pool = Pool(ceil_mode=True)
    dropout_before: int | None = None
    batch_norm: BatchNorm | None = None
    class_maps: bool = True

    @property
    def weight_layers(self) -> int:
        return sum(1 + len(b.cccp) for b in self.blocks) + 1


NIN = NinConfig(
    blocks=(
        MlpConv(Conv(96, 11, stride=4, pad=0), cccp=(96, 96)),  # 54 x 54 x 96, pooled to 27
        MlpConv(Conv(256, 5, pad=2), cccp=(256, 256)),  # 27 x 27 x 256, pooled to 13
        MlpConv(Conv(384, 3, pad=1), cccp=(384, 384)),  # 13 x 13 x 384, pooled to 6
        MlpConv(Conv(1024, 3, pad=1), cccp=(1024,)),  # 6 x 6 x 1024, then cccp8 (classes)
    ),
    input_shape=(224, 224, 3),
    min_input_size=55,
    dropout_before=3,
)
BN_NIN = NinConfig(
    blocks=(
        MlpConv(Conv(96, 11, stride=4, pad=5), cccp=(96, 96)),  # 56 x 56 x 96, pooled to 28
        MlpConv(Conv(256, 5, pad=2), cccp=(256, 256)),  # 28 x 28 x 256, pooled to 14
        MlpConv(Conv(384, 3, pad=1), cccp=(384, 384)),  # 14 x 14 x 384, pooled to 7
        MlpConv(Conv(1024, 3, pad=1), cccp=(1024, 1024)),  # 7 x 7 x 1024
    ),
    input_shape=(224, 224, 3),
    min_input_size=1,
    pool=Pool(pad=1),
    batch_norm=BatchNorm(epsilon=1e-3, momentum=0.9),
    class_maps=False,
)


def _build(config: NinConfig, args: BuildArgs, *, dropout: float = 0.5) -> keras.Model:
    if not 0.0 <= dropout < 1.0:
        raise UsageError(f"{args.name}: dropout must be in [0, 1), got {dropout!r}")
    if args.classifier_activation is not None:
        keras.activations.get(args.classifier_activation)
    inputs, x = args.input(config.input_shape, config.min_input_size)
    bn = config.batch_norm
    n_cccp = 0
    for i, block in enumerate(config.blocks, start=1):
        if config.dropout_before == i - 1:
            x = layers.Dropout(dropout, name="dropout")(x)
        x = conv_unit(x, replace(block.conv, name=f"conv{i}"), bn)
        for width in block.cccp:
            n_cccp += 1
            x = conv_unit(x, Conv(width, 1, pad=0, name=f"cccp{n_cccp}"), bn)
        if i < len(config.blocks):
            x = pool2d(x, config.pool, f"pool{i}")
    gap_name = f"pool{len(config.blocks)}"

    def top(features: Any) -> Any:
        if not config.class_maps:
            y = layers.GlobalAveragePooling2D(name=gap_name)(features)
            return args.classifier(y)
        y = conv_unit(features, Conv(args.classes, 1, pad=0, name=f"cccp{n_cccp + 1}"), bn)
        y = layers.GlobalAveragePooling2D(name=gap_name)(y)
        return layers.Activation(args.classifier_activation, name="predictions")(y)

    return args.finish(inputs, x, top)


_GAP = Deviation(
    "global average pooling instead of the fixed 6x6 (Caffe) / 7x7 (Torch) average pool",
    "identical at 224x224, and defined at other input sizes",
)
_INIT = Deviation(
    "Keras' default Glorot-uniform initialisation",
    "the original Gaussian fillers only matter for training from scratch",
)

nin = register_model(
    display_name="NiN",
    family="NiN",
    year=2013,
    paper=PAPER,
    input_shape=NIN.input_shape,
    min_input_size=NIN.min_input_size,
    deviations=(
        Deviation(
            "the ImageNet network is the authors' Caffe Model Zoo 'NIN-imagenet' (gist "
            "mavenlin/d802a5849de39225bcc6), with its ceil-mode pooling",
            "the paper describes only its CIFAR-10/100, SVHN and MNIST networks",
        ),
        _GAP,
        _INIT,
    ),
    accuracy_refs=(
        AccuracyRef(
            59.36,
            None,
            "NIN-imagenet Caffe Model Zoo gist (mavenlin/d802a5849de39225bcc6) README",
            note="the first author's own Caffe model, evaluated with its test phase (one 224 centre crop)",
            protocol=single_crop(224),
            weights="paper",
        ),
    ),
    depth_paper=NIN.weight_layers,
    tags=("global_average_pooling",),
)(
    variant(
        _build,
        NIN,
        name="nin",
        doc="Network in Network, the authors' ImageNet model: four mlpconv layers, global average pooling.",
        options=("dropout",),
    )
)

bn_nin = register_model(
    display_name="BN-NIN",
    family="NiN",
    year=2016,
    paper=CANZIANI,
    input_shape=BN_NIN.input_shape,
    min_input_size=BN_NIN.min_input_size,
    deviations=(
        Deviation(
            "batch norm (epsilon 1e-3) after every convolution, Torch padding (conv1 5, pools 1, rounding "
            "down), 1024-map cccp8 and a fully connected classifier after the average pool, no dropout",
            "the definition of BN-NIN: Torch7 model ninbn of soumith/imagenet-multiGPU.torch "
            "(models/ninbn.lua), the model Canziani et al. 2016 measure",
        ),
        Deviation(
            "convolution biases kept before batch norm",
            "as the Torch model, so its weights map one to one",
        ),
        _GAP,
        _INIT,
    ),
    accuracy_refs=(
        AccuracyRef(
            62.6,
            None,
            "soumith/imagenet-multiGPU.torch models/ninbn.lua, header comment ('Achieves 62.6% top1 on "
            "validation set at 35 epochs')",
            note="the repository's test loader: shorter side resized to 256, one 224 centre crop "
            "(donkey.lua testHook)",
            protocol=single_crop(224),
            weights="imagenet-multiGPU.torch",
        ),
        AccuracyRef(
            63.0,
            None,
            "Canziani et al. 2016, figure 1 (read off the chart)",
            note="approximate (about +-1 point): the paper gives its single-crop figures only as a bar chart",
            protocol=CHART,
            weights="Canziani et al.",
        ),
    ),
    depth_paper=BN_NIN.weight_layers,
    tags=("batch_norm", "global_average_pooling"),
)(
    variant(
        _build,
        BN_NIN,
        name="bn_nin",
        doc="BN-NIN: NiN with batch norm after every convolution and a linear classifier (Torch7 ninbn).",
    )
)
