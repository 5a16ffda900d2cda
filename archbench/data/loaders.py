"""Loaders: each source read into splits for one model, and :func:`load_dataset`, the one entry point."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputTooSmallError, UsageError
from ..registry import ModelSpec, Preprocessing, get_spec
from .datasets import Dataset, Recipe, Split, _tf
from .synthetic import SHAPES, _shape_source

__all__ = ["DATASETS", "IMAGENET_HINT", "load_dataset", "load_pixels", "parse_dataset", "stratified_split"]

DATASETS = ("digits", "shapes", "imagefolder", "imagenet", "npz")
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".gif")
INTERPOLATIONS = (
    "bilinear",
    "bicubic",
    "nearest",
    "area",
    "lanczos3",
    "lanczos5",
    "gaussian",
    "mitchellcubic",
)

IMAGENET_HINT = (
    "archbench cannot download ImageNet; point it at a local copy of the validation set: "
    "--dataset imagefolder --data-dir /path/to/imagenet/val "
    "(one folder per class, <wnid>/*.JPEG; or a flat folder with --dataset imagefolder:labels=FILE)"
)


def _array_source(x: np.ndarray, y: np.ndarray):
    tf = _tf()

    def make(index: np.ndarray):
        return tf.data.Dataset.from_tensor_slices((x[index], y[index].astype(np.int64)))

    return make


def _file_source(paths: np.ndarray, y: np.ndarray):
    tf = _tf()

    def read(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return image, label

    def make(index: np.ndarray):
        ds = tf.data.Dataset.from_tensor_slices((paths[index], y[index].astype(np.int64)))
        return ds.map(read, num_parallel_calls=tf.data.AUTOTUNE)

    return make


def stratified_split(labels: np.ndarray, heldout_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, heldout)``: ``heldout_fraction`` of every class, drawn with ``seed``, sorted."""
    if not 0.0 < heldout_fraction <= 1.0:
        raise UsageError(f"heldout_fraction must be in (0, 1], got {heldout_fraction}")
    rng = np.random.default_rng(seed)
    train, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = max(1, int(round(len(idx) * heldout_fraction)))
        held.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def _subset(index: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or limit >= len(index):
        return index
    return np.sort(np.random.default_rng((seed, 1)).choice(index, size=limit, replace=False))


def _splits_from_arrays(name, x, y, heldout_fraction, seed, limit) -> tuple[dict[str, Split], str | None]:
    if heldout_fraction >= 1.0:
        idx = _subset(np.arange(len(y)), limit, seed)
        return {"heldout": Split("heldout", y[idx], _array_source(x[idx], y[idx]))}, None
    train, held = stratified_split(y, heldout_fraction, seed)
    train, held = _subset(train, limit, seed), _subset(held, limit, seed)
    return {
        "train": Split("train", y[train], _array_source(x[train], y[train])),
        "heldout": Split("heldout", y[held], _array_source(x[held], y[held])),
    }, "train"


def _load_digits(options, data_dir, heldout_fraction, seed, limit):
    _no_options("digits", options)
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UsageError("the digits dataset needs scikit-learn: pip install scikit-learn") from None
    raw = load_digits()
    x = np.round(raw.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    y = raw.target.astype(np.int64)
    splits, train = _splits_from_arrays("digits", x, y, heldout_fraction, seed, limit)
    return dict(
        source="sklearn.datasets.load_digits",
        num_classes=10,
        class_names=tuple(str(d) for d in range(10)),
        splits=splits,
        train_split=train,
        heldout_split="heldout",
        native_size=(8, 8),
        channels=1,
        notes=("pixel values 0..16 rescaled to 0..255",),
    )


def _load_npz(options, data_dir, heldout_fraction, seed, limit):
    _no_options("npz", options)
    if data_dir is None:
        raise UsageError("the npz dataset needs a file: --data-dir /path/to/data.npz")
    path = _existing(data_dir)
    if not os.path.isfile(path):
        raise UsageError(f"npz dataset: {path} is not a file")
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            needed = ("x_train", "y_train", "x_test", "y_test")
            if not set(needed) <= keys:
                raise UsageError(
                    f"{path}: expected arrays {', '.join(needed)} (MNIST/CIFAR layout); found {', '.join(sorted(keys))}"
                )
            arrays = {k: f[k] for k in needed}
    except UsageError:
        raise
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path} as .npz: {exc}") from exc
    xs, ys = [], []
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"].reshape(-1)
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4 or x.shape[-1] not in (1, 3) or len(x) != len(y):
            raise UsageError(f"{path}: x_{part} must be (N, H, W) or (N, H, W, 1|3) with N = len(y_{part})")
        if x.dtype != np.uint8:
            top = 1.0 if float(np.max(x)) <= 1.0 else 255.0
            x = np.clip(np.round(x.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)
        if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
            raise UsageError(f"{path}: y_{part} must hold non-negative integer class labels")
        xs.append(x)
        ys.append(y.astype(np.int64))
    if xs[0].shape[1:] != xs[1].shape[1:]:
        raise UsageError(f"{path}: x_train and x_test images differ in shape")
    tr, te = _subset(np.arange(len(ys[0])), limit, seed), _subset(np.arange(len(ys[1])), limit, seed)
    splits = {
        "train": Split("train", ys[0][tr], _array_source(xs[0][tr], ys[0][tr])),
        "test": Split("test", ys[1][te], _array_source(xs[1][te], ys[1][te])),
    }
    num_classes = int(max(ys[0].max(initial=0), ys[1].max(initial=0))) + 1
    return dict(
        source=os.path.abspath(path),
        num_classes=num_classes,
        class_names=tuple(str(c) for c in range(num_classes)),
        splits=splits,
        train_split="train",
        heldout_split="test",
        native_size=tuple(int(d) for d in xs[0].shape[1:3]),
        channels=int(xs[0].shape[-1]),
    )


def _load_shapes(options, data_dir, heldout_fraction, seed, limit, input_size):
    allowed = {"count", "classes", "resolution"}
    unknown = set(options) - allowed
    if unknown:
        raise UsageError(
            f"shapes: unknown option {sorted(unknown)[0]!r}; options are {', '.join(sorted(allowed))}"
        )
    count = int(options.get("count", 2000))
    classes = int(options.get("classes", len(SHAPES)))
    resolution = int(options.get("resolution", input_size))
    if not 2 <= classes <= len(SHAPES):
        raise UsageError(f"shapes: classes must be between 2 and {len(SHAPES)}, got {classes}")
    if resolution < 8:
        raise UsageError(f"shapes: resolution must be at least 8, got {resolution}")
    if limit is not None:
        count = min(count, limit if heldout_fraction >= 1.0 else int(np.ceil(limit / heldout_fraction)))
    n_held = count if heldout_fraction >= 1.0 else max(classes, int(round(count * heldout_fraction)))
    n_train = count - n_held
    if heldout_fraction < 1.0 and n_train < classes:
        raise UsageError(f"shapes: count={count} is too small for {classes} classes")
    labels = np.arange(count) % classes
    splits = {
        "heldout": Split("heldout", labels[n_train:], _shape_source(classes, resolution, seed, n_train))
    }
    if n_train:
        splits = {
            "train": Split("train", labels[:n_train], _shape_source(classes, resolution, seed, 0)),
            **splits,
        }
    return dict(
        source=f"generated (archbench.data.render_shape, seed={seed})",
        num_classes=classes,
        class_names=SHAPES[:classes],
        splits=splits,
        train_split="train" if n_train else None,
        heldout_split="heldout",
        native_size=(resolution, resolution),
        channels=3,
        options={"count": count, "classes": classes, "resolution": resolution},
    )


def _list_images(folder: str) -> list[str]:
    return sorted(
        os.path.join(folder, f)
        for f in os.listdir(folder)
        if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, f))
    )


