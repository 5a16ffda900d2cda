"""The model registry: one :class:`ModelSpec` per architecture, filled by :func:`register_model`.

Every number in a spec that archbench did not measure itself is a :class:`Ref`: a value with its
``source`` and its ``scope`` (what exactly was counted, e.g. "with classifier, 224x224"). A test walks
the whole registry and checks each reference against the builder, collecting every mismatch; a
reference that is expected to differ carries ``rtol`` and a ``note`` saying why.

Names are lower case (``resnet50_v1_5``); wrappers of keras.applications live under the ``keras/``
prefix (``keras/ResNet50``). Patterns are shell globs where ``*`` does not cross ``/``, so ``"*"`` is
archbench's own zoo and ``"keras/*"`` the keras.applications models.

Named sets of models (:data:`MODEL_SETS`: ``lecture``, ``canziani2016``, ``canziani2018``,
``everything``) stand wherever a pattern does; ``all`` is the lecture's zoo.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import UnknownModelError, UsageError, WeightsError

__all__ = [
    "CHART",
    "MULTI_SCALE",
    "PROTOCOLS",
    "TEN_CROP",
    "WHOLE_IMAGE",
    "AccuracyRef",
    "Deviation",
    "AFTER_RESNET",
    "ILSVRCEntry",
    "MODEL_SETS",
    "ModelSet",
    "ModelSpec",
    "Paper",
    "Preprocessing",
    "Ref",
    "get_model",
    "get_spec",
    "is_single_crop",
    "list_models",
    "model_set",
    "register_model",
    "single_crop",
]


@dataclass(frozen=True)
class Paper:
    """Where an architecture was published."""

    title: str
    authors: str
    venue: str
    year: int
    url: str


@dataclass(frozen=True)
class Ref:
    """A figure published by someone else (paper, torchvision, keras.applications).

    ``value`` is in the unit the field name says (parameters: count; MACs: multiply-adds).
    ``scope`` states what was counted and at which input. ``rtol`` is the relative gap to our builder
    that is expected, explained in ``note``; ``rtol=0`` means our builder must match exactly.
    """

    value: float
    source: str
    scope: str = ""
    rtol: float = 0.0
    note: str = ""


SINGLE_CROP = "single centre crop at {} px"
TEN_CROP = "10-crop"
MULTI_SCALE = "multi-scale"
CHART = "read off a chart"
WHOLE_IMAGE = "whole image"
PROTOCOLS = (SINGLE_CROP.format("N"), TEN_CROP, MULTI_SCALE, CHART, WHOLE_IMAGE)
"""The evaluation protocols an :class:`AccuracyRef` may name (``N`` is the crop side in pixels)."""

_SINGLE_CROP = re.compile(r"single centre crop at (\d+) px\Z")


def single_crop(px: int) -> str:
    """``"single centre crop at 224 px"``: one centre crop of ``px`` x ``px``, no flips, one scale."""
    return SINGLE_CROP.format(int(px))


def is_single_crop(protocol: str) -> bool:
    """Whether ``protocol`` is one centre crop (at any size): what Canziani et al.'s chart compares."""
    return bool(_SINGLE_CROP.match(protocol or ""))


@dataclass(frozen=True)
class AccuracyRef:
    """A published accuracy, in percent, with how and with whose weights it was measured.

    ``scope`` is the data (default: the ImageNet-1k validation set). ``protocol`` is how the images
    were presented: :func:`single_crop` (``"single centre crop at 224 px"``), ``"10-crop"`` (four
    corners and the centre, each also flipped, predictions averaged), ``"multi-scale"``, ``"read off a
    chart"`` (a figure given only graphically, approximate) or ``"whole image"`` (no cropping, e.g.
    MNIST). ``weights`` says whose trained network was measured: ``"paper"`` (the authors' own),
    ``"keras.applications"``, ``"torchvision"``, ``"BVLC"`` (Caffe model zoo), ``"TF-slim"``, ...
    Papers' figures and released checkpoints of the same architecture differ by a point or two
    (recipe, framework, preprocessing), which is why the two are kept apart. Empty strings mean "not
    stated" (allowed for models registered from outside the zoo; the zoo states both).
    """

    top1: float | None
    top5: float | None
    source: str
    scope: str = "ImageNet-1k val"
    note: str = ""
    protocol: str = ""
    weights: str = ""

    def __post_init__(self) -> None:
        if self.protocol and not (is_single_crop(self.protocol) or self.protocol in PROTOCOLS[1:]):
            raise UsageError(
                f"unknown accuracy protocol {self.protocol!r}; use one of: {', '.join(PROTOCOLS)}"
            )


