"""ResNeXt and Wide ResNet: ResNet's bottleneck networks with wider or grouped 3x3 convolutions.

- ResNeXt: Xie, Girshick, Dollár, Tu & He, "Aggregated Residual Transformations for Deep Neural
  Networks", CVPR 2017, arXiv 1611.05431 (https://arxiv.org/abs/1611.05431); ILSVRC 2016's runner-up.
  A block's 3x3 convolution is split into C groups ("cardinality") of d channels each, C x d, in the
  paper's form (c) of figure 3 (grouped convolution), which its section 3.3 shows equivalent to (a).
- Wide ResNet: Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016, arXiv 1605.07146
  (https://arxiv.org/abs/1605.07146). Its ImageNet network WRN-50-2-bottleneck doubles the width of
  the inner 1x1 and 3x3 convolutions of ResNet-50's bottlenecks (outputs stay 256 ... 2048).

Both are :func:`archbench.models.resnet._resnet` with a :class:`~archbench.models.resnet.Design`:
torchvision's ``groups`` and ``width_per_group``, a block of stage width w having a 3x3 convolution of
``groups * width_per_group * w / 64`` channels in ``groups`` groups, so the table below is the whole
difference from ResNet:

    resnext50_32x4d    ResNet-50 stages,  32 groups of 4 channels at w = 64  (128-wide 3x3 in conv2_x)
    resnext101_32x8d   ResNet-101 stages, 32 groups of 8 channels at w = 64  (256-wide 3x3 in conv2_x)
    wide_resnet50_2    ResNet-50 stages,  1 group of 128 channels at w = 64 (twice ResNet-50's width)

The stride of a downsampling block is in its 3x3 convolution, as in the paper's fb.resnet.torch code
and torchvision (the "v1.5" place); layer names are ResNet's, so torchvision's weights map one to one.

Deliberate deviations (also in each spec's ``deviations``): inputs normalised with the ImageNet mean
and std (torchvision's preprocessing, which the reference accuracies use). ResNeXt-101 32x8d is not
in the paper's tables (which have 32x4d and 64x4d): it is torchvision's configuration, whose weights
and figures are quoted.
"""

from __future__ import annotations

from typing import Any

from ..registry import AFTER_RESNET, AccuracyRef, Deviation, ILSVRCEntry, Paper, Ref, single_crop
from .resnet import INPUT_SIZE, MIN_INPUT_SIZE, SCOPE_MACS, SCOPE_PARAMS, Design, register_design

__all__ = ["VARIANTS", "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2"]

RESNEXT_PAPER = Paper(
    title="Aggregated Residual Transformations for Deep Neural Networks",
    authors="Saining Xie, Ross Girshick, Piotr Dollár, Zhuowen Tu, Kaiming He",
    venue="CVPR 2017",
    year=2017,
    url="https://arxiv.org/abs/1611.05431",
)
WRN_PAPER = Paper(
    title="Wide Residual Networks",
    authors="Sergey Zagoruyko, Nikos Komodakis",
    venue="BMVC 2016",
    year=2016,
    url="https://arxiv.org/abs/1605.07146",
)

#: name -> (depth of ResNet's table 1, groups, width per group at stage width 64, display name, paper)
VARIANTS: dict[str, tuple[int, int, int, str, Paper]] = {
    "resnext50_32x4d": (50, 32, 4, "ResNeXt-50 (32x4d)", RESNEXT_PAPER),
    "resnext101_32x8d": (101, 32, 8, "ResNeXt-101 (32x8d)", RESNEXT_PAPER),
    "wide_resnet50_2": (50, 1, 128, "Wide ResNet-50-2", WRN_PAPER),
}

# torchvision: pytorch/vision torchvision/models/resnet.py, the meta of *_Weights.IMAGENET1K_V1
# (num_params, acc@1, acc@5, _ops in G-MACs; its documentation's "GFLOPS" column rounds _ops).
_TORCHVISION = {
    "resnext50_32x4d": ("ResNeXt50_32X4D", 25_028_904, 77.618, 93.698, 4.23),
    "resnext101_32x8d": ("ResNeXt101_32X8D", 88_791_336, 79.312, 94.526, 16.414),
    "wide_resnet50_2": ("Wide_ResNet50_2", 68_883_240, 78.468, 94.086, 11.398),
}
_TV_SOURCE = "torchvision {}_Weights.IMAGENET1K_V1 meta (pytorch/vision torchvision/models/resnet.py)"
# The papers' own figures: (top-1, top-5 or None, params in M, G-MACs or None, source).
_PAPERS = {
    "resnext50_32x4d": (
        100 - 22.2, None, 25.0, 4.2,
        "Xie et al. 2017, tables 3 and 4 (ResNeXt-50 32x4d: 22.2 % top-1 error, 25.0 M params, 4.2 G FLOPs)",
    ),
    "wide_resnet50_2": (
        100 - 21.9, 100 - 6.03, 68.9, None,
        "Zagoruyko & Komodakis 2016, ImageNet table (WRN-50-2-bottleneck: 21.9 / 6.03 % top-1 / top-5 "
        "error, 68.9 M params)",
    ),
}  # fmt: skip

