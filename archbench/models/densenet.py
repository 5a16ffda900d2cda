"""DenseNet: Huang, Liu, van der Maaten & Weinberger, "Densely Connected Convolutional Networks".

CVPR 2017, arXiv 1608.06993 (https://arxiv.org/abs/1608.06993).

Each layer of a dense block receives the concatenation of all earlier feature maps of the block and
adds ``k`` (the growth rate) new ones: batch norm, ReLU, a 1x1 convolution to ``4k`` channels (the
"bottleneck", DenseNet-B), batch norm, ReLU, a 3x3 convolution to ``k``. Transition layers between
blocks halve the channels (compression 0.5, DenseNet-C) with batch norm, ReLU and a 1x1 convolution,
then a 2x2/2 average pool. The stem is a 7x7/2 convolution with ``2k`` filters, batch norm, ReLU and a
3x3/2 max pool; the head batch norm, ReLU, global average pooling and the classifier.

The ImageNet networks of the paper's table 1 are one table, :data:`CONFIGS` (growth rate, layers per
block, stem width), read by one builder, :func:`_densenet`:

    densenet121   k = 32, (6, 12, 24, 16), 64 stem filters
    densenet161   k = 48, (6, 12, 36, 24), 96 stem filters

Layer names follow keras.applications' DenseNet (``conv1_conv``, ``conv2_block1_0_bn``,
``conv2_block1_1_conv``, ``conv2_block1_2_conv``, ``conv2_block1_concat``, ``pool2_conv``, ``bn``);
convolutions have no bias; batch norm has epsilon 1e-5 (torchvision's), so torchvision's weights map
one to one. The max pool pads by one (explicit ``pool1_pad``, zeros equal -inf after a ReLU).

Deliberate deviations (also in each spec's ``deviations``): inputs normalised with the ImageNet mean
and std (torchvision's preprocessing, which the reference accuracies use); the paper's Torch models
used the same. DenseNet-161 is not in the paper's table 1 (its k = 32 networks are 121, 169, 201 and
264): it is the k = 48 network the authors released with the paper's code, and torchvision's.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from ..errors import UsageError
from ..registry import AFTER_RESNET, AccuracyRef, Deviation, Paper, Ref, register_model, single_crop
from ._common import BuildArgs, variant

__all__ = ["CONFIGS", "densenet121", "densenet161"]

PAPER = Paper(
    title="Densely Connected Convolutional Networks",
    authors="Gao Huang, Zhuang Liu, Laurens van der Maaten, Kilian Q. Weinberger",
    venue="CVPR 2017",
    year=2017,
    url="https://arxiv.org/abs/1608.06993",
)

#: name -> (growth rate k, layers in each dense block, stem filters)
CONFIGS: dict[str, tuple[int, tuple[int, int, int, int], int]] = {
    "densenet121": (32, (6, 12, 24, 16), 64),
    "densenet161": (48, (6, 12, 36, 24), 96),
}
BOTTLENECK = 4  # the 1x1 convolution of a dense layer has 4k filters
COMPRESSION = 0.5
INPUT_SIZE = 224
MIN_INPUT_SIZE = 32  # total stride 32
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def weight_layers(name: str) -> int:
    """The paper's depth: stem, two convolutions per dense layer, three transitions, classifier."""
    return 1 + 2 * sum(CONFIGS[name][1]) + 3 + 1


def _bn_relu(x: Any, name: str) -> Any:
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _conv(x: Any, filters: int, kernel_size: int, name: str, *, stride: int = 1) -> Any:
    padding = "valid" if kernel_size == 1 or stride > 1 else "same"
    return layers.Conv2D(filters, kernel_size, strides=stride, padding=padding, use_bias=False, name=name)(x)


def dense_layer(x: Any, growth: int, *, name: str) -> Any:
    """BN-ReLU-1x1 (4k) - BN-ReLU-3x3 (k), concatenated to the input."""
    y = _bn_relu(x, f"{name}_0")
    y = _conv(y, BOTTLENECK * growth, 1, f"{name}_1_conv")
    y = _bn_relu(y, f"{name}_1")
    y = _conv(y, growth, 3, f"{name}_2_conv")
    return layers.Concatenate(name=f"{name}_concat")([x, y])


def transition(x: Any, *, name: str) -> Any:
    """BN-ReLU-1x1 to half the channels, then 2x2/2 average pooling."""
    y = _bn_relu(x, name)
    y = _conv(y, int(int(x.shape[-1]) * COMPRESSION), 1, f"{name}_conv")
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(y)


