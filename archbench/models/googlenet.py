"""GoogLeNet (Inception-v1).

Reference: C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, V. Vanhoucke,
A. Rabinovich, "Going deeper with convolutions", CVPR 2015, https://arxiv.org/abs/1409.4842.
The network is the paper's table 1, row by row; its inception rows are :data:`INCEPTION_TABLE`, read by
one builder. Layers are named after the Caffe replication (``inception_3a/1x1`` -> ``inception_3a_1x1``),
BVLC ``models/bvlc_googlenet/train_val.prototxt``, so its weights can be matched by layer name.

What the paper says and we keep: ReLU after every convolution, inside the inception modules too;
convolutions with biases and no batch norm; real 5x5 convolutions in the 5x5 branch (torchvision's
GoogLeNet uses 3x3 there, a known slip kept for its weights: pytorch/vision#906); local response
normalisation after pool1 and after conv2 (figure 3); dropout 40 % before the linear classifier;
two auxiliary classifiers on 4a and 4d for training, their losses weighted by 0.3
(:data:`AUX_LOSS_WEIGHT`, section 5).

Deliberate deviations, each also in the spec's ``deviations``:

- LRN parameters are the Caffe model's (size 5, alpha 1e-4 divided by the size, beta 0.75, k 1): the
  paper gives none.
- Padding follows the Caffe replication: conv1 is padded by 3 on every side and the stride-2 max pools
  round up (Caffe's ceil mode), done here with an explicit zero pad on the bottom/right edge followed by
  a valid pool. This gives exactly table 1's sizes (224 -> 112 -> 56 -> 28 -> 14 -> 7); floor rounding
  would give 55 after pool1. Zero padding equals Caffe's "ignore the outside" because every pooled
  tensor is non-negative (it follows a ReLU, or LRN of a ReLU output).
- The final 7x7 average pool is a global average pool, identical at 224x224 and defined at other sizes.
- The auxiliary classifiers are left out unless ``aux_logits=True``: the paper discards them at
  inference, so the default (inference) model and its counts do not include them.

``googlenet_bn`` is torchvision's GoogLeNet (``torchvision.models.googlenet``, weights ported from
TensorFlow), built by the same table-driven code with :data:`TORCHVISION_VARIANT`: every convolution is
conv (no bias) + batch norm (epsilon 1e-3) + ReLU, the "5x5" branch has a 3x3 convolution
(pytorch/vision#906), no LRN, a 2x2 max pool between stages 4 and 5, dropout 20 %, and no auxiliary
classifiers (torchvision's are not trained in its weights). Layer names are the paper model's, so
``archbench.convert`` maps torchvision's module names onto them one to one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import keras
from keras import layers

from ..errors import InputTooSmallError, UsageError
from ..layers import LocalResponseNormalization
from ..registry import (
    AccuracyRef,
    Deviation,
    ILSVRCEntry,
    Paper,
    Preprocessing,
    Ref,
    register_model,
    single_crop,
)
from ._common import BuildArgs, variant

__all__ = [
    "AUX_LOSS_WEIGHT",
    "AUX_SOURCES",
    "INCEPTION_TABLE",
    "InceptionRow",
    "LOSS_WEIGHTS",
    "PAPER_VARIANT",
    "TORCHVISION_VARIANT",
    "Variant",
    "googlenet",
    "googlenet_bn",
    "inception_module",
]

AUX_LOSS_WEIGHT = 0.3
"""Weight of each auxiliary classifier's loss in training (paper, section 5: "weighted by 0.3")."""

LOSS_WEIGHTS = (1.0, AUX_LOSS_WEIGHT, AUX_LOSS_WEIGHT)
"""Loss weights for the outputs ``[main, aux1, aux2]`` of ``googlenet(aux_logits=True)``."""

AUX_SOURCES = ("4a", "4d")
"""The inception modules whose outputs feed the two auxiliary classifiers (figure 3)."""


class InceptionRow(NamedTuple):
    """One inception row of table 1: filters per branch (``pool_proj`` is the 1x1 after the 3x3 max pool)."""

    name: str
    n1x1: int
    n3x3_reduce: int
    n3x3: int
    n5x5_reduce: int
    n5x5: int
    pool_proj: int

    @property
    def out_channels(self) -> int:
        return self.n1x1 + self.n3x3 + self.n5x5 + self.pool_proj