def _class_folders(root: str) -> tuple[list[str], np.ndarray, list[str]]:
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    paths, labels = [], []
    for i, c in enumerate(classes):
        files = _list_images(os.path.join(root, c))
        paths += files
        labels += [i] * len(files)
    return classes, np.asarray(labels, np.int64), paths


def _labels_file(root: str, labels_path: str) -> tuple[list[str], np.ndarray, list[str]]:
    labels_path = _existing(labels_path)
    rows = []
    with open(labels_path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.replace(",", " ").split()
            if len(parts) < 2:
                raise UsageError(f"{labels_path}:{number}: expected '<file name> <label>', got {line!r}")
            rows.append((parts[0], parts[1]))
    if not rows:
        raise UsageError(f"{labels_path}: no labels found")
    if all(lab.isdigit() for _, lab in rows):
        values = [int(lab) for _, lab in rows]
        classes = [str(c) for c in range(max(values) + 1)]
    else:
        classes = sorted({lab for _, lab in rows})
        values = [classes.index(lab) for _, lab in rows]
    paths = [os.path.join(root, name) for name, _ in rows]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise UsageError(f"{labels_path}: {len(missing)} listed images are missing, e.g. {missing[0]}")
    return classes, np.asarray(values, np.int64), paths


def _load_folder(options, data_dir, heldout_fraction, seed, limit, *, name):
    allowed = {"labels"}
    unknown = set(options) - allowed
    if unknown:
        raise UsageError(f"{name}: unknown option {sorted(unknown)[0]!r}; options are: labels=FILE")
    if data_dir is None:
        raise UsageError(IMAGENET_HINT)
    root = _existing(data_dir)
    if not os.path.isdir(root):
        raise UsageError(f"{name}: {root} is not a folder")
    parts: dict[str, tuple[list[str], np.ndarray, list[str]]] = {}
    if "labels" in options:
        parts["all"] = _labels_file(root, str(options["labels"]))
    elif os.path.isdir(os.path.join(root, "val")) and (
        name == "imagenet" or os.path.isdir(os.path.join(root, "train"))
    ):
        for part in ("train", "val"):
            if os.path.isdir(os.path.join(root, part)) and not (name == "imagenet" and part == "train"):
                parts[part] = _class_folders(os.path.join(root, part))
    else:
        parts["all"] = _class_folders(root)
    for part, (_, labels, _) in parts.items():
        if not len(labels):
            where = root if part == "all" else os.path.join(root, part)
            raise UsageError(
                f"{name}: no images found in {where} (expected <class>/*.JPEG or a labels file; "
                f"extensions {', '.join(IMAGE_EXTENSIONS)})"
            )
    if "train" in parts and parts["train"][0] != parts["val"][0]:
        raise UsageError(f"{name}: {root}/train and {root}/val hold different class folders")
    classes = next(iter(parts.values()))[0]
    splits: dict[str, Split] = {}
    if "all" in parts:
        _, labels, paths = parts["all"]
        paths = np.asarray(paths)
        if heldout_fraction >= 1.0:
            idx = _subset(np.arange(len(labels)), limit, seed)
            splits["val"] = Split("val", labels[idx], _file_source(paths[idx], labels[idx]))
        else:
            train, held = stratified_split(labels, heldout_fraction, seed)
            train, held = _subset(train, limit, seed), _subset(held, limit, seed)
            splits["train"] = Split("train", labels[train], _file_source(paths[train], labels[train]))
            splits["heldout"] = Split("heldout", labels[held], _file_source(paths[held], labels[held]))
    else:
        for part, (_, labels, paths) in parts.items():
            idx = _subset(np.arange(len(labels)), limit, seed)
            splits[part] = Split(part, labels[idx], _file_source(np.asarray(paths)[idx], labels[idx]))
    return dict(
        source=os.path.abspath(root),
        num_classes=len(classes),
        class_names=tuple(classes),
        splits=splits,
        train_split="train" if "train" in splits else None,
        heldout_split="heldout" if "heldout" in splits else "val",
        native_size=None,
        channels=3,
        options={k: str(v) for k, v in options.items()},
    )


def _existing(path: str | os.PathLike) -> str:
    path = os.path.expanduser(os.fspath(path))
    if not os.path.exists(path):
        raise UsageError(f"data path not found: {path}")
    return path


def _no_options(name: str, options: Mapping[str, Any]) -> None:
    if options:
        raise UsageError(f"dataset {name!r} takes no options, got {', '.join(options)}")


def parse_dataset(text: str) -> tuple[str, dict[str, Any]]:
    """``"shapes:count=500,classes=4"`` -> ``("shapes", {"count": 500, "classes": 4})``."""
    name, _, rest = text.strip().partition(":")
    name = name.strip().lower()
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    options: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"bad dataset option {item!r} in {text!r}: expected key=value")
        value = value.strip()
        options[key.strip()] = int(value) if value.lstrip("-").isdigit() else value
    return name, options


