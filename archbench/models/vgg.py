"""VGG: Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition".

ICLR 2015, arXiv 1409.1556 (https://arxiv.org/abs/1409.1556); the ILSVRC 2014 classification runner-up.

The four configurations of the paper's table 1 that torchvision and keras.applications ship are one
table, :data:`CONFIGS`, keyed by the paper's column letters; one builder, :func:`_vgg`, reads it:

    A (VGG-11)   B (VGG-13)   D (VGG-16)   E (VGG-19)

Every convolution is 3x3, stride 1, padding 1, followed by ReLU; each block ends in a 2x2/2 max pool;
then fc6 (4096) - dropout 0.5 - fc7 (4096) - dropout 0.5 - fc8 (classes) - softmax. Layer names follow
keras.applications' VGG16/VGG19 (``block1_conv1`` ... ``block5_pool``, ``flatten``, ``fc1`` = fc6,
``fc2`` = fc7, ``predictions`` = fc8) so that keras weights load by name; the dropout layers carry no
weights. The ``*_bn`` variants insert batch norm between each convolution and its ReLU, as torchvision.

Not built: configuration A-LRN (the paper found LRN useless) and C (1x1 convolutions in blocks 3-5).

Deliberate deviations (also in each spec's ``deviations``):

- Fully connected head at 224x224 (the training-time network). At test time the paper turns fc6-fc8
  into 7x7 and 1x1 convolutions applied densely to the whole rescaled image; the single-crop form is
  what keras.applications and torchvision ship and what their reference accuracies measure (the
  weights are the same tensors, reshaped). ``include_top=True`` therefore needs a 224x224 input.
- Glorot-uniform initialisation (Keras' default) instead of training configuration A first and
  copying its layers into the deeper nets; the paper notes Glorot initialisation works without it.
- Inputs normalised with the ImageNet mean and standard deviation (torchvision's preprocessing, which
  its reference accuracies use); the paper only subtracts the mean RGB value.
- ``*_bn`` only: batch norm (epsilon 1e-5, momentum 0.9 in Keras' convention = torchvision's 0.1) after
  every convolution, which keeps its bias, as torchvision does, so its weights map one to one.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import keras
from keras import layers

from ..errors import UsageError
from ..registry import AccuracyRef, Deviation, ILSVRCEntry, Paper, Ref, register_model, single_crop
from ._common import BuildArgs, variant

__all__ = [
    "CONFIGS",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
]

PAPER = Paper(
    title="Very Deep Convolutional Networks for Large-Scale Image Recognition",
    authors="Karen Simonyan, Andrew Zisserman",
    venue="ICLR 2015",
    year=2015,
    url="https://arxiv.org/abs/1409.1556",
)

#: Table 1 of the paper: the output channels of each 3x3 convolution, one tuple per max-pooled block.
CONFIGS: dict[str, tuple[tuple[int, ...], ...]] = {
    "A": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "B": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "D": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "E": ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512)),
}

FC_UNITS = 4096
INPUT_SIZE = 224
MIN_INPUT_SIZE = 32  # five 2x2/2 pools
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def weight_layers(config: str) -> int:
    """The paper's depth: convolutions plus the three fully connected layers."""
    return sum(len(block) for block in CONFIGS[config]) + 3