INCEPTION_TABLE: tuple[InceptionRow, ...] = (
    InceptionRow("3a", 64, 96, 128, 16, 32, 32),
    InceptionRow("3b", 128, 128, 192, 32, 96, 64),
    InceptionRow("4a", 192, 96, 208, 16, 48, 64),
    InceptionRow("4b", 160, 112, 224, 24, 64, 64),
    InceptionRow("4c", 128, 128, 256, 24, 64, 64),
    InceptionRow("4d", 112, 144, 288, 32, 64, 64),
    InceptionRow("4e", 256, 160, 320, 32, 128, 128),
    InceptionRow("5a", 256, 160, 320, 32, 128, 128),
    InceptionRow("5b", 384, 192, 384, 48, 128, 128),
)
"""Table 1's inception rows, in order; a stride-2 max pool sits between stages 3, 4 and 5."""


class Variant(NamedTuple):
    """What distinguishes the builds of table 1: the paper's (Caffe) network and torchvision's."""

    batch_norm: bool
    """conv (no bias) + batch norm + ReLU for every convolution, instead of conv with bias + ReLU."""
    n5x5_kernel: int
    """Kernel of the second convolution of the "5x5" branch (torchvision: 3, pytorch/vision#906)."""
    lrn: bool
    """Local response normalisation after pool1 and after conv2."""
    pool4_size: int
    """Window of the stride-2 max pool between stages 4 and 5 (table 1: 3; torchvision: 2)."""
    dropout: float
    """Dropout rate before the classifier."""


PAPER_VARIANT = Variant(batch_norm=False, n5x5_kernel=5, lrn=True, pool4_size=3, dropout=0.4)
TORCHVISION_VARIANT = Variant(batch_norm=True, n5x5_kernel=3, lrn=False, pool4_size=2, dropout=0.2)
_BN_EPSILON = 1e-3  # torchvision's BasicConv2d

_LRN = dict(size=5, alpha=1e-4, beta=0.75, k=1.0, alpha_over_size=True)
_DEFAULT_SHAPE = (224, 224, 3)
_MIN_SIZE = 31  # 31 -> 16 -> 8 -> 4 -> 2 -> 1; at 30 pool4 would get a 1x1 map
_AUX_MIN_SIZE = 5


