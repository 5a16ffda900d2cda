"""SqueezeNet: Iandola, Han, Moskewicz, Ashraf, Dally & Keutzer, "SqueezeNet: AlexNet-level accuracy
with 50x fewer parameters and <0.5MB model size".

arXiv 1602.07360, 2016 (https://arxiv.org/abs/1602.07360); Caffe release github.com/forresti/SqueezeNet.

A Fire module squeezes its input with 1x1 convolutions (``s1x1`` filters) and expands it with 1x1
and 3x3 convolutions (``e1x1`` and ``e3x3`` filters, padded by 1) whose outputs are concatenated;
every convolution has a bias and a ReLU. The networks are one table, :data:`CONFIGS`, keyed by
version, read in order by :func:`_squeezenet`: the stem convolution, then :class:`Fire` and
:class:`~archbench.models._blocks.Pool` rows. The head is dropout 0.5, ``conv10`` (1x1, one map per
class, with ReLU) and a global average: no fully connected layer.

    1.0   conv1 7x7/2 x96, pool1, fire2-4, pool4, fire5-8, pool8, fire9     (the paper's table 1)
    1.1   conv1 3x3/2 x64, pool1, fire2-3, pool3, fire4-5, pool5, fire6-9   (Caffe release v1.1)

Version 1.1 is not in the paper: the Caffe release's SqueezeNet_v1.1/README.md gives its goal, "to
decrease the computational cost without degrading accuracy", by fewer and smaller conv1 filters and
the pools moved earlier (2.35 times fewer multiply-adds here). Pools are 3x3/2 max pools with Caffe's rounding up
(``ceil_mode``, as torchvision); convolutions pad as Caffe's ``pad`` (:func:`~archbench.models._blocks.conv2d`).
Layer names follow the Caffe release (``fire2/squeeze1x1`` -> ``fire2_squeeze1x1``, ``pool4``,
``conv10``; the global average is ``pool10``).

Deliberate deviations (also in each spec's ``deviations``):

- 224x224 inputs normalised with the ImageNet mean and standard deviation (torchvision's, whose
  weights and reference accuracies these are); the Caffe release crops 227x227 and subtracts the
  BGR mean (104, 117, 123). At 224 conv1 of 1.0 gives 109x109 (111x111 from a 227 crop).
- 1.0 only: ``conv10`` without the ``pad: 1`` of the Caffe release's v1.0 prototxt. There that 1x1
  convolution is padded to 15x15 at 13x13 input, and its 56 border positions, ReLU(bias), are part
  of the global average; torchvision (and v1.1 of the release) has no padding there.
- He-uniform initialisation (torchvision's ``kaiming_uniform_``) instead of Caffe's Xavier; conv10
  is drawn from N(0, 0.01) as in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import layers

from ..errors import UsageError
from ..registry import AccuracyRef, Deviation, Paper, Ref, register_model, single_crop
from ._blocks import Pool, conv2d, pool2d
from ._common import BuildArgs, variant

__all__ = ["CONFIGS", "Fire", "fire_module", "squeezenet1_0", "squeezenet1_1"]

PAPER = Paper(
    title="SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size",
    authors="Forrest N. Iandola, Song Han, Matthew W. Moskewicz, Khalid Ashraf, William J. Dally, Kurt Keutzer",
    venue="arXiv 1602.07360",
    year=2016,
    url="https://arxiv.org/abs/1602.07360",
)


@dataclass(frozen=True)
class Fire:
    """A Fire module row: squeeze filters ``s1x1``, expand filters ``e1x1`` and ``e3x3``."""

    s1x1: int
    e1x1: int
    e3x3: int


@dataclass(frozen=True)
class Stem:
    """The first convolution (no padding, ReLU)."""

    filters: int
    kernel: int
    stride: int = 2


_POOL = Pool("max", 3, 2, pad=0, ceil_mode=True)

#: The paper's table 1 (1.0) and the Caffe release's v1.1: stem, then Fire modules and pools in order.
CONFIGS: dict[str, tuple[Stem, tuple[Fire | Pool, ...]]] = {
    "1_0": (
        Stem(96, 7),
        (
            _POOL,
            Fire(16, 64, 64),
            Fire(16, 64, 64),
            Fire(32, 128, 128),
            _POOL,
            Fire(32, 128, 128),
            Fire(48, 192, 192),
            Fire(48, 192, 192),
            Fire(64, 256, 256),
            _POOL,
            Fire(64, 256, 256),
        ),
    ),
    "1_1": (
        Stem(64, 3),
        (
            _POOL,
            Fire(16, 64, 64),
            Fire(16, 64, 64),
            _POOL,
            Fire(32, 128, 128),
            Fire(32, 128, 128),
            _POOL,
            Fire(48, 192, 192),
            Fire(48, 192, 192),
            Fire(64, 256, 256),
            Fire(64, 256, 256),
        ),
    ),
}

INPUT_SIZE = 224
MIN_INPUT_SIZE = {"1_0": 29, "1_1": 25}  # the last 3x3 pool needs a 3x3 input
DROPOUT = 0.5


def _conv_relu(x: Any, filters: int, kernel: int, name: str, *, stride: int = 1, pad: int = 0) -> Any:
    x = conv2d(x, filters, kernel, stride=stride, pad=pad, name=name)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def fire_module(x: Any, row: Fire, name: str) -> Any:
    """``{name}_squeeze1x1``, then ``{name}_expand1x1`` and ``{name}_expand3x3`` concatenated (1x1 first)."""
    x = _conv_relu(x, row.s1x1, 1, f"{name}_squeeze1x1")
    e1 = _conv_relu(x, row.e1x1, 1, f"{name}_expand1x1")
    e3 = _conv_relu(x, row.e3x3, 3, f"{name}_expand3x3", pad=1)
    return layers.Concatenate(name=f"{name}_concat")([e1, e3])


def _squeezenet(
    version: str, args: BuildArgs, *, dropout: float = DROPOUT, name: str | None = None
) -> keras.Model:
    """Build SqueezeNet ``version`` ("1_0" or "1_1"). Any input from the version's minimum size works.

    ``dropout`` is the rate before ``conv10``; ``name`` renames the model.
    """
    if version not in CONFIGS:
        raise UsageError(f"unknown SqueezeNet version {version!r}; choose from {', '.join(CONFIGS)}")
    if not 0.0 <= dropout < 1.0:
        raise UsageError(f"dropout must be in [0, 1), got {dropout!r}")
    stem, rows = CONFIGS[version]
    inputs, x = args.input((INPUT_SIZE, INPUT_SIZE, 3), MIN_INPUT_SIZE[version])
    x = _conv_relu(x, stem.filters, stem.kernel, "conv1", stride=stem.stride)
    index = 1  # Caffe numbers the layers conv1, fire2 ... fire9, conv10 and names a pool after the layer before it
    for row in rows:
        if isinstance(row, Fire):
            index += 1
            x = fire_module(x, row, f"fire{index}")
        else:
            x = pool2d(x, row, f"pool{index}")
    # 13 x 13 x 512 at 224 x 224 (both versions)

    def top(features: Any) -> Any:
        y = layers.Dropout(dropout, name="drop9")(features)
        y = _conv_relu(y, args.classes, 1, "conv10")
        y = layers.GlobalAveragePooling2D(name="pool10")(y)
        if args.classifier_activation is not None:
            keras.activations.get(args.classifier_activation)
        return layers.Activation(args.classifier_activation, name="predictions")(y)

    return args.finish(inputs, x, top, name=name)


# torchvision: pytorch/vision torchvision/models/squeezenet.py, SqueezeNet1_*_Weights.IMAGENET1K_V1
# meta (num_params, acc@1, acc@5, _ops in G-MACs).
_TORCHVISION = {
    "1_0": (1_248_424, 58.092, 80.420, 0.819),
    "1_1": (1_235_496, 58.178, 80.624, 0.349),
}
_SCOPE_PARAMS = "every weight and bias, with the conv10 classifier, 1000 classes"
_SCOPE_MACS = "multiply-adds of convolutions, 224x224, with classifier"
_TV_SOURCE = (
    "torchvision SqueezeNet{}_Weights.IMAGENET1K_V1 meta (pytorch/vision torchvision/models/squeezenet.py)"
)
_TV_DOCS = "torchvision docs, Classification table (docs.pytorch.org/vision/stable/models.html)"
# torchvision's documentation table rounds "GFLOPS" (multiply-adds) to 2 decimals.
_TV_DOCS_GMACS = {"1_0": 0.82, "1_1": 0.35}

_DEVIATIONS = (
    Deviation(
        "224x224 inputs normalised with the ImageNet mean and std; the Caffe release crops 227x227 and "
        "subtracts the BGR mean (104, 117, 123)",
        "torchvision's preprocessing, used by its weights and the reference accuracies quoted here",
    ),
    Deviation(
        "He-uniform initialisation of the convolutions (conv10: N(0, 0.01)); Caffe uses Xavier",
        "torchvision's initialisation, the recipe behind its weights",
    ),
)
_CONV10_DEVIATION = Deviation(
    "conv10 unpadded; the Caffe release's v1.0 pads this 1x1 convolution by 1, so its 56 border "
    "outputs (ReLU of the bias) enter the global average",
    "torchvision's network (and the release's v1.1) has no padding there; at 13x13 the padded "
    "conv10 would cost 15x15/13x13 = 1.33 times its 6.66 M multiply-adds",
)


def _spec(version: str) -> dict[str, Any]:
    tv_params, tv_top1, tv_top5, tv_gmacs = _TORCHVISION[version]
    source, docs = _TV_SOURCE.format(version), _TV_DOCS_GMACS[version]
    params = [Ref(tv_params, source, _SCOPE_PARAMS)]
    macs = [
        Ref(tv_gmacs * 1e9, source + ", _ops", _SCOPE_MACS, rtol=0.0005 / tv_gmacs, note="given to 3 decimals in G"),
        Ref(docs * 1e9, _TV_DOCS, _SCOPE_MACS, rtol=0.005 / docs, note="'GFLOPS' there are multiply-adds, given "
            "to 2 decimals"),
    ]  # fmt: skip
    accuracy = [
        AccuracyRef(
            tv_top1,
            tv_top5,
            source,
            note="torchvision's own training ('a simple training recipe', pytorch/vision#49)",
            protocol=single_crop(INPUT_SIZE),
            weights="torchvision",
        )
    ]
    deviations = list(_DEVIATIONS)
    if version == "1_0":
        params.append(
            Ref(
                1_248_424,
                "Iandola et al. 2016, table 1 (total of '# parameter before pruning')",
                _SCOPE_PARAMS,
            )
        )
        accuracy.append(
            AccuracyRef(
                57.5,
                80.3,
                "Iandola et al. 2016, table 2 (SqueezeNet, 32-bit, 4.8 MB)",
                note="the Caffe release's weights, evaluated on 227x227 centre crops",
                protocol=single_crop(227),
                weights="paper",
            )
        )
        deviations.append(_CONV10_DEVIATION)
    label = version.replace("_", ".")
    return dict(
        display_name=f"SqueezeNet {label}",
        family="SqueezeNet",
        year=PAPER.year,
        paper=PAPER,
        input_shape=(INPUT_SIZE, INPUT_SIZE, 3),
        min_input_size=MIN_INPUT_SIZE[version],
        deviations=tuple(deviations),
        params_refs=tuple(params),
        macs_refs=tuple(macs),
        accuracy_refs=tuple(accuracy),
        tags=("after-resnet",),
    )


def _register(version: str):
    """Register the builder of one version (options: ``dropout``, ``name``)."""
    name = f"squeezenet{version}"
    doc = (
        f"SqueezeNet {version.replace('_', '.')}"
        + (
            " as in table 1 of the paper."
            if version == "1_0"
            else " of the Caffe release (fewer MACs than 1.0)."
        )
        + "\n\nOptions: ``dropout`` (0.5), ``name``; see :func:`_squeezenet`."
    )
    builder = variant(_squeezenet, version, name=name, doc=doc, options=("dropout", "name"))
    return register_model(name=name, **_spec(version))(builder)


squeezenet1_0 = _register("1_0")
squeezenet1_1 = _register("1_1")