@dataclass(frozen=True)
class ILSVRCEntry:
    """An ILSVRC classification entry built on this architecture."""

    year: int
    team: str
    place: int
    top5_error: float
    source: str
    note: str = ""


@dataclass(frozen=True)
class Deviation:
    """A deliberate difference between our builder and the paper, with the reason."""

    what: str
    why: str


@dataclass(frozen=True)
class Preprocessing:
    """How images are prepared for a model (recorded in accuracy results)."""

    resize: int | None = 256
    crop: int | None = 224
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    scale: float = 1.0 / 255.0
    channels: str = "RGB"
    interpolation: str = "bilinear"


@dataclass(frozen=True)
class ModelSpec:
    """Everything archbench knows about one registered model, apart from what it measures.

    ``recipe`` holds the model's own training defaults, as :class:`archbench.train_config.TrainConfig`
    fields (``{"epochs": 30, "lr": 0.05}``): ``archbench train`` and the ``accuracy`` task use them
    for every option not given, and the global defaults for the rest.
    """

    name: str
    display_name: str
    family: str
    year: int
    paper: Paper
    builder: Callable[..., Any] = field(repr=False, compare=False)
    input_shape: tuple[int, int, int] = (224, 224, 3)
    min_input_size: int = 32
    num_classes: int = 1000
    implementation: str = "archbench"
    deviations: tuple[Deviation, ...] = ()
    params_refs: tuple[Ref, ...] = ()
    macs_refs: tuple[Ref, ...] = ()
    accuracy_refs: tuple[AccuracyRef, ...] = ()
    ilsvrc: ILSVRCEntry | None = None
    depth_paper: int | None = None
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    tags: tuple[str, ...] = ()
    description: str = ""
    recipe: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def reference_top1(self) -> AccuracyRef | None:
        """The headline reference accuracy (``archbench list``, ``models.csv``, the charts).

        The first figure with a top-1 measured on a single centre crop, else the first with a top-1
        at all. Modules list first the figure of the weights closest to their builder.
        """
        with_top1 = [r for r in self.accuracy_refs if r.top1 is not None]
        return next((r for r in with_top1 if is_single_crop(r.protocol)), with_top1[0] if with_top1 else None)

    def build(self, **kwargs: Any):
        """Build the Keras model (same as ``get_model(self.name, **kwargs)``).

        ``weights`` is a local file: archbench's own weights, or a foreign file converted on load, a
        keras.applications weight file of the model's keras counterpart or a torchvision checkpoint
        (``.pth``); see :mod:`archbench.convert.on_load`.
        """
        weights = kwargs.get("weights")
        if not isinstance(weights, str | os.PathLike) or not os.path.isfile(weights):
            return self.builder(**kwargs)
        from .convert.on_load import build_with_foreign_weights, is_torch_checkpoint

        if is_torch_checkpoint(weights):
            return build_with_foreign_weights(self, kwargs)
        try:
            return self.builder(**kwargs)
        except WeightsError as exc:
            return build_with_foreign_weights(self, kwargs, exc)


AFTER_RESNET = "after-resnet"
"""The tag of the zoo's networks published after ResNet (ILSVRC 2016-2017 and the 2018 updates of
Canziani's analysis): they are in ``*`` but not in the lecture's zoo (``all``)."""


@dataclass(frozen=True)
class ModelSet:
    """A named set of models: ``patterns`` (globs or names) minus the zoo models tagged ``without_tag``,
    plus the zoo models tagged ``with_tag``, plus the other sets in ``sets``. Names a set lists that this
    Keras does not provide (a keras.applications wrapper an older Keras lacks) are left out."""

    description: str
    source: str = ""
    patterns: tuple[str, ...] = ()
    with_tag: str = ""
    without_tag: str = ""
    sets: tuple[str, ...] = ()