def _vgg(
    config: str, args: BuildArgs, *, batch_norm: bool = False, dropout: float = 0.5, name: str | None = None
) -> keras.Model:
    """Build VGG configuration ``config`` ("A", "B", "D" or "E") of the paper's table 1.

    ``batch_norm`` adds batch norm after every convolution (torchvision's ``vgg*_bn``); ``dropout`` is
    the rate after fc6 and fc7; ``name`` renames the model. With ``include_top=True`` the input must
    be 224x224 (the flattened 7x7x512 map feeds fc6); without it any size from 32x32 works.
    """
    if config not in CONFIGS:
        raise UsageError(f"unknown VGG configuration {config!r}; choose from {', '.join(CONFIGS)}")
    if not 0.0 <= dropout < 1.0:
        raise UsageError(f"dropout must be in [0, 1), got {dropout!r}")
    inputs, x = args.input((INPUT_SIZE, INPUT_SIZE, 3), MIN_INPUT_SIZE, fixed_size=args.include_top)

    for b, block in enumerate(CONFIGS[config], start=1):
        for c, width in enumerate(block, start=1):
            conv = f"block{b}_conv{c}"
            x = layers.Conv2D(width, 3, padding="same", activation=None if batch_norm else "relu", name=conv)(
                x
            )
            if batch_norm:
                x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{conv}_bn")(x)
                x = layers.Activation("relu", name=f"{conv}_relu")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
    # 7 x 7 x 512 at 224 x 224

    def top(features):
        y = layers.Flatten(name="flatten")(features)
        y = layers.Dense(FC_UNITS, activation="relu", name="fc1")(y)
        y = layers.Dropout(dropout, name="fc1_dropout")(y)
        y = layers.Dense(FC_UNITS, activation="relu", name="fc2")(y)
        y = layers.Dropout(dropout, name="fc2_dropout")(y)
        return args.classifier(y)

    return args.finish(inputs, x, top, name=name)


# Reference figures, keyed by configuration. torchvision: pytorch/vision torchvision/models/vgg.py,
# the meta of each VGG*_Weights.IMAGENET1K_V1 (num_params, acc@1, acc@5, _ops in G-MACs).
_TORCHVISION = {
    ("A", False): (132_863_336, 69.020, 88.628, 7.609),
    ("A", True): (132_868_840, 70.370, 89.810, 7.609),
    ("B", False): (133_047_848, 69.928, 89.246, 11.308),
    ("B", True): (133_053_736, 71.586, 90.374, 11.308),
    ("D", False): (138_357_544, 71.592, 90.382, 15.470),
    ("D", True): (138_365_992, 73.360, 91.516, 15.470),
    ("E", False): (143_667_240, 72.376, 90.876, 19.632),
    ("E", True): (143_678_248, 74.218, 91.842, 19.632),
}
# keras.applications table (keras.io/api/applications): params, top-1, top-5.
_KERAS = {"D": ("VGG16", 138_357_544, 71.3, 90.1), "E": ("VGG19", 143_667_240, 71.3, 90.0)}
# The paper's table 2, "number of parameters (in millions)".
_PAPER_PARAMS_M = {"A": 133, "B": 133, "D": 138, "E": 144}
# He et al. 2016 (arXiv 1512.03385), section 4.1: "VGG-16/19 nets (15.3/19.6 billion FLOPs)",
# FLOPs meaning multiply-adds there; 15.3 looks like the convolutions alone (15.35 G; 15.47 G with fc).
_HE_MACS_G = {"D": (15.3, 0.015), "E": (19.6, 0.005)}

_SCOPE_PARAMS = "paper convention (BN moving statistics excluded), with classifier, 1000 classes"
_SCOPE_MACS = "multiply-adds of convolutions and dense layers, 224x224, with classifier"
_TV_SOURCE = "torchvision {}_Weights.IMAGENET1K_V1 meta (pytorch/vision torchvision/models/vgg.py)"

_DEVIATIONS = (
    Deviation(
        "fully connected head on a 224x224 crop; the paper evaluates densely, with fc6-fc8 as convolutions",
        "the single-crop form is what keras.applications and torchvision ship and what their reference "
        "accuracies measure; the weights are the same tensors reshaped",
    ),
    Deviation(
        "Glorot-uniform initialisation instead of initialising the deeper nets from a trained config A",
        "the paper notes that Glorot & Bengio's initialisation works without the pre-training stage",
    ),
    Deviation(
        "inputs normalised with the ImageNet mean and std; the paper subtracts the mean RGB value only",
        "torchvision's preprocessing, used by the reference accuracies quoted here",
    ),
)
_BN_DEVIATION = Deviation(
    "batch norm (epsilon 1e-5) between every convolution and its ReLU, convolution bias kept",
    "not in the paper, which predates batch norm; torchvision's vgg*_bn variants, which train from "
    "scratch without staged initialisation; the bias is kept so torchvision weights map one to one",
)
_ILSVRC = ILSVRCEntry(
    year=2014,
    team="VGG",
    place=2,
    top5_error=7.3,
    source="Russakovsky et al., IJCV 2015",
    note="the submission was an ensemble of 7 ConvNets, not one network",
)


