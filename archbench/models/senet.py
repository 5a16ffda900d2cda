"""SENet: Hu, Shen, Albanie, Sun & Wu, "Squeeze-and-Excitation Networks".

CVPR 2018 / TPAMI 2019, arXiv 1709.01507 (https://arxiv.org/abs/1709.01507); the ILSVRC 2017
classification winner (team WMW, Momenta and Oxford), the last ILSVRC.

A squeeze-and-excitation (SE) block recalibrates the channels of a residual branch before the
addition: global average pooling ("squeeze", one number per channel), a dense layer to C/r units with
ReLU and one back to C units with a sigmoid ("excitation"), then the branch is scaled channel-wise by
those C gates. With r = 16 (all the paper's models) a block with C channels adds ``2 C^2 / r`` weights
and ``C / r + C`` biases; per image it costs ``2 C^2 / r`` multiply-adds in the dense layers, plus
``H W C`` additions of the pooling and ``H W C`` multiplications of the scaling (``ops_other``).

Both networks are :func:`archbench.models.resnet._resnet` with a :class:`~archbench.models.resnet.Design`
whose ``excite`` hook is :func:`squeeze_excite`, following the authors' released Caffe models
(github.com/hujie-frank/SENet) as ported by Cadene's pretrainedmodels ``senet.py``
(github.com/Cadene/pretrained-models.pytorch):

- ``se_resnet50``: ResNet-50 v1 (stride in the first 1x1 of a downsampling block, Caffe's ResNet) with
  an SE block in each of its 16 bottlenecks: Cadene's ``SEResNetBottleneck``.
- ``senet154``: the paper's appendix modifies SE-ResNeXt-152 (64x4d), ResNet-152's stages with 64
  groups of 4 channels in each 3x3: the first 1x1 convolution of each bottleneck has half the 3x3's
  channels; the 7x7 stem is three 3x3 convolutions (64, 64, 128 filters); the 1x1 stride-2 projection
  shortcuts are 3x3 stride-2 convolutions; dropout 0.2 precedes the classifier. Cadene's ``SEBottleneck``
  and ``SENet(..., input_3x3=True, downsample_kernel_size=3)``; the stride is in the 3x3 convolution.

Both pool the stem 3x3/2 without padding and round up (Caffe's geometry, ``MaxPool2d(3, 2,
ceil_mode=True)`` in the port): 112 -> 56 as with ResNet's padded pool, but the windows start one pixel
later. The dense layers of an SE block are counted as weight layers by the graph's depth (the gate is a
path of two more layers per block); the papers' depth (50, 154) counts the main path only.

Deliberate deviations (also in each spec's ``deviations``): dense layers on the pooled vector where
the Caffe model has 1x1 convolutions (the same arithmetic and weights); global average pooling in the
head where the port has a 7x7 average pool (equal at 224x224, and any size works); inputs normalised
with the ImageNet mean and std (the port's preprocessing; the Caffe models subtract the mean only).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from keras import layers

from ..registry import (
    AFTER_RESNET,
    AccuracyRef,
    Deviation,
    ILSVRCEntry,
    Paper,
    Ref,
    single_crop,
)
from .resnet import INPUT_SIZE, MIN_INPUT_SIZE, SCOPE_MACS, SCOPE_PARAMS, Design, register_design

__all__ = ["DESIGNS", "REDUCTION", "se_resnet50", "senet154", "squeeze_excite"]

PAPER = Paper(
    title="Squeeze-and-Excitation Networks",
    authors="Jie Hu, Li Shen, Samuel Albanie, Gang Sun, Enhua Wu",
    venue="CVPR 2018; TPAMI 2019",
    year=2018,
    url="https://arxiv.org/abs/1709.01507",
)
REDUCTION = 16


def squeeze_excite(x: Any, *, reduction: int = REDUCTION, name: str) -> Any:
    """``x`` scaled channel-wise by its SE gates (layers ``{name}_se_squeeze/_reduce/_expand/_scale``)."""
    channels = int(x.shape[-1])
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_squeeze")(x)  # 1 x 1 x C
    s = layers.Dense(channels // reduction, activation="relu", name=f"{name}_se_reduce")(s)
    s = layers.Dense(channels, activation="sigmoid", name=f"{name}_se_expand")(s)
    return layers.Multiply(name=f"{name}_se_scale")([x, s])


_SE = partial(squeeze_excite, reduction=REDUCTION)

#: name -> (depth of ResNet's table 1, design, display name)
DESIGNS: dict[str, tuple[int, Design, str]] = {
    "se_resnet50": (50, Design(excite=_SE, caffe_pool=True), "SE-ResNet-50"),
    "senet154": (
        152,
        Design(
            stride_in_3x3=True, groups=64, width_per_group=4, first_1x1=0.5, excite=_SE, deep_stem=True,
            caffe_pool=True, projection_kernel=3, dropout=0.2,
        ),
        "SENet-154",
    ),
}  # fmt: skip

_README = (
    "hujie-frank/SENet README, table 1 (the authors' released Caffe models; centre 224x224 crop of the "
    "image resized to 256)"
)
_BURDEN = "albanie/mcnSENets README (convnet-burden estimates of the released models, 224x224)"

_DEVIATIONS = (
    Deviation(
        "dense layers on the pooled 1x1xC vector where the Caffe model has 1x1 convolutions",
        "the same weights and arithmetic; Keras' dense layer states the paper's fully connected form",
    ),
    Deviation(
        "inputs normalised with the ImageNet mean and std; the Caffe models subtract the mean",
        "the preprocessing of the PyTorch port, which the reference accuracies' protocol matches",
    ),
)
_HEAD_DEVIATION = Deviation(
    "global average pooling before the classifier where the PyTorch port has a 7x7 average pool",
    "equal at 224x224; global pooling lets the network run at any input size",
)

_ILSVRC = ILSVRCEntry(
    year=2017,
    team="WMW",
    place=1,
    top5_error=2.251,
    source="ILSVRC 2017 results (image-net.org/challenges/LSVRC/2017/results); Hu et al. 2018, abstract",
    note="an ensemble of SENets (SENet-154 among them), Momenta and Oxford; the last ILSVRC",
)

_REFS: dict[str, dict[str, Any]] = {
    "se_resnet50": dict(
        params_refs=(
            Ref(
                25_557_032 + 2.5e6,
                "Hu et al. 2018, section 3.3 ('~2.5 million additional parameters beyond the ~25 million "
                "parameters required by ResNet-50'), added to ResNet-50's exact count",
                SCOPE_PARAMS,
                rtol=0.002,
                note="the increase is rounded to 0.1 M; 2/r * sum(C^2) = 2.51 M weights plus 16,048 biases",
            ),
        ),
        macs_refs=(
            Ref(
                3.87e9,
                "Hu et al. 2018, table 2 (SE-ResNet-50: 3.87 GFLOPs, ResNet-50: 3.86)",
                SCOPE_MACS,
                rtol=0.003,
                note="'GFLOPs' there are multiply-adds, rounded to 0.01 G; they seem to include the pooling "
                "and scaling, which we count in ops_other",
            ),
            Ref(4e9, _BURDEN, SCOPE_MACS, rtol=0.125, note="'4 GFLOPs', a multiply-add counted once, whole G"),
        ),
        accuracy_refs=(
            AccuracyRef(100 - 22.37, 100 - 6.36, _README, note="22.37 / 6.36 % top-1 / top-5 error",
                        protocol=single_crop(INPUT_SIZE), weights="paper"),
        ),
    ),
    "senet154": dict(
        params_refs=(
            Ref(440 * 2**20 / 4, _BURDEN, "every variable (BN moving statistics included) as 4-byte floats",
                rtol=0.003, note="'440 MB' of parameter memory, MB = 2^20 bytes: 115.3 M values; our paper-"
                "convention count leaves out the 247,552 moving statistics (0.2 %)"),
        ),
        macs_refs=(
            Ref(21e9, _BURDEN, SCOPE_MACS, rtol=0.03, note="'21 GFLOPs', a multiply-add counted once, whole G"),
        ),
        accuracy_refs=(
            AccuracyRef(100 - 18.68, 100 - 4.47, _README, note="18.68 / 4.47 % top-1 / top-5 error",
                        protocol=single_crop(INPUT_SIZE), weights="paper"),
        ),
    ),
}  # fmt: skip


def _spec(name: str) -> dict[str, Any]:
    depth, design, display = DESIGNS[name]
    return dict(
        display_name=display,
        family="SENet",
        year=PAPER.year,
        paper=PAPER,
        input_shape=(INPUT_SIZE, INPUT_SIZE, 3),
        min_input_size=MIN_INPUT_SIZE,
        deviations=_DEVIATIONS + ((_HEAD_DEVIATION,) if name == "senet154" else ()),
        ilsvrc=_ILSVRC if name == "senet154" else None,
        depth_paper=154 if name == "senet154" else depth,
        tags=("squeeze-excitation", AFTER_RESNET),
        **_REFS[name],
    )


def _register(name: str):
    """Register one row of :data:`DESIGNS` (option: ``name``)."""
    depth, design, display = DESIGNS[name]
    doc = (
        f"{display}: ResNet-{depth}'s stages with a squeeze-and-excitation block (r = {REDUCTION}) on "
        "every residual branch.\n\nOption: ``name``; see :func:`archbench.models.resnet._resnet`."
    )
    return register_design(name, depth, design, doc, _spec(name))


se_resnet50 = _register("se_resnet50")
senet154 = _register("senet154")