def _resolve_spec(model: str | ModelSpec) -> ModelSpec:
    return model if isinstance(model, ModelSpec) else get_spec(model)


def _recipe(
    spec: ModelSpec,
    input_size: int,
    channels_in: int,
    native_size: tuple[int, int] | None,
    interpolation: str | None,
) -> Recipe:
    pre: Preprocessing = spec.preprocessing
    channels_out = int(spec.input_shape[2])
    interp = (interpolation or pre.interpolation or "bilinear").lower()
    if interp not in INTERPOLATIONS:
        raise UsageError(f"unknown interpolation {interp!r}; choose from {', '.join(INTERPOLATIONS)}")
    if native_size is None:
        crop = pre.crop or input_size
        resize = pre.resize or crop
        if crop != input_size:
            # keep the model's resize/crop ratio at another input size (e.g. 256/224 at 160 -> 183/160)
            resize, crop = int(round(resize * input_size / crop)), input_size
        mode = "shorter_side+centre_crop"
    elif tuple(native_size) == (input_size, input_size):
        mode, resize, crop = "none", None, None
    else:
        mode, resize, crop = "stretch", input_size, None
    order = (pre.channels or "RGB").upper()
    if order in ("L", "GRAY", "GREY", "GRAYSCALE"):
        order = "L"
    mean, std = (
        _per_channel(pre.mean, channels_out, "mean", spec),
        _per_channel(pre.std, channels_out, "std", spec),
    )
    return Recipe(
        input_size=input_size,
        channels_in=channels_in,
        channels_out=channels_out,
        mode=mode,
        resize=resize,
        crop=crop,
        interpolation=interp,
        antialias=True,
        scale=float(pre.scale),
        mean=mean,
        std=std,
        channel_order=order if channels_out == 3 else "L",
    )