def _spec(config: str, batch_norm: bool) -> dict[str, Any]:
    depth = weight_layers(config)
    tv_name = f"VGG{depth}{'_BN' if batch_norm else ''}"
    tv_params, tv_top1, tv_top5, tv_gmacs = _TORCHVISION[config, batch_norm]
    tv_source = _TV_SOURCE.format(tv_name)
    params = [Ref(tv_params, tv_source, _SCOPE_PARAMS)]
    macs = [
        Ref(tv_gmacs * 1e9, tv_source + ", _ops", _SCOPE_MACS, rtol=1e-3, note="given to 3 decimals in G")
    ]
    accuracy = [
        AccuracyRef(tv_top1, tv_top5, tv_source, protocol=single_crop(INPUT_SIZE), weights="torchvision")
    ]
    if not batch_norm:
        params.append(
            Ref(
                _PAPER_PARAMS_M[config] * 1e6,
                "Simonyan & Zisserman 2015, table 2",
                _SCOPE_PARAMS,
                rtol=0.005,
                note="rounded to millions",
            )
        )
        if config in _KERAS:
            keras_name, keras_params, keras_top1, keras_top5 = _KERAS[config]
            source = f"keras.applications {keras_name} (keras.io/api/applications)"
            params.append(Ref(keras_params, source, _SCOPE_PARAMS))
            accuracy.append(
                AccuracyRef(
                    keras_top1,
                    keras_top5,
                    source,
                    protocol=single_crop(INPUT_SIZE),
                    weights="keras.applications",
                )
            )
        if config in _HE_MACS_G:
            value, rtol = _HE_MACS_G[config]
            macs.append(
                Ref(
                    value * 1e9,
                    "He et al. 2016 (arXiv 1512.03385), section 4.1",
                    _SCOPE_MACS,
                    rtol=rtol,
                    note="'FLOPs' there are multiply-adds; rounded to 0.1 G, apparently convolutions only",
                )
            )
    return dict(
        display_name=f"VGG-{depth}{' (BN)' if batch_norm else ''}",
        family="VGG",
        year=PAPER.year,
        paper=PAPER,
        input_shape=(INPUT_SIZE, INPUT_SIZE, 3),
        min_input_size=MIN_INPUT_SIZE,
        deviations=_DEVIATIONS + ((_BN_DEVIATION,) if batch_norm else ()),
        params_refs=tuple(params),
        macs_refs=tuple(macs),
        accuracy_refs=tuple(accuracy),
        ilsvrc=_ILSVRC if depth in (16, 19) and not batch_norm else None,
        depth_paper=depth,
        tags=("batch_norm",) if batch_norm else (),
    )


def _register(config: str, *, batch_norm: bool = False):
    """Register the builder of one configuration (options: ``dropout``, ``name``)."""
    depth = weight_layers(config)
    name = f"vgg{depth}{'_bn' if batch_norm else ''}"
    doc = (
        f"VGG-{depth}, configuration {config} of table 1"
        + (", with batch norm after every convolution." if batch_norm else ".")
        + "\n\nOptions: ``dropout`` (0.5), ``name``; see :func:`_vgg`."
    )
    build = partial(_vgg, batch_norm=batch_norm)
    builder = variant(build, config, name=name, doc=doc, options=("dropout", "name"))
    return register_model(name=name, **_spec(config, batch_norm))(builder)


vgg11 = _register("A")
vgg13 = _register("B")
vgg16 = _register("D")
vgg19 = _register("E")
vgg11_bn = _register("A", batch_norm=True)
vgg13_bn = _register("B", batch_norm=True)
vgg16_bn = _register("D", batch_norm=True)
vgg19_bn = _register("E", batch_norm=True)
