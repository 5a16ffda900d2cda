"""AlexNet: Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural Networks".

NIPS 2012, https://proceedings.neurips.cc/paper/2012/file/c399862d3b9d6b76c8436e924a68c45b-Paper.pdf;
winner of ILSVRC 2012. Three variants, each a :class:`~archbench.models._blocks.ConvNet` table read by
one builder:

``alexnet``
    The paper's network (section 3.5, figure 2): conv 96@11x11/4 - LRN - pool - conv 256@5x5 - LRN - pool
    - conv 384@3x3 - conv 384@3x3 - conv 256@3x3 - pool - fc 4096 - fc 4096 - fc 1000, ReLU everywhere,
    overlapping 3x3/2 max pooling, dropout 0.5 in fc6 and fc7, LRN with k=2, n=5, alpha=1e-4, beta=0.75.
    The two GPU towers are grouped convolutions: conv2, conv4 and conv5 see only the maps of their own
    tower (``groups=2``); conv3 and the fully connected layers see both.
``alexnet_onetower``
    The single-tower network of Krizhevsky's "One weird trick for parallelizing convolutional neural
    networks" (arXiv 1404.5997) as torchvision ships it: 64-192-384-256-256 filters, conv1 padded by 2,
    224x224 input, no LRN, dropout before fc6 and fc7; 61,100,840 parameters like torchvision's.
``bn_alexnet``
    BN-AlexNet of Canziani, Paszke & Culurciello (arXiv 1605.07678): the Torch7 model ``alexnetowtbn`` of
    soumith/imagenet-multiGPU.torch (``models/alexnetowtbn_cudnn.lua``), i.e. the one-tower net above
    with batch norm (epsilon 1e-3) between every convolution or fc6/fc7 and its ReLU, and no LRN.

Deliberate deviations (also in each spec's ``deviations``):

- ``alexnet``: 227x227 input instead of the paper's stated 224x224, which cannot give its 55x55 conv1
  maps with an 11x11/4 kernel and no padding ((227 - 11) / 4 + 1 = 55); Caffe's reference model does
  the same.
- ``alexnet``: the two towers are one grouped convolution per layer on one device, not two GPUs.
- ``alexnet_onetower``: torchvision's adaptive 6x6 average pool before fc6 is left out: at 224x224 the
  map is already 6x6 and it is the identity; ``include_top=True`` therefore needs a 224x224 input.
- ``bn_alexnet``: the convolutions keep their (redundant) biases before batch norm, as the Torch model.
- All: Keras' default (Glorot-uniform) initialisation, not the paper's N(0, 0.01) with biases of 1.
"""

from __future__ import annotations

from ..registry import (
    CHART,
    TEN_CROP,
    AccuracyRef,
    Deviation,
    ILSVRCEntry,
    Paper,
    Preprocessing,
    Ref,
    register_model,
    single_crop,
)
from ._blocks import LRN, BatchNorm, Conv, ConvNet, Pool, build_convnet
from ._common import variant

__all__ = ["ALEXNET", "ALEXNET_ONETOWER", "BN_ALEXNET", "alexnet", "alexnet_onetower", "bn_alexnet"]

PAPER = Paper(
    title="ImageNet Classification with Deep Convolutional Neural Networks",
    authors="Alex Krizhevsky, Ilya Sutskever, Geoffrey E. Hinton",
    venue="NIPS 2012",
    year=2012,
    url="https://proceedings.neurips.cc/paper/2012/file/c399862d3b9d6b76c8436e924a68c45b-Paper.pdf",
)
OWT_PAPER = Paper(
    title="One weird trick for parallelizing convolutional neural networks",
    authors="Alex Krizhevsky",
    venue="arXiv:1404.5997",
    year=2014,
    url="https://arxiv.org/abs/1404.5997",
)
CANZIANI = Paper(
    title="An Analysis of Deep Neural Network Models for Practical Applications",
    authors="Alfredo Canziani, Adam Paszke, Eugenio Culurciello",
    venue="arXiv:1605.07678",
    year=2016,
    url="https://arxiv.org/abs/1605.07678",
)