_DEVIATIONS = (
    Deviation(
        "inputs normalised with the ImageNet mean and std",
        "torchvision's preprocessing, used by the reference accuracies quoted here",
    ),
)
_NOT_IN_PAPER = Deviation(
    "32 groups of 8 channels on ResNet-101's stages: a configuration the paper does not tabulate "
    "(it reports 32x4d and 64x4d)",
    "torchvision's ResNeXt-101, whose weights and reference figures are quoted",
)


def _spec(name: str) -> dict[str, Any]:
    depth, groups, width, display, paper = VARIANTS[name]
    tv_name, tv_params, tv_top1, tv_top5, tv_gmacs = _TORCHVISION[name]
    tv_source = _TV_SOURCE.format(tv_name)
    params = [Ref(tv_params, tv_source, SCOPE_PARAMS)]
    macs = [Ref(tv_gmacs * 1e9, tv_source + ", _ops", SCOPE_MACS, rtol=1e-3, note="rounded in G-MACs")]
    accuracy = [
        AccuracyRef(tv_top1, tv_top5, tv_source, protocol=single_crop(INPUT_SIZE), weights="torchvision")
    ]
    if name in _PAPERS:
        top1, top5, params_m, gmacs, source = _PAPERS[name]
        params.append(Ref(params_m * 1e6, source, SCOPE_PARAMS, rtol=0.002, note="rounded to 0.1 M"))
        if gmacs is not None:
            macs.append(
                Ref(
                    gmacs * 1e9,
                    source,
                    SCOPE_MACS,
                    rtol=0.012,
                    note="'FLOPs' there are multiply-adds, to 0.1 G",
                )
            )
        accuracy.append(
            AccuracyRef(
                round(top1, 2), None if top5 is None else round(top5, 2), source,
                note="the authors' network and training", protocol=single_crop(INPUT_SIZE), weights="paper",
            )
        )  # fmt: skip
    return dict(
        display_name=display,
        family="ResNeXt" if paper is RESNEXT_PAPER else "Wide ResNet",
        year=paper.year,
        paper=paper,
        input_shape=(INPUT_SIZE, INPUT_SIZE, 3),
        min_input_size=MIN_INPUT_SIZE,
        deviations=_DEVIATIONS + ((_NOT_IN_PAPER,) if name == "resnext101_32x8d" else ()),
        params_refs=tuple(params),
        macs_refs=tuple(macs),
        accuracy_refs=tuple(accuracy),
        depth_paper=depth,
        ilsvrc=_ILSVRC_2016 if name == "resnext101_32x8d" else None,
        tags=("grouped-conv" if groups > 1 else "wide", AFTER_RESNET),
    )


_ILSVRC_2016 = ILSVRCEntry(
    year=2016,
    team="ResNeXt",
    place=2,
    top5_error=3.03,
    source="ILSVRC 2016 results (image-net.org/challenges/LSVRC/2016/results); Xie et al. 2017, section 5",
    note="an ensemble of ResNeXt-101 (64x4d) networks; the zoo's ResNeXt-101 (32x8d) has the same depth",
)


def _register(name: str):
    """Register one row of :data:`VARIANTS` (option: ``name``)."""
    depth, groups, width, display, _ = VARIANTS[name]
    design = Design(stride_in_3x3=True, groups=groups, width_per_group=width)
    doc = (
        f"{display}: ResNet-{depth}'s stages with {groups} group(s) of {width} channels in each 3x3 "
        "convolution (times stage width / 64).\n\nOption: ``name``; see :func:`archbench.models.resnet._resnet`."
    )
    return register_design(name, depth, design, doc, _spec(name))


resnext50_32x4d = _register("resnext50_32x4d")
resnext101_32x8d = _register("resnext101_32x8d")
wide_resnet50_2 = _register("wide_resnet50_2")
