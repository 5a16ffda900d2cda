"""ZFNet: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks".

ECCV 2014, arXiv 1311.2901 (https://arxiv.org/abs/1311.2901); the architecture of figure 3, on which
Clarifai's winning ILSVRC 2013 entry was built. It is AlexNet with the changes the paper's
visualisations suggested: a 7x7/2 first layer instead of 11x11/4, a stride-2 second layer, and dense
(single-tower) connections in layers 3-5. Figure 3, as a :class:`~archbench.models._blocks.ConvNet`:

    224 x 224 x 3 -> conv1 96@7x7/2 -> 110 -> max 3x3/2 -> 55 -> contrast norm.
    -> conv2 256@5x5/2 -> 26 -> max 3x3/2 -> 13 -> contrast norm.
    -> conv3 384@3x3 -> conv4 384@3x3 -> conv5 256@3x3 -> 13 -> max 3x3/2 -> 6
    -> fc6 4096 -> fc7 4096 -> classes (softmax)

ReLU follows every layer but the last; dropout 0.5 acts in fc6 and fc7 (section 3.1).

The paper gives no padding, and the figure's sizes fix it: conv1 needs one pixel of zero padding
((224 + 2 - 7) // 2 + 1 = 110; none gives 109), the first two pools round up like Caffe's
(ceil((110 - 3) / 2) + 1 = 55 and ceil((26 - 3) / 2) + 1 = 13; rounding down gives 54 and 12), conv2 is
unpadded ((55 - 5) // 2 + 1 = 26) and the 3x3 convolutions are padded by one to stay at 13.

Deliberate deviations and readings of ambiguities (also in the spec's ``deviations``):

- Contrast normalisation is AlexNet's cross-channel LRN with AlexNet's constants (k=2, n=5,
  alpha=1e-4, beta=0.75): the paper says "contrast normalized across feature maps" and gives no
  constants. It is applied after pool1 and pool2 only, the order figure 3 shows (pool, then normalise);
  "similar operations are repeated in layers 2,3,4,5" is read as AlexNet's placement, no normalisation
  after layers 3-5.
- Keras' default (Glorot-uniform) initialisation instead of the paper's 1e-2 weights and zero biases,
  and no renormalisation of first-layer filters whose RMS exceeds 0.1 (a training procedure).
"""

from __future__ import annotations

from ..registry import Deviation, ILSVRCEntry, Paper, register_model
from ._blocks import LRN, Conv, ConvNet, Pool, build_convnet
from ._common import variant

__all__ = ["ZFNET", "zfnet"]

PAPER = Paper(
    title="Visualizing and Understanding Convolutional Networks",
    authors="Matthew D. Zeiler, Rob Fergus",
    venue="ECCV 2014",
    year=2014,
    url="https://arxiv.org/abs/1311.2901",
)

ZFNET = ConvNet(
    features=(
        Conv(96, 7, stride=2, pad=1, name="conv1"),  # 110 x 110 x 96
        Pool(ceil_mode=True, name="pool1"),  # 55 x 55 x 96
        LRN("lrn1"),
        Conv(256, 5, stride=2, pad=0, name="conv2"),  # 26 x 26 x 256
        Pool(ceil_mode=True, name="pool2"),  # 13 x 13 x 256
        LRN("lrn2"),
        Conv(384, 3, pad=1, name="conv3"),
        Conv(384, 3, pad=1, name="conv4"),
        Conv(256, 3, pad=1, name="conv5"),  # 13 x 13 x 256
        Pool(ceil_mode=True, name="pool5"),  # 6 x 6 x 256
    ),
    input_shape=(224, 224, 3),
    min_input_size=63,
)

zfnet = register_model(
    display_name="ZFNet",
    family="ZFNet",
    year=2013,
    paper=PAPER,
    input_shape=ZFNET.input_shape,
    min_input_size=ZFNET.min_input_size,
    deviations=(
        Deviation(
            "padding: conv1 padded by 1, conv3-5 by 1, max pools round up (Caffe's ceil mode)",
            "the paper gives no padding; these are the only choices that give figure 3's 110-55-26-13-6 maps",
        ),
        Deviation(
            "contrast normalisation = AlexNet's cross-channel LRN (k=2, n=5, alpha=1e-4, beta=0.75) "
            "after pool1 and pool2",
            "the paper names the operation ('contrast normalized across feature maps') but no constants; "
            "AlexNet's are the nearest published ones",
        ),
        Deviation(
            "Keras' default Glorot-uniform initialisation; no renormalisation of large first-layer filters",
            "both are training procedure, not architecture",
        ),
    ),
    ilsvrc=ILSVRCEntry(
        year=2013,
        team="Clarifai",
        place=1,
        top5_error=11.7,
        source="Russakovsky et al., IJCV 2015",
        note="the challenge entry, built on this architecture; not one single network's result",
    ),
    depth_paper=ZFNET.weight_layers,
    tags=("lrn",),
)(
    variant(
        build_convnet,
        ZFNET,
        name="zfnet",
        doc="ZFNet as in figure 3 of Zeiler & Fergus: 7x7/2 conv1, stride-2 conv2, single tower.",
        options=("dropout",),
    )
)