ALEXNET = ConvNet(
    features=(
        Conv(96, 11, stride=4, pad=0, name="conv1"),  # 55 x 55 x 96
        LRN("lrn1"),
        Pool(name="pool1"),  # 27 x 27 x 96
        Conv(256, 5, pad=2, groups=2, name="conv2"),
        LRN("lrn2"),
        Pool(name="pool2"),  # 13 x 13 x 256
        Conv(384, 3, pad=1, name="conv3"),
        Conv(384, 3, pad=1, groups=2, name="conv4"),
        Conv(256, 3, pad=1, groups=2, name="conv5"),
        Pool(name="pool5"),  # 6 x 6 x 256
    ),
    input_shape=(227, 227, 3),
    min_input_size=67,
)

_ONETOWER_FEATURES = (
    Conv(64, 11, stride=4, pad=2, name="conv1"),  # 55 x 55 x 64
    Pool(name="pool1"),  # 27 x 27 x 64
    Conv(192, 5, pad=2, name="conv2"),
    Pool(name="pool2"),  # 13 x 13 x 192
    Conv(384, 3, pad=1, name="conv3"),
    Conv(256, 3, pad=1, name="conv4"),
    Conv(256, 3, pad=1, name="conv5"),
    Pool(name="pool5"),  # 6 x 6 x 256
)
ALEXNET_ONETOWER = ConvNet(
    features=_ONETOWER_FEATURES, input_shape=(224, 224, 3), min_input_size=63, dropout_first=True
)
BN_ALEXNET = ConvNet(
    features=_ONETOWER_FEATURES,
    input_shape=(224, 224, 3),
    min_input_size=63,
    dropout_first=True,
    batch_norm=BatchNorm(epsilon=1e-3, momentum=0.9),
)

_INIT = Deviation(
    "Keras' default Glorot-uniform initialisation",
    "the paper's N(0, 0.01) weights with biases of 1 in some layers only matter for training from scratch",
)
_NO_ADAPTIVE_POOL = Deviation(
    "no adaptive 6x6 average pool before fc6; include_top=True needs a 224x224 input",
    "at 224x224 the map is already 6x6 and torchvision's adaptive pool is the identity; Keras has no "
    "adaptive pooling layer",
)
_TORCHVISION = "torchvision AlexNet_Weights.IMAGENET1K_V1 meta (pytorch/vision torchvision/models/alexnet.py)"
_SCOPE_PARAMS = "paper convention (BN moving statistics excluded), with classifier, 1000 classes"
_BVLC = "BVLC Caffe models/bvlc_alexnet/readme.md"

alexnet = register_model(
    display_name="AlexNet",
    family="AlexNet",
    year=2012,
    paper=PAPER,
    input_shape=ALEXNET.input_shape,
    min_input_size=ALEXNET.min_input_size,
    deviations=(
        Deviation(
            "227x227 input instead of the 224x224 the paper states",
            "only 227 gives the paper's 55x55 conv1 maps with an unpadded 11x11/4 kernel (as in Caffe)",
        ),
        Deviation(
            "the two GPU towers are grouped convolutions (groups=2 in conv2, conv4, conv5) on one device",
            "the same connectivity and parameters; the split across GPUs was a memory workaround",
        ),
        _INIT,
    ),
    params_refs=(
        Ref(
            60e6,
            "Krizhevsky et al. 2012, abstract ('60 million parameters')",
            _SCOPE_PARAMS,
            rtol=0.02,
            note="the paper rounds to millions",
        ),
    ),
    accuracy_refs=(
        AccuracyRef(
            57.1,
            80.2,
            f"{_BVLC}: 'top-1 accuracy 57.1% and a top-5 accuracy 80.2% on the validation set, using just "
            "the center crop'",
            note="the same two-tower network (groups=2 in conv2, conv4, conv5; LRN), trained without the "
            "paper's relighting augmentation",
            protocol=single_crop(227),
            weights="BVLC",
        ),
        AccuracyRef(
            59.3,
            81.8,
            "Krizhevsky et al. 2012, table 2 (1 CNN: 40.7 % top-1, 18.2 % top-5 error)",
            note="the paper averages the predictions of ten 224x224 patches (the four corners and the "
            "centre, and their mirrors); not comparable with single-crop figures",
            protocol=TEN_CROP,
            weights="paper",
        ),
    ),
    ilsvrc=ILSVRCEntry(
        year=2012,
        team="SuperVision",
        place=1,
        top5_error=16.4,
        source="Russakovsky et al., IJCV 2015",
        note="average of 5 CNNs; 15.3 % with two more CNNs pre-trained on ImageNet Fall 2011",
    ),
    depth_paper=ALEXNET.weight_layers,
    preprocessing=Preprocessing(resize=256, crop=227),
    tags=("two-tower", "lrn"),
)(
    variant(
        build_convnet,
        ALEXNET,
        name="alexnet",
        doc="AlexNet as in the paper: two towers as grouped convolutions, LRN, 227x227 input.",
        options=("dropout",),
    )
)