def _per_channel(values, channels: int, what: str, spec: ModelSpec) -> tuple[float, ...]:
    values = tuple(float(v) for v in (values if values is not None else ()))
    if not values:
        return (0.0,) * channels if what == "mean" else (1.0,) * channels
    if len(values) == channels:
        return values
    if len(values) == 1:
        return values * channels
    raise UsageError(
        f"{spec.name}: preprocessing {what} has {len(values)} values for a {channels}-channel input"
    )


def _read_source(parsed, options, data_dir, heldout_fraction, seed, limit, size) -> dict[str, Any]:
    if parsed == "digits":
        return _load_digits(options, data_dir, heldout_fraction, seed, limit)
    if parsed == "npz":
        return _load_npz(options, data_dir, heldout_fraction, seed, limit)
    if parsed == "shapes":
        return _load_shapes(options, data_dir, heldout_fraction, seed, limit, size)
    return _load_folder(options, data_dir, heldout_fraction, seed, limit, name=parsed)


def _check_split_options(heldout_fraction: float | None, limit: int | None, parsed: str) -> float:
    if heldout_fraction is None:
        heldout_fraction = 1.0 if parsed == "imagenet" else 0.2
    if not 0.0 < heldout_fraction <= 1.0:
        raise UsageError(f"heldout_fraction must be in (0, 1], got {heldout_fraction}")
    if limit is not None and limit < 1:
        raise UsageError(f"limit must be positive, got {limit}")
    return heldout_fraction