def _densenet(config: str, args: BuildArgs, *, name: str | None = None) -> keras.Model:
    """Build the DenseNet ``config`` of :data:`CONFIGS`; ``name`` renames the model."""
    if config not in CONFIGS:
        raise UsageError(f"unknown DenseNet {config!r}; choose from {', '.join(CONFIGS)}")
    growth, blocks, stem = CONFIGS[config]
    inputs, x = args.input((INPUT_SIZE, INPUT_SIZE, 3), MIN_INPUT_SIZE)

    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = _conv(x, stem, 7, "conv1_conv", stride=2)
    x = _bn_relu(x, "conv1")  # 112 x 112
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)  # 56 x 56
    for stage, count in enumerate(blocks, start=2):
        for i in range(1, count + 1):
            x = dense_layer(x, growth, name=f"conv{stage}_block{i}")
        if stage < 1 + len(blocks):
            x = transition(x, name=f"pool{stage}")
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)  # 7 x 7 x 1024 (121) or 2208 (161) at 224 x 224

    def top(features):
        y = layers.GlobalAveragePooling2D(name="avg_pool")(features)
        return args.classifier(y)

    return args.finish(inputs, x, top, name=name)


# torchvision: pytorch/vision torchvision/models/densenet.py, the meta of DenseNet*_Weights.IMAGENET1K_V1
# (num_params, acc@1, acc@5, _ops in G-MACs).
_TORCHVISION = {
    "densenet121": ("DenseNet121", 7_978_856, 74.434, 91.972, 2.834),
    "densenet161": ("DenseNet161", 28_681_000, 77.138, 93.560, 7.728),
}
_TV_SOURCE = "torchvision {}_Weights.IMAGENET1K_V1 meta (pytorch/vision torchvision/models/densenet.py)"
# The paper's table 3: single-crop top-1 / top-5 error of DenseNet-121 on the validation set.
_PAPER_121 = (
    100 - 25.02,
    100 - 7.71,
    "Huang et al. 2017, table 3 (DenseNet-121: 25.02 / 7.71 % single-crop error)",
)
_SCOPE_PARAMS = "paper convention (BN moving statistics excluded), with classifier, 1000 classes"
_SCOPE_MACS = "multiply-adds of convolutions and dense layers, 224x224, with classifier"
_DEVIATIONS = (
    Deviation(
        "inputs normalised with the ImageNet mean and std",
        "torchvision's preprocessing, used by the reference accuracies quoted here",
    ),
)
_161_DEVIATION = Deviation(
    "DenseNet-161 (k = 48, 96 stem filters) is not in the paper's table 1",
    "the k = 48 network released with the paper's code and shipped by torchvision, whose weights and "
    "figures are quoted",
)


def _spec(name: str) -> dict[str, Any]:
    tv_name, tv_params, tv_top1, tv_top5, tv_gmacs = _TORCHVISION[name]
    tv_source = _TV_SOURCE.format(tv_name)
    accuracy = [
        AccuracyRef(tv_top1, tv_top5, tv_source, protocol=single_crop(INPUT_SIZE), weights="torchvision")
    ]
    if name == "densenet121":
        top1, top5, source = _PAPER_121
        accuracy.append(
            AccuracyRef(
                round(top1, 2), round(top5, 2), source, protocol=single_crop(INPUT_SIZE), weights="paper"
            )
        )
    return dict(
        display_name=f"DenseNet-{name.removeprefix('densenet')}",
        family="DenseNet",
        year=PAPER.year,
        paper=PAPER,
        input_shape=(INPUT_SIZE, INPUT_SIZE, 3),
        min_input_size=MIN_INPUT_SIZE,
        deviations=_DEVIATIONS + ((_161_DEVIATION,) if name == "densenet161" else ()),
        params_refs=(Ref(tv_params, tv_source, _SCOPE_PARAMS),),
        macs_refs=(
            Ref(tv_gmacs * 1e9, tv_source + ", _ops", _SCOPE_MACS, rtol=1e-3, note="rounded in G-MACs"),
        ),
        accuracy_refs=tuple(accuracy),
        depth_paper=weight_layers(name),
        tags=("dense-connectivity", AFTER_RESNET),
    )


def _register(name: str):
    """Register one row of :data:`CONFIGS` (option: ``name``)."""
    growth, blocks, stem = CONFIGS[name]
    doc = (
        f"DenseNet-{name.removeprefix('densenet')}: growth rate {growth}, dense blocks of {blocks} layers."
        "\n\nOption: ``name``; see :func:`_densenet`."
    )
    builder = variant(_densenet, name, name=name, doc=doc, options=("name",))
    return register_model(name=name, **_spec(name))(builder)


densenet121 = _register("densenet121")
densenet161 = _register("densenet161")