alexnet_onetower = register_model(
    display_name="AlexNet (one tower)",
    family="AlexNet",
    year=2014,
    paper=OWT_PAPER,
    input_shape=ALEXNET_ONETOWER.input_shape,
    min_input_size=ALEXNET_ONETOWER.min_input_size,
    deviations=(_NO_ADAPTIVE_POOL, _INIT),
    params_refs=(Ref(61_100_840, _TORCHVISION, _SCOPE_PARAMS),),
    macs_refs=(
        Ref(
            0.714e9,
            _TORCHVISION + ", _ops",
            "multiply-adds of convolutions and dense layers, 224x224, with classifier",
            rtol=1e-3,
            note="given to 3 decimals in G",
        ),
    ),
    accuracy_refs=(
        AccuracyRef(56.522, 79.066, _TORCHVISION, protocol=single_crop(224), weights="torchvision"),
    ),
    depth_paper=ALEXNET_ONETOWER.weight_layers,
)(
    variant(
        build_convnet,
        ALEXNET_ONETOWER,
        name="alexnet_onetower",
        doc="Single-tower AlexNet (64-192-384-256-256, no LRN) with torchvision's exact layer sizes.",
        options=("dropout",),
    )
)

bn_alexnet = register_model(
    display_name="BN-AlexNet",
    family="AlexNet",
    year=2016,
    paper=CANZIANI,
    input_shape=BN_ALEXNET.input_shape,
    min_input_size=BN_ALEXNET.min_input_size,
    deviations=(
        Deviation(
            "batch norm (epsilon 1e-3) between each convolution, fc6 and fc7 and its ReLU; no LRN; one tower",
            "the definition of BN-AlexNet: Torch7 model alexnetowtbn of soumith/imagenet-multiGPU.torch "
            "(models/alexnetowtbn_cudnn.lua), the model Canziani et al. 2016 measure",
        ),
        Deviation(
            "convolutions and fc6/fc7 keep their biases before batch norm",
            "as the Torch model, so its weights map one to one",
        ),
        _INIT,
    ),
    accuracy_refs=(
        AccuracyRef(
            57.0,
            None,
            "Canziani et al. 2016, figure 1 (read off the chart)",
            note="approximate (about +-1 point): the paper gives its single-crop figures only as a bar "
            "chart; the network it measured is the Torch7 alexnetowtbn",
            protocol=CHART,
            weights="Canziani et al.",
        ),
    ),
    depth_paper=BN_ALEXNET.weight_layers,
    tags=("batch_norm",),
)(
    variant(
        build_convnet,
        BN_ALEXNET,
        name="bn_alexnet",
        doc="BN-AlexNet: one-tower AlexNet, batch norm after each conv and fc6/fc7 (Torch7 alexnetowtbn).",
        options=("dropout",),
    )
)