def load_pixels(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    heldout_fraction: float | None = None,
    seed: int = 0,
    limit: int | None = None,
    resolution: int = 32,
) -> Dataset:
    """Dataset ``name`` as its raw pixels, for models outside the zoo (the accuracy baselines).

    The same source, splits and seed as :func:`load_dataset` gives the zoo's models, but every image
    at its native size (``shapes``: drawn at ``resolution`` unless its ``resolution`` option says
    otherwise), channels as stored, values scaled to [0, 1], no resizing and no normalisation.
    Sources without one fixed square size (image folders) are an error.
    """
    parsed, options = parse_dataset(name)
    heldout_fraction = _check_split_options(heldout_fraction, limit, parsed)
    if parsed in ("imagefolder", "imagenet"):
        raise UsageError(f"{parsed!r} images have no fixed size: no raw-pixel view")
    info = _read_source(parsed, options, data_dir, heldout_fraction, seed, limit, resolution)
    h, w = info.pop("native_size")
    if h != w:
        raise UsageError(f"{parsed!r} images are {h}x{w}: the raw-pixel view needs square images")
    channels = info.pop("channels")
    recipe = Recipe(
        input_size=h,
        channels_in=channels,
        channels_out=channels,
        mode="none",
        resize=None,
        crop=None,
        interpolation="bilinear",
        antialias=False,
        scale=1.0 / 255.0,
        mean=(0.0,) * channels,
        std=(1.0,) * channels,
        channel_order="RGB" if channels == 3 else "L",
    )
    return Dataset(name=parsed, seed=seed, recipe=recipe, native_size=(h, w), **info)


def load_dataset(
    name: str,
    model: str | ModelSpec,
    *,
    data_dir: str | os.PathLike | None = None,
    image_size: int | None = None,
    upsample: bool = True,
    heldout_fraction: float | None = None,
    seed: int = 0,
    limit: int | None = None,
    interpolation: str | None = None,
    **options: Any,
) -> Dataset:
    """Load dataset ``name`` (``"shapes:count=500"`` style options allowed) prepared for ``model``.

    ``image_size`` is the side of the square model input (default: the spec's ``input_shape``);
    smaller images are upsampled to it unless ``upsample=False``, which turns that into an error.
    ``heldout_fraction`` (default 0.2; ``imagenet``: 1.0, the whole folder) is held out per class with
    ``seed``; ``limit`` caps every split at that many images (a seeded subset). Dataset options:
    ``shapes``: ``count`` (2000), ``classes`` (10), ``resolution`` (the input size);
    ``imagefolder``: ``labels`` (a file of ``<file name> <label>`` lines for a flat folder).
    """
    parsed, parsed_options = parse_dataset(name)
    options = {**parsed_options, **options}
    spec = _resolve_spec(model)
    size = int(image_size or spec.input_shape[0])
    if size < spec.min_input_size:
        raise InputTooSmallError(
            f"{spec.name}: input {size}x{size} is smaller than its minimum {spec.min_input_size}x{spec.min_input_size}"
        )
    heldout_fraction = _check_split_options(heldout_fraction, limit, parsed)
    info = _read_source(parsed, options, data_dir, heldout_fraction, seed, limit, size)
    native = info["native_size"]
    if native is not None and min(native) < size and not upsample:
        h, w = native
        if spec.min_input_size > min(native):
            raise UsageError(
                f"{spec.name} needs inputs of at least {spec.min_input_size}x{spec.min_input_size}, larger than "
                f"{parsed!r}'s {h}x{w} images, and upsampling is off: it can only see them upsampled"
            )
        raise UsageError(
            f"{spec.name}'s input is {size}x{size}, larger than {parsed!r}'s {h}x{w} images, and upsampling is "
            f"off; ask for --image-size {min(native)} (the model's minimum is {spec.min_input_size})"
        )
    recipe = _recipe(spec, size, info.pop("channels"), native, interpolation)
    return Dataset(name=parsed, seed=seed, recipe=recipe, **info)
