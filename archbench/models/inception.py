"""Inception-v3 (a keras.applications wrapper) and Inception-v4 (an archbench builder).

Inception-v3: C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna, "Rethinking the Inception
Architecture for Computer Vision", CVPR 2016, https://arxiv.org/abs/1512.00567. ``inception_v3`` is
``keras.applications.InceptionV3`` behind archbench's signature (``implementation="keras.applications"``):
keras always gets ``weights=None`` and a local weights path is loaded by archbench. It has no auxiliary
classifier, so its counts are the inference network's.

Inception-v4: C. Szegedy, S. Ioffe, V. Vanhoucke, A. Alemi, "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning", AAAI 2017, https://arxiv.org/abs/1602.07261.
``inception_v4`` follows the paper's figures 3-9 as data: the stem (figure 3), 4 x Inception-A
(figure 4), Reduction-A with k=192, l=224, m=256, n=384 (figure 7 and table 1), 7 x Inception-B
(figure 5), Reduction-B (figure 8), 3 x Inception-C (figure 6), average pooling, dropout (keep 0.8)
and softmax (figure 9). Convolutions marked "V" are valid, all others same-padded.

Deliberate deviations of ``inception_v4`` (also in its spec's ``deviations``):

- Every convolution is conv (no bias) + batch norm + ReLU, with epsilon 1e-3 and momentum 0.9997: the
  figures show plain convolutions; the text puts batch norm on top of the traditional layers, and the
  reference TF-slim and timm implementations use exactly this unit. Batch norm keeps its scale (gamma)
  as timm's port does, so the parameter count equals timm's; TF-slim's own checkpoint has no gamma
  (``batch_norm_scale=False``).
- The branches of a module are concatenated in TF-slim's order (1x1, 3x3 / 1x7 tower, double tower,
  pool), not in the figures' left-to-right order: the same function up to a channel permutation, and
  the order of every implementation with weights.
- Asymmetric convolutions keep the figures' order (Inception-B: 1x7 before 7x1; Inception-C: 1x3 448 then
  3x1 512; stem: 7x1 before 1x7); TF-slim and timm swap some of them (same parameters and MACs, so their
  weights do not transfer to those layers unchanged).
- The final 8x8 average pool is a global average pool (identical at 299x299, defined at other sizes).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import keras
from keras import layers

from ..registry import CHART, AccuracyRef, Deviation, Paper, Preprocessing, Ref, register_model, single_crop
from ._blocks import Conv, Pool, keras_padding, pool2d
from ._common import BuildArgs, variant
from .keras_apps import KERAS_TABLE, wrap_application

__all__ = [
    "Split",
    "V4_BLOCKS",
    "V4_LAYOUT",
    "V4_STEM",
    "inception_v3",
    "inception_v4",
]


# --- Inception-v3: keras.applications ---------------------------------------------------------------

_V3_SIZE = 299
_V3_MIN = 75
_V3_KERAS_TOP1, _V3_KERAS_TOP5, _V3_KERAS_PARAMS = KERAS_TABLE["InceptionV3"]
_INCEPTION_PREPROCESSING = Preprocessing(
    resize=342, crop=299, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), scale=1.0 / 255.0
)


inception_v3 = register_model(
    display_name="Inception-v3 (keras.applications)",
    family="Inception",
    year=2015,
    paper=Paper(
        title="Rethinking the Inception Architecture for Computer Vision",
        authors="C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna",
        venue="CVPR 2016",
        year=2016,
        url="https://arxiv.org/abs/1512.00567",
    ),
    input_shape=(_V3_SIZE, _V3_SIZE, 3),
    min_input_size=_V3_MIN,
    implementation="keras.applications",
    deviations=(
        Deviation(
            "keras.applications.InceptionV3, not an archbench builder; no auxiliary classifier",
            "keras ships the reference Keras implementation; the auxiliary head only matters in training",
        ),
    ),
    params_refs=(
        Ref(
            _V3_KERAS_PARAMS,
            source="keras.io/api/applications, table of available models",
            scope="total weights (model.count_params(), batch-norm moving statistics included), with "
            "classifier, 1000 classes, 299x299",
            rtol=0.002,
            note="keras.io counts the batch-norm moving means and variances (2 x 17,216) as parameters; "
            "archbench's paper count leaves them out",
        ),
        Ref(
            27_161_264,
            source="torchvision Inception_V3_Weights.IMAGENET1K_V1 meta",
            scope="torchvision's implementation: auxiliary classifier included, batch-norm scale included, "
            "running statistics excluded",
            rtol=0.15,
            note="another scope: torchvision counts the auxiliary head (1x1 conv 768->128 + BN, 5x5 conv "
            "128->768 + BN, FC 768->1000: 3,326,696) and batch-norm gammas (17,216 channels), which "
            "keras' InceptionV3 does not have (batch norm with scale=False)",
        ),
    ),
    macs_refs=(
        Ref(
            5_000_000_000,
            source="Szegedy et al. 2016 (arXiv 1512.00567), abstract: 'a computational cost of 5 billion "
            "multiply-adds per inference'",
            scope="multiply-adds per inference, 299x299",
            rtol=0.15,
            note="a rounded figure from the abstract",
        ),
        Ref(
            5_713_000_000,
            source="torchvision Inception_V3_Weights.IMAGENET1K_V1 meta, GFLOPS field (fvcore multiply-adds)",
            scope="torchvision's implementation at 299x299",
            rtol=0.001,
            note="the same convolution and linear shapes; torchvision rounds to three decimals",
        ),
    ),
    accuracy_refs=(
        AccuracyRef(
            _V3_KERAS_TOP1,
            _V3_KERAS_TOP5,
            source="keras.io/api/applications, table of available models",
            note="keras' ImageNet weights for this very implementation; one centre crop at 299 "
            "(keras-applications README, 'Performance')",
            protocol=single_crop(_V3_SIZE),
            weights="keras.applications",
        ),
        AccuracyRef(
            78.8,
            94.4,
            source="Szegedy et al. 2016 (arXiv 1512.00567), abstract: '21.2% top-1 and 5.6% top-5 error "
            "for single frame evaluation'",
            note="the authors' own network (trained with the auxiliary classifier and label smoothing), "
            "not the weights keras ships",
            protocol=single_crop(_V3_SIZE),
            weights="paper",
        ),
        AccuracyRef(
            77.294,
            93.450,
            source="torchvision Inception_V3_Weights.IMAGENET1K_V1 meta",
            note="torchvision's implementation (weights ported from TensorFlow), 299 crop after resize to 342",
            protocol=single_crop(_V3_SIZE),
            weights="torchvision",
        ),
    ),
    depth_paper=None,
    preprocessing=_INCEPTION_PREPROCESSING,
)(
    wrap_application(
        keras.applications.InceptionV3,
        name="inception_v3",
        min_size=_V3_MIN,
        doc="Inception-v3 (Szegedy et al., CVPR 2016) as keras.applications.InceptionV3 "
        "(wrapped, weights=None).",
    )
)


# --- Inception-v4: the paper's figures as data ------------------------------------------------------


class Split(NamedTuple):
    """Convolutions applied side by side to the same tensor and concatenated (Inception-C's forks)."""

    convs: tuple[Conv, ...]


Branch = tuple[Conv | Pool | Split, ...]
Block = tuple[Branch, ...]

# The rows are the zoo's Conv (kernel as (height, width); "same" unless the figures' "V") and Pool:
# Pool("max") is the reductions' 3x3/2 valid max pool, _AVG the modules' 3x3/1 same average pool.
_3x3 = (3, 3)
_V = dict(pad="valid")
_AVG = Pool("avg", stride=1, pad="same")

V4_STEM: tuple[Conv, ...] = (
    Conv(32, _3x3, 2, "valid"),  # 149 x 149 x 32
    Conv(32, _3x3, 1, "valid"),  # 147 x 147 x 32
    Conv(64, _3x3),  # 147 x 147 x 64
)
"""Figure 3, the three plain convolutions before the first filter concatenation."""


def _reduction_a(k: int, l: int, m: int, n: int) -> Block:  # noqa: E741  (the paper's letters)
    return (
        (Conv(n, _3x3, 2, **_V),),
        (Conv(k), Conv(l, _3x3), Conv(m, _3x3, 2, **_V)),
        (Pool("max"),),
    )


V4_BLOCKS: dict[str, Block] = {
    # figure 3: 73 x 73 x 160, 71 x 71 x 192, 35 x 35 x 384
    "mixed_3a": ((Pool("max"),), (Conv(96, _3x3, 2, **_V),)),
    "mixed_4a": (
        (Conv(64), Conv(96, _3x3, **_V)),
        (Conv(64), Conv(64, (7, 1)), Conv(64, (1, 7)), Conv(96, _3x3, **_V)),
    ),
    "mixed_5a": ((Conv(192, _3x3, 2, **_V),), (Pool("max"),)),
    # figure 4: 35 x 35 x 384
    "inception_a": (
        (Conv(96),),
        (Conv(64), Conv(96, _3x3)),
        (Conv(64), Conv(96, _3x3), Conv(96, _3x3)),
        (_AVG, Conv(96)),
    ),
    # figure 7 with table 1's Inception-v4 row: 17 x 17 x 1024
    "reduction_a": _reduction_a(k=192, l=224, m=256, n=384),
    # figure 5: 17 x 17 x 1024
    "inception_b": (
        (Conv(384),),
        (Conv(192), Conv(224, (1, 7)), Conv(256, (7, 1))),
        (Conv(192), Conv(192, (1, 7)), Conv(224, (7, 1)), Conv(224, (1, 7)), Conv(256, (7, 1))),
        (_AVG, Conv(128)),
    ),
    # figure 8: 8 x 8 x 1536
    "reduction_b": (
        (Conv(192), Conv(192, _3x3, 2, **_V)),
        (Conv(256), Conv(256, (1, 7)), Conv(320, (7, 1)), Conv(320, _3x3, 2, **_V)),
        (Pool("max"),),
    ),
    # figure 6: 8 x 8 x 1536
    "inception_c": (
        (Conv(256),),
        (Conv(384), Split((Conv(256, (1, 3)), Conv(256, (3, 1))))),
        (Conv(384), Conv(448, (1, 3)), Conv(512, (3, 1)), Split((Conv(256, (1, 3)), Conv(256, (3, 1))))),
        (_AVG, Conv(256)),
    ),
}
"""Every module of Inception-v4, branch by branch (see the module docstring for the branch order)."""

V4_LAYOUT: tuple[tuple[str, int], ...] = (
    ("mixed_3a", 1),
    ("mixed_4a", 1),
    ("mixed_5a", 1),
    ("inception_a", 4),
    ("reduction_a", 1),
    ("inception_b", 7),
    ("reduction_b", 1),
    ("inception_c", 3),
)
"""Figure 9: the modules after the stem's first convolutions and how often each repeats."""

_V4_SIZE = 299
_V4_MIN = 75
_BN = dict(epsilon=1e-3, momentum=0.9997)


def _conv_bn(x: Any, spec: Conv, name: str) -> Any:
    x, padding = keras_padding(x, spec.pad, spec.kernel, spec.stride, name)
    x = layers.Conv2D(
        spec.filters,
        spec.kernel,
        strides=spec.stride,
        padding=padding,
        groups=spec.groups,
        use_bias=False,
        name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(**_BN, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _apply(x: Any, op: Conv | Pool | Split, name: str) -> Any:
    if isinstance(op, Conv):
        return _conv_bn(x, op, name)
    if isinstance(op, Pool):
        return pool2d(x, op, f"{name}_{op.kind}pool")
    parts = [_conv_bn(x, conv, f"{name}{chr(ord('a') + i)}") for i, conv in enumerate(op.convs)]
    return layers.Concatenate(axis=-1, name=f"{name}_concat")(parts)


def v4_block(x: Any, block: Block, name: str) -> Any:
    """Run each branch of ``block`` on ``x`` and concatenate them (layers named ``{name}_b{i}_{j}_*``)."""
    outs = []
    for i, branch in enumerate(block):
        y = x
        for j, op in enumerate(branch):
            y = _apply(y, op, f"{name}_b{i}_{j}")
        outs.append(y)
    return layers.Concatenate(axis=-1, name=name)(outs)


_V4_PAPER = Paper(
    title="Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
    authors="C. Szegedy, S. Ioffe, V. Vanhoucke, A. Alemi",
    venue="AAAI 2017",
    year=2017,
    url="https://arxiv.org/abs/1602.07261",
)


def _inception_v4(
    layout: tuple[tuple[str, int], ...], args: BuildArgs, *, name: str | None = None
) -> keras.Model:
    """Figure 9: the stem, then the modules of ``layout``, each repeated; ``name`` renames the model."""
    inputs, x = args.input((_V4_SIZE, _V4_SIZE, 3), _V4_MIN)
    for i, conv in enumerate(V4_STEM):
        x = _conv_bn(x, conv, f"stem_{i}")
    for block_name, repeat in layout:
        for r in range(repeat):
            x = v4_block(x, V4_BLOCKS[block_name], f"{block_name}{r + 1}" if repeat > 1 else block_name)
    # 8 x 8 x 1536

    def top(features):
        y = layers.GlobalAveragePooling2D(name="avg_pool")(features)
        y = layers.Dropout(0.2, name="dropout")(y)
        return args.classifier(y)

    return args.finish(inputs, x, top, name=name)


inception_v4 = register_model(
    display_name="Inception-v4",
    family="Inception",
    year=2016,
    paper=_V4_PAPER,
    input_shape=(_V4_SIZE, _V4_SIZE, 3),
    min_input_size=_V4_MIN,
    deviations=(
        Deviation(
            "conv (no bias) + batch norm (with gamma, eps 1e-3) + ReLU for every convolution",
            "the paper applies batch norm to the traditional layers; TF-slim and timm use this unit "
            "(timm keeps gamma, TF-slim does not), so counts match timm",
        ),
        Deviation(
            "branches concatenated in TF-slim's order, not the figures' left-to-right order",
            "same function up to a channel permutation; the order of the implementations with weights",
        ),
        Deviation(
            "asymmetric convolutions in the figures' order (TF-slim/timm swap 1x7/7x1 in the stem and "
            "Inception-B, 1x3/3x1 in Inception-C)",
            "we follow the paper; parameters and MACs are identical either way",
        ),
        Deviation(
            "global average pool instead of the 8x8 average pool",
            "identical at 299x299; defined at other input sizes",
        ),
    ),
    params_refs=(
        Ref(
            42_679_816,
            source="timm inception_v4 (huggingface/pytorch-image-models, timm/models/inception_v4.py), "
            "sum of parameters()",
            scope="with classifier, 1000 classes; batch-norm gamma and beta counted, running statistics "
            "not (archbench's 'paper' convention)",
        ),
    ),
    accuracy_refs=(
        AccuracyRef(
            80.21,
            95.20,
            "OpenVINO Open Model Zoo, googlenet-v4-tf (the TF-slim inception_v4 checkpoint): "
            "docs.openvino.ai/2021.1/omz_models_public_googlenet_v4_tf_googlenet_v4_tf.html",
            note="a released checkpoint of this architecture evaluated by a third party, not the paper's table",
            protocol=single_crop(299),
            weights="TF-slim",
        ),
        AccuracyRef(
            80.0,
            None,
            "Canziani et al. 2016, figure 1 (read off the chart)",
            note="approximate (about +-1 point): the paper gives its single-crop figures only as a chart",
            protocol=CHART,
            weights="Canziani et al.",
        ),
    ),
    depth_paper=None,
    preprocessing=Preprocessing(
        resize=342,
        crop=299,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        scale=1.0 / 255.0,
        interpolation="bicubic",
    ),
)(
    variant(
        _inception_v4,
        V4_LAYOUT,
        name="inception_v4",
        doc="Inception-v4 (Szegedy et al., AAAI 2017), figures 3-9, with batch norm after every convolution.",
        options=("name",),
    )
)