MODEL_SETS: dict[str, ModelSet] = {
    "lecture": ModelSet(
        "the lecture's zoo, LeNet-5 (1998) to ResNet and Inception-v4 (2016): what `all` runs",
        "lecture 4 (convolutional networks)", patterns=("*",), without_tag=AFTER_RESNET),
    "canziani2016": ModelSet(
        "the networks of Canziani et al.'s Fig. 1 that the zoo builds (ENet is not in it)",
        "Canziani, Paszke & Culurciello, arXiv 1605.07678 (2016), Fig. 1",
        patterns=("alexnet", "bn_alexnet", "bn_nin", "googlenet", "inception_v3", "inception_v4", "resnet18",
                  "resnet34", "resnet50", "resnet101", "resnet152", "vgg16", "vgg19")),
    "canziani2018": ModelSet(
        "after ResNet: the zoo's post-2015 builders and the keras.applications networks of the 2018 "
        "updates of Canziani's analysis",
        "Culurciello, 'Analysis of deep neural networks' (2018); Bianco et al., IEEE Access 6 (2018)",
        patterns=("keras/MobileNet", "keras/MobileNetV2", "keras/MobileNetV3Small", "keras/MobileNetV3Large",
                  "keras/Xception", "keras/NASNetMobile", "keras/EfficientNetB0", "keras/DenseNet169",
                  "keras/DenseNet201", "keras/InceptionResNetV2"),
        with_tag=AFTER_RESNET),
    "everything": ModelSet("every named set: the lecture's zoo, Canziani 2016's and the 2018 update's networks",
                           sets=("lecture", "canziani2016", "canziani2018")),
}
"""Named sets for ``--models`` and ``archbench list``; ``all`` is ``lecture``."""

_SET_ALIASES = {"all": "lecture"}


def model_set(name: str) -> list[str]:
    """The registered members of a named set (or ``all``), in natural order within each part."""
    _ensure_loaded()
    entry = MODEL_SETS[_SET_ALIASES.get(name, name)]
    out: list[str] = []
    for pattern in entry.patterns:
        found = [n for n in _glob(pattern)
                 if not (entry.without_tag and entry.without_tag in _REGISTRY[n].tags)]
        out += [n for n in found if n not in out]
    if entry.with_tag:
        out += [n for n in _glob("*") if entry.with_tag in _REGISTRY[n].tags and n not in out]
    for other in entry.sets:
        out += [n for n in model_set(other) if n not in out]
    return out


def _glob(pattern: str) -> list[str]:
    regex = _glob_to_regex(pattern)
    return sorted((n for n in _REGISTRY if regex.match(n)), key=_natural_key)


_REGISTRY: dict[str, ModelSpec] = {}
_LOADED = False


def register_model(**spec_fields: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a builder; keyword arguments are :class:`ModelSpec` fields.

    ``name`` defaults to the function's name. Registering a name twice is an error.
    """

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        fields = dict(spec_fields)
        fields.setdefault("name", fn.__name__)
        fields.setdefault("description", (fn.__doc__ or "").strip().split("\n")[0])
        spec = ModelSpec(builder=fn, **fields)
        add_spec(spec)
        fn.spec = spec
        return fn

    return decorator


def add_spec(spec: ModelSpec) -> None:
    """Register a ready-made spec (used by the decorator and by keras.applications wrappers)."""
    if spec.name in _REGISTRY:
        raise UsageError(f"model {spec.name!r} is already registered")
    if spec.name != spec.name.strip() or not spec.name or "," in spec.name:
        raise UsageError(f"invalid model name {spec.name!r}")
    if spec.name in MODEL_SETS or spec.name in _SET_ALIASES:
        raise UsageError(f"model name {spec.name!r} is the name of a set of models")
    _REGISTRY[spec.name] = spec


def unregister_model(name: str) -> None:
    """Remove a model (for tests and user model files that re-register)."""
    _REGISTRY.pop(name, None)


def _ensure_loaded() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        from . import models  # noqa: F401  (registers the zoo)

        _load_entry_points()


ENTRY_POINT_GROUP = "archbench.models"


def _load_entry_points() -> None:
    """Import third-party packages that register models through the ``archbench.models`` entry points."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:
            raise UsageError(f"entry point {ep.name!r} ({ep.value}) failed to load: {exc}") from exc


def load_model_file(path: str) -> list[str]:
    """Run a user's Python file that registers models with :func:`register_model`; return the new names.

    The file is Python code and runs as such: only load files you trust.
    """
    import importlib.util
    import os

    _ensure_loaded()
    if not os.path.isfile(path):
        raise UsageError(f"model file not found: {path}")
    before = set(_REGISTRY)
    module_name = "archbench_user_models_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load model file {path} (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"model file {path} failed: {type(exc).__name__}: {exc}") from exc
    added = [n for n in _REGISTRY if n not in before]
    if not added:
        raise UsageError(f"model file {path} registers no model (use @archbench.register_model)")
    return added


def _natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name.lower())]


