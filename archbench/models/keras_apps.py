"""keras.applications, registered as ``keras/<Name>`` (``keras/ResNet50``, ``keras/EfficientNetB0``, ...).

These are wrappers, not archbench builders: the network is whatever the installed Keras builds, and
archbench only gives it the common signature, refuses downloads and loads local weight files. They sit
beside the zoo for comparison (``list_models("keras/*")``); ``list_models("*")`` leaves them out.

Reference: https://keras.io/api/applications/ (each builder's docstring cites its paper).

How a spec is filled without building anything (importing archbench must stay fast):

- The builders are found by enumerating ``keras.applications`` at import time: every public function
  whose signature has ``include_top`` and ``weights`` (this skips ``preprocess_input``,
  ``decode_predictions`` and the submodules). No list of names is kept here.
- ``paper`` is the reference the keras docstring cites (title, arXiv link, venue); ``year`` is the
  arXiv submission year from the link (``1512.03385`` -> 2015), else the venue's year. Authors are
  not in the docstrings and are left empty. A builder whose docstring cites nothing points at
  keras.io/api/applications with ``year=0`` (unknown).
- The default input size comes from :data:`DEFAULT_SIZES`, the sizes keras passes to
  ``obtain_input_shape`` for the models that do not use 224, and 224 for all others; the minimum size
  likewise from :data:`MIN_SIZES` (keras' ``min_size``), else 32. A build given no ``input_shape``
  or ``input_tensor`` is built at that default size, so every wrapper has a fully known input and
  can be counted as registered: keras itself leaves the size open (``(None, None, 3)``) for
  MobileNetV3Small and MobileNetV3Large, and for every model with ``include_top=False``.
- ``preprocessing`` follows the mode of the model's ``preprocess_input`` in keras ("caffe": BGR minus
  the ImageNet mean; "torch": RGB scaled to [0, 1] then standardised; "tf": scaled to [-1, 1]); models
  whose ``preprocess_input`` is the identity (EfficientNet, ConvNeXt, MobileNetV3, ...) rescale inside
  the network and take raw 0-255 RGB. Resize/crop use the customary 87.5 % centre crop.
- Reference accuracy and parameter counts are the keras.io table's, for the models archbench's
  REFERENCES.md lists (:data:`KERAS_TABLE`).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from collections.abc import Callable
from typing import Any

import keras

from ..errors import InputTooSmallError
from ..registry import AccuracyRef, ModelSpec, Paper, Preprocessing, Ref, add_spec, single_crop
from ._common import KERAS_ARGUMENTS, BuildArgs, load_local_weights, variant

__all__ = [
    "DEFAULT_SIZES",
    "KERAS_PREFIX",
    "KERAS_TABLE",
    "MIN_SIZES",
    "application_functions",
    "wrap_application",
]

KERAS_PREFIX = "keras/"
KERAS_DOCS = "https://keras.io/api/applications/"

DEFAULT_SIZES: dict[str, int] = {
    "InceptionV3": 299,
    "InceptionResNetV2": 299,
    "Xception": 299,
    "NASNetLarge": 331,
    "EfficientNetB1": 240,
    "EfficientNetB2": 260,
    "EfficientNetB3": 300,
    "EfficientNetB4": 380,
    "EfficientNetB5": 456,
    "EfficientNetB6": 528,
    "EfficientNetB7": 600,
    "EfficientNetV2B1": 240,
    "EfficientNetV2B2": 260,
    "EfficientNetV2B3": 300,
    "EfficientNetV2S": 384,
    "EfficientNetV2M": 480,
    "EfficientNetV2L": 480,
}
"""Default input sizes that differ from 224 (keras.applications sources / keras.io)."""

MIN_SIZES: dict[str, int] = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}
"""Minimum input sizes that differ from 32 (the ``min_size`` keras checks)."""

_KERAS_TABLE_SOURCE = "keras.io/api/applications, table of available models"

KERAS_TABLE: dict[str, tuple[float, float, int]] = {
    "VGG16": (71.3, 90.1, 138_357_544),
    "VGG19": (71.3, 90.0, 143_667_240),
    "ResNet50": (74.9, 92.1, 25_636_712),
    "ResNet101": (76.4, 92.8, 44_707_176),
    "ResNet152": (76.6, 93.1, 60_419_944),
    "InceptionV3": (77.9, 93.7, 23_851_784),
    "MobileNetV2": (71.3, 90.1, 3_538_984),
    "EfficientNetB0": (77.1, 93.3, 5_330_571),
}
"""keras.io's (top-1 %, top-5 %, parameters) for the models in archbench's REFERENCES.md."""

_KERAS_PARAMS_RTOL = 0.01  # batch-norm statistics are under 1 % of these models' weights
_CROP_FRACTION = 0.875
_PREPROCESSING_MODES: dict[str, dict[str, Any]] = {
    "caffe": dict(mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0), scale=1.0, channels="BGR"),
    "torch": dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), scale=1.0 / 255.0, channels="RGB"),
    "tf": dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), scale=1.0 / 255.0, channels="RGB"),
    "none": dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), scale=1.0, channels="RGB"),
}
_REFERENCE = re.compile(
    r"\[(?P<title>[^\]]+)\]\(\s*(?P<url>https?://[^\s)]+)\s*\)(?:\s*\((?P<venue>[A-Za-z]+)\s+(?P<year>\d{4})\))?"
)
_ARXIV_ID = re.compile(r"arxiv\.org/(?:abs|pdf)/(\d{2})\d{2}\.")
_MODE = re.compile(r"""mode\s*=\s*["'](\w+)["']""")


def application_functions() -> dict[str, Callable[..., Any]]:
    """Every model builder in ``keras.applications``, by name (functions taking include_top and weights)."""
    apps = keras.applications
    found = {}
    for name in sorted(dir(apps)):
        fn = getattr(apps, name)
        if name.startswith("_") or not inspect.isfunction(fn):
            continue
        params = inspect.signature(fn).parameters
        if "include_top" in params and "weights" in params:
            found[name] = fn
    return found


def _paper(fn: Callable[..., Any]) -> Paper:
    doc = fn.__doc__ or ""
    start = doc.find("Reference")
    match = _REFERENCE.search(doc, start) if start >= 0 else None
    if match is None:
        return Paper(
            title=f"keras.applications.{fn.__name__}", authors="", venue="keras.io", year=0, url=KERAS_DOCS
        )
    url = match["url"]
    arxiv = _ARXIV_ID.search(url)
    year = 2000 + int(arxiv[1]) if arxiv else int(match["year"] or 0)
    return Paper(
        title=" ".join(match["title"].split()),
        authors="",
        venue=match["venue"] or ("arXiv" if arxiv else "keras.io"),
        year=year,
        url=url,
    )


def _preprocessing(fn: Callable[..., Any], size: int) -> Preprocessing:
    module = sys.modules.get(fn.__module__)
    pre = getattr(module, "preprocess_input", None)
    mode = "none"
    if pre is not None:
        try:
            found = _MODE.search(inspect.getsource(pre))
        except (OSError, TypeError):
            found = None
        mode = found[1] if found and found[1] in _PREPROCESSING_MODES else "none"
    return Preprocessing(resize=round(size / _CROP_FRACTION), crop=size, **_PREPROCESSING_MODES[mode])


def _input_hw(input_tensor: Any, input_shape: Any) -> tuple[Any, ...]:
    if input_tensor is not None:
        return tuple(input_tensor.shape[1:3])
    if input_shape is not None:
        return tuple(input_shape[:2])
    return ()


def _application(config: tuple[Callable[..., Any], int, int], args: BuildArgs, **options: Any) -> keras.Model:
    """Build keras.applications function ``fn`` of ``config = (fn, size, min_size)`` with ``weights=None``,
    at ``size x size`` unless an input shape or tensor is given; then load local weights."""
    fn, size, min_size = config
    if args.input_tensor is None and args.input_shape is None:
        args = dataclasses.replace(args, input_shape=(size, size, 3))
    for dim in _input_hw(args.input_tensor, args.input_shape):
        if dim is not None and dim < min_size:
            raise InputTooSmallError(
                f"{args.name}: input {dim} is smaller than the minimum {min_size}x{min_size}"
            )
    model = fn(**{**args.keras_arguments(), "weights": None}, **options)
    if args.weights is not None:
        load_local_weights(model, args.weights)
    return model


def wrap_application(
    fn: Callable[..., Any], *, name: str, min_size: int, size: int | None = None, doc: str | None = None
) -> Callable[..., Any]:
    """The archbench builder for a keras.applications function: weights never downloaded, sizes checked,
    built at ``size`` (default: the documented one, :data:`DEFAULT_SIZES` or 224) when no input is given.

    keras always gets ``weights=None``; a local weights path is loaded afterwards with
    :func:`archbench.models._common.load_local_weights`. Extra keyword arguments go to keras
    (``alpha``, ``include_preprocessing``, ``name``, ...); unknown ones are a :class:`UsageError`.
    """
    options = [p for p in inspect.signature(fn).parameters if p not in KERAS_ARGUMENTS]
    doc = doc or (
        f"keras.applications.{fn.__name__}, wrapped: never downloads weights (local files only).\n\n"
        "Not an archbench builder; see archbench.models.keras_apps."
    )
    size = size or DEFAULT_SIZES.get(fn.__name__, 224)
    return variant(_application, (fn, size, min_size), name=name, doc=doc, options=options)


def _references(name: str) -> tuple[tuple[Ref, ...], tuple[AccuracyRef, ...]]:
    if name not in KERAS_TABLE:
        return (), ()
    top1, top5, params = KERAS_TABLE[name]
    size = DEFAULT_SIZES.get(name, 224)
    params_ref = Ref(
        params,
        source=_KERAS_TABLE_SOURCE,
        scope=f"total weights (model.count_params(), batch-norm moving statistics included), with "
        f"classifier, 1000 classes, {size}x{size}",
        rtol=_KERAS_PARAMS_RTOL,
        note="keras.io counts batch-norm moving means and variances as parameters; archbench's paper "
        "count leaves them out (equal for models without batch norm, e.g. VGG)",
    )
    accuracy = AccuracyRef(
        top1,
        top5,
        source=_KERAS_TABLE_SOURCE,
        note="keras' ImageNet weights; one centre crop at the default input size (keras-applications "
        "README, 'Performance')",
        protocol=single_crop(size),
        weights="keras.applications",
    )
    return (params_ref,), (accuracy,)


def _spec(name: str, fn: Callable[..., Any]) -> ModelSpec:
    size = DEFAULT_SIZES.get(name, 224)
    min_size = MIN_SIZES.get(name, 32)
    paper = _paper(fn)
    params_refs, accuracy_refs = _references(name)
    module = fn.__module__.rsplit(".", 1)[-1]
    return ModelSpec(
        name=f"{KERAS_PREFIX}{name}",
        display_name=f"{name} (keras.applications)",
        family="keras.applications",
        year=paper.year,
        paper=paper,
        builder=wrap_application(fn, name=f"{KERAS_PREFIX}{name}", min_size=min_size, size=size),
        input_shape=(size, size, 3),
        min_input_size=min_size,
        implementation="keras.applications",
        params_refs=params_refs,
        accuracy_refs=accuracy_refs,
        preprocessing=_preprocessing(fn, size),
        tags=("keras.applications", module),
        description=f"keras.applications.{name} (wrapper, weights=None; local weight files only)",
    )


for _name, _fn in application_functions().items():
    add_spec(_spec(_name, _fn))