def _conv(
    x: Any,
    filters: int,
    kernel: int,
    name: str,
    *,
    strides: int = 1,
    padding: str = "same",
    batch_norm: bool = False,
) -> Any:
    conv = layers.Conv2D(
        filters, kernel, strides=strides, padding=padding, use_bias=not batch_norm, name=name
    )
    x = conv(x)
    if batch_norm:
        x = layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _ceil_pad(size: int, window: int, stride: int) -> int:
    """Extra bottom/right padding that turns a valid pool into Caffe's ceil-mode pool."""
    out = -(-(size - window) // stride) + 1
    return max((out - 1) * stride + window - size, 0)


def _max_pool_ceil(x: Any, name: str, *, size: int = 3, stride: int = 2) -> Any:
    """A stride-2 max pool with Caffe's ceil rounding (for non-negative inputs)."""
    h, w = x.shape[1], x.shape[2]
    if h is None or w is None:
        # unknown size: "same" equals ceil mode whenever the size is even, as on the 224 path
        return layers.MaxPooling2D(size, stride, padding="same", name=name)(x)
    pad_h, pad_w = _ceil_pad(h, size, stride), _ceil_pad(w, size, stride)
    if pad_h or pad_w:
        x = layers.ZeroPadding2D(((0, pad_h), (0, pad_w)), name=f"{name}_pad")(x)
    return layers.MaxPooling2D(size, stride, padding="valid", name=name)(x)


def inception_module(x: Any, row: InceptionRow, variant: Variant = PAPER_VARIANT) -> Any:
    """Figure 2(b): 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1, concatenated (ReLU after each conv).

    With ``variant=TORCHVISION_VARIANT`` the "5x5" convolution (still named ``..._5x5``) is a 3x3.
    """
    p = f"inception_{row.name}"
    bn = variant.batch_norm
    b1 = _conv(x, row.n1x1, 1, f"{p}_1x1", batch_norm=bn)
    b2 = _conv(x, row.n3x3_reduce, 1, f"{p}_3x3_reduce", batch_norm=bn)
    b2 = _conv(b2, row.n3x3, 3, f"{p}_3x3", batch_norm=bn)
    b3 = _conv(x, row.n5x5_reduce, 1, f"{p}_5x5_reduce", batch_norm=bn)
    b3 = _conv(b3, row.n5x5, variant.n5x5_kernel, f"{p}_5x5", batch_norm=bn)
    b4 = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{p}_pool")(x)
    b4 = _conv(b4, row.pool_proj, 1, f"{p}_pool_proj", batch_norm=bn)
    return layers.Concatenate(axis=-1, name=p)([b1, b2, b3, b4])


def _aux_classifier(x: Any, index: int, args: BuildArgs) -> Any:
    """Section 5: avg pool 5x5/3 (valid), 1x1 conv 128, FC 1024, dropout 70 %, linear + softmax."""
    p = f"aux{index}"
    if min(d for d in x.shape[1:3] if d is not None) < _AUX_MIN_SIZE:
        raise InputTooSmallError(
            f"googlenet: the auxiliary classifier on {AUX_SOURCES[index - 1]} needs a feature map of at "
            f"least {_AUX_MIN_SIZE}x{_AUX_MIN_SIZE}, got {x.shape[1]}x{x.shape[2]}; use a larger input "
            "or aux_logits=False"
        )
    x = layers.AveragePooling2D(5, strides=3, padding="valid", name=f"{p}_avg_pool")(x)
    x = _conv(x, 128, 1, f"{p}_conv")
    x = layers.Flatten(name=f"{p}_flatten")(x)
    x = layers.Dense(1024, name=f"{p}_fc")(x)
    x = layers.ReLU(name=f"{p}_fc_relu")(x)
    x = layers.Dropout(0.7, name=f"{p}_dropout")(x)
    return args.classifier(x, name=f"{p}_predictions")


def _googlenet(
    config: Variant, args: BuildArgs, *, aux_logits: bool = False, name: str | None = None
) -> keras.Model:
    """Table 1, read row by row, in the variant ``config``; ``name`` renames the model.

    ``aux_logits=True`` adds the two auxiliary classifiers (on 4a and 4d) and returns a model with three
    outputs ``[main, aux1, aux2]``.
    """
    if aux_logits and not args.include_top:
        raise UsageError(
            f"{args.name}: aux_logits=True needs include_top=True (the auxiliary heads are classifiers)"
        )
    inputs, x = args.input(_DEFAULT_SHAPE, _MIN_SIZE)
    bn = config.batch_norm
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = _conv(x, 64, 7, "conv1", strides=2, padding="valid", batch_norm=bn)  # 112 x 112 x 64
    x = _max_pool_ceil(x, "pool1")  # 56 x 56 x 64
    if config.lrn:
        x = LocalResponseNormalization(**_LRN, name="norm1")(x)
    x = _conv(x, 64, 1, "conv2_reduce", batch_norm=bn)
    x = _conv(x, 192, 3, "conv2", batch_norm=bn)  # 56 x 56 x 192
    if config.lrn:
        x = LocalResponseNormalization(**_LRN, name="norm2")(x)
    x = _max_pool_ceil(x, "pool2")  # 28 x 28 x 192

    aux_inputs = []
    stage = INCEPTION_TABLE[0].name[0]
    for row in INCEPTION_TABLE:
        if row.name[0] != stage:
            size = config.pool4_size if stage == "4" else 3
            x = _max_pool_ceil(x, f"pool{stage}", size=size)  # 14 x 14 x 480, then 7 x 7 x 832
            stage = row.name[0]
        x = inception_module(x, row, config)
        if row.name in AUX_SOURCES:
            aux_inputs.append(x)
    # 7 x 7 x 1024

    def top(features):
        y = layers.GlobalAveragePooling2D(name="avg_pool")(features)
        y = layers.Dropout(config.dropout, name="dropout")(y)
        return args.classifier(y)

    outputs = None
    if aux_logits:
        aux = [_aux_classifier(a, i + 1, args) for i, a in enumerate(aux_inputs)]
        outputs = [top(x), *aux]
    return args.finish(inputs, x, top, outputs=outputs, name=name)


_PAPER = Paper(
    title="Going deeper with convolutions",
    authors="C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, V. Vanhoucke, A. Rabinovich",
    venue="CVPR",
    year=2015,
    url="https://arxiv.org/abs/1409.4842",
)
_TABLE1 = "Szegedy et al. 2015 (arXiv 1409.4842), table 1"
_BVLC = "BVLC Caffe models/bvlc_googlenet (readme.md, train_val.prototxt)"


googlenet = register_model(
    display_name="GoogLeNet",
    family="GoogLeNet",
    year=2014,
    paper=_PAPER,
    input_shape=_DEFAULT_SHAPE,
    min_input_size=_MIN_SIZE,
    depth_paper=22,
    deviations=(
        Deviation(
            "LRN with size 5, alpha 1e-4 (divided by the size), beta 0.75, k 1",
            "the paper names LocalRespNorm (figure 3) without parameters; these are the Caffe "
            f"replication's ({_BVLC})",
        ),
        Deviation(
            "conv1 padded by 3 on every side; stride-2 max pools round up (zero pad bottom/right + valid pool)",
            "the Caffe replication's padding; gives table 1's sizes exactly (224-112-56-28-14-7) and keeps "
            "its weights aligned",
        ),
        Deviation(
            "global average pool instead of the fixed 7x7 average pool",
            "identical at 224x224; defined at other input sizes",
        ),
        Deviation(
            "auxiliary classifiers only with aux_logits=True",
            "the paper discards them at inference time, so the default model and its counts exclude them",
        ),
    ),
    params_refs=(
        Ref(
            6_797_700,
            source=f"{_TABLE1}, sum of the params column (2.7K+112K+159K+380K+364K+437K+463K+580K+840K"
            "+1072K+1388K+1000K)",
            scope="weights of the inference network, auxiliary classifiers excluded, 224x224",
            rtol=0.03,
            note="the column counts weights only (no biases), apparently in units of 1024 (3a: "
            "163,328/1024 = 159.5, listed 159K), rounded, and with slips: conv1 is listed as 2.7K for "
            "7x7x3x64 = 9,408 weights, 5a as 1072K for 1,042,432 weights",
        ),
    ),
    macs_refs=(
        Ref(
            1_502_000_000,
            source=f"{_TABLE1}, sum of the ops column (34M+360M+128M+304M+73M+88M+100M+119M+170M+54M+71M+1M)",
            scope="multiply-adds of the inference network, 224x224",
            rtol=0.06,
            note="the ops column is params x output positions, so it inherits the conv1 slip "
            "(34M listed, 118M = 112x112x64x147 by the layer's shape)",
        ),
        Ref(
            1_500_000_000,
            source="Szegedy et al. 2015 (arXiv 1409.4842): 'a computational budget of 1.5 billion "
            "multiply-adds at inference time'",
            scope="design budget, inference network, 224x224",
            rtol=0.06,
            note="a design target stated in round numbers, not a count",
        ),
    ),
    accuracy_refs=(
        AccuracyRef(
            68.7,
            88.9,
            source=f"{_BVLC}: 'top-1 accuracy 68.7% (31.3% error) and a top-5 accuracy 88.9% (11.1% "
            "error) on the validation set, using just the center crop'",
            note="same architecture as this builder (LRN, 5x5 branch, biases, no batch norm); trained "
            "60 epochs with quick_solver, without the paper's scale/aspect/relighting augmentation",
            protocol=single_crop(224),
            weights="BVLC",
        ),
        AccuracyRef(
            69.778,
            89.530,
            source="torchvision GoogLeNet_Weights.IMAGENET1K_V1 meta",
            note="a different network: batch norm after every convolution and 3x3 instead of 5x5 in "
            "the '5x5' branch (pytorch/vision#906); 6,624,904 parameters; registered as googlenet_bn",
            protocol=single_crop(224),
            weights="torchvision",
        ),
    ),
    ilsvrc=ILSVRCEntry(
        year=2014,
        team="GoogLeNet",
        place=1,
        top5_error=6.67,
        source="Szegedy et al. 2015, tables 2 and 3; Russakovsky et al., IJCV 2015",
        note="test set; ensemble of 7 networks with 144 crops per image, not a single model",
    ),
    preprocessing=Preprocessing(
        resize=256,
        crop=224,
        mean=(104.0, 117.0, 123.0),
        std=(1.0, 1.0, 1.0),
        scale=1.0,
        channels="BGR",
    ),
)(
    variant(
        _googlenet,
        PAPER_VARIANT,
        name="googlenet",
        doc=(
            "GoogLeNet (Szegedy et al., CVPR 2015), table 1 with LRN, biases and no batch norm.\n\n"
            "``aux_logits=True`` adds the two auxiliary classifiers (on 4a and 4d) and returns a model "
            "with three outputs ``[main, aux1, aux2]``; train it with ``loss_weights=LOSS_WEIGHTS``. It "
            "needs ``include_top=True`` and at least 5x5 feature maps at 4a, i.e. inputs of 79x79 or more."
        ),
        options=("aux_logits", "name"),
    )
)

_TORCHVISION = "torchvision torchvision/models/googlenet.py"


googlenet_bn = register_model(
    display_name="GoogLeNet (torchvision variant)",
    family="GoogLeNet",
    year=2014,
    paper=_PAPER,
    input_shape=_DEFAULT_SHAPE,
    min_input_size=_MIN_SIZE,
    depth_paper=22,
    deviations=(
        Deviation(
            "torchvision's GoogLeNet: batch norm (epsilon 1e-3) after every convolution, convolutions "
            "without bias, no LRN",
            "the network of torchvision.models.googlenet, whose ImageNet weights (ported from TensorFlow) "
            "import with archbench.convert; the paper's network is `googlenet`",
        ),
        Deviation(
            "3x3 instead of 5x5 convolution in the '5x5' branch",
            "torchvision's known slip, kept for its weights: https://github.com/pytorch/vision/issues/906",
        ),
        Deviation(
            "2x2 (not 3x3) stride-2 max pool between stages 4 and 5; dropout 20 % (not 40 %)",
            f"as in {_TORCHVISION} (maxpool4, dropout)",
        ),
        Deviation(
            "conv1 padded by 3; stride-2 max pools round up (zero pad bottom/right + valid pool)",
            "torchvision's padding=3 and ceil_mode=True; zero padding equals PyTorch's ignored border "
            "because every pooled tensor follows a ReLU",
        ),
        Deviation(
            "global average pool; no auxiliary classifiers",
            "torchvision's AdaptiveAvgPool2d; its auxiliary heads are not trained in its weights and "
            "unused at inference",
        ),
    ),
    params_refs=(
        Ref(
            6_624_904,
            source=f"{_TORCHVISION}; GoogLeNet_Weights.IMAGENET1K_V1 meta num_params",
            scope="with classifier, auxiliary classifiers excluded, batch-norm running statistics excluded",
        ),
    ),
    macs_refs=(
        Ref(
            1_498_000_000,
            source="torchvision GoogLeNet_Weights.IMAGENET1K_V1 meta _ops (1.498 GFLOPS, i.e. multiply-adds)",
            scope="224x224, with classifier",
            rtol=5e-4,
            note="3 decimals: the meta gives 1.498 G, so only rounding separates it from our count",
        ),
    ),
    accuracy_refs=(
        AccuracyRef(
            69.778,
            89.530,
            source="torchvision GoogLeNet_Weights.IMAGENET1K_V1 meta",
            note="with torchvision's transform_input (on when its weights are loaded): inputs normalised "
            "with the ImageNet mean/std are mapped back to (x - 0.5) / 0.5 of [0, 1] pixels",
            protocol=single_crop(224),
            weights="torchvision",
        ),
    ),
    preprocessing=Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
)(
    variant(
        _googlenet,
        TORCHVISION_VARIANT,
        name="googlenet_bn",
        doc=(
            'torchvision\'s GoogLeNet: table 1 with batch norm, a 3x3 "5x5" branch, no LRN, '
            "no auxiliary heads.\n\n"
            "Its ImageNet weights expect torchvision's ``transform_input`` already applied, i.e. [0, 1] "
            "pixels mapped to ``(x - 0.5) / 0.5`` (the spec's preprocessing)."
        ),
        options=("name",),
    )
)