def _glob_to_regex(pattern: str) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out) + r"\Z", re.IGNORECASE)


def list_models(pattern: str | list[str] | tuple[str, ...] = "*") -> list[str]:
    """Registered names matching one or more globs, in natural order (``resnet18`` before ``resnet101``);
    a set's name (:data:`MODEL_SETS`, or ``all``) stands for its members, in the set's order.

    ``*`` does not cross ``/``: ``"*"`` lists archbench's zoo, ``"keras/*"`` the keras.applications
    wrappers, ``"*/*"`` both kinds of prefixed names.
    """
    _ensure_loaded()
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    if len(patterns) == 1 and (patterns[0] in MODEL_SETS or patterns[0] in _SET_ALIASES):
        return model_set(patterns[0])
    regexes = [_glob_to_regex(p) for p in patterns]
    names = [n for n in _REGISTRY if any(r.match(n) for r in regexes)]
    return sorted(names, key=_natural_key)


def _suggest(name: str) -> list[str]:
    names = list(_REGISTRY)
    lower = name.lower()
    prefix = sorted((n for n in names if n.lower().startswith(lower)), key=_natural_key)
    close = difflib.get_close_matches(lower, names, n=5, cutoff=0.6)
    seen: list[str] = []
    for n in prefix + close:
        if n not in seen:
            seen.append(n)
    return seen[:6]


def get_spec(name: str) -> ModelSpec:
    """The spec of a registered model; unknown names raise :class:`UnknownModelError` with suggestions."""
    _ensure_loaded()
    if name in _REGISTRY:
        return _REGISTRY[name]
    folded = {n.lower(): n for n in _REGISTRY}
    if name.lower() in folded:
        return _REGISTRY[folded[name.lower()]]
    hint = _suggest(name)
    msg = f"unknown model {name!r}"
    if hint:
        msg += "; did you mean: " + ", ".join(hint)
    else:
        msg += "; `archbench list` shows the registered models"
    raise UnknownModelError(msg)


def get_model(name: str, /, **kwargs: Any):
    """Build a registered model: ``get_model("resnet50", include_top=False, pooling="avg")``.

    Keyword arguments are those of keras.applications (``include_top, weights, input_tensor,
    input_shape, pooling, classes, classifier_activation``) plus the builder's own. ``weights`` is a
    local file; keras.applications and torchvision files are converted on load (:meth:`ModelSpec.build`).
    """
    return get_spec(name).build(**kwargs)


def resolve(patterns: str | list[str]) -> list[str]:
    """Expand a comma-separated list of names, globs and set names (:data:`MODEL_SETS`; ``all`` = the
    lecture's zoo) into model names.

    Exact names (including ``keras/...``) are validated; a glob that matches nothing is an error.
    """
    items = [p.strip() for p in patterns.split(",")] if isinstance(patterns, str) else list(patterns)
    items = [p for p in items if p]
    if not items:
        raise UsageError("no model given")
    out: list[str] = []
    for item in items:
        if item in MODEL_SETS or item in _SET_ALIASES:
            found = model_set(item)
        elif any(c in item for c in "*?"):
            found = list_models(item)
            if not found:
                raise UsageError(f"pattern {item!r} matches no registered model")
        else:
            found = [get_spec(item).name]
        out.extend(n for n in found if n not in out)
    return out
