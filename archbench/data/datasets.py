"""The dataset record: splits, the preprocessing recipe, and the ``tf.data`` pipeline that streams them.

Images stay ``uint8`` until they are read; :meth:`Dataset.batches` decodes or renders them batch by
batch, adapts the channels, resizes with ``tf.image.resize`` and normalises with the recipe, and
:meth:`Dataset.fingerprint` states what it did.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UsageError

__all__ = ["AUGMENTATIONS", "Dataset", "Recipe", "Split"]

AUGMENTATIONS = ("flip", "shift", "affine")

# "affine": largest rotation (radians), relative scale change, horizontal shear, and shift (of the side)
AFFINE_LIMITS = {"rotation": 0.15, "scale": 0.1, "shear": 0.1, "shift": 1 / 16}


def _tf():
    import tensorflow as tf

    return tf


@dataclass(frozen=True)
class Split:
    """One part of a dataset: its size, labels and a way to stream ``(uint8 image, label)`` pairs."""

    name: str
    labels: np.ndarray = field(repr=False)
    make: Callable[[np.ndarray], Any] = field(repr=False, compare=False)

    @property
    def size(self) -> int:
        return int(len(self.labels))


@dataclass(frozen=True)
class Recipe:
    """How raw images become model inputs (the model's preprocessing, resolved for one dataset)."""

    input_size: int
    channels_in: int
    channels_out: int
    mode: str  # "none", "stretch" or "shorter_side+centre_crop"
    resize: int | None
    crop: int | None
    interpolation: str
    antialias: bool
    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channel_order: str


@dataclass(frozen=True)
class Dataset:
    """A dataset loaded for one model: splits, class count and the preprocessing recipe.

    ``train_split`` is ``None`` when there is nothing to train on (``imagenet``, or a folder held out
    entirely). :meth:`batches` streams normalised ``float32`` batches; :meth:`fingerprint` describes them.
    """

    name: str
    source: str
    num_classes: int
    class_names: tuple[str, ...]
    splits: Mapping[str, Split]
    train_split: str | None
    heldout_split: str
    recipe: Recipe
    native_size: tuple[int, int] | None
    seed: int
    options: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def input_shape(self) -> tuple[int, int, int]:
        r = self.recipe
        return (r.input_size, r.input_size, r.channels_out)

    def split(self, name: str | None = None) -> Split:
        """A split by name; ``None`` is the held-out split."""
        name = self.heldout_split if name is None else name
        if name not in self.splits:
            raise UsageError(f"dataset {self.name!r} has no split {name!r}; it has {', '.join(self.splits)}")
        return self.splits[name]

    def batches(
        self,
        split: str | None = None,
        batch_size: int = 32,
        *,
        shuffle: bool = False,
        seed: int = 0,
        epoch: int = 0,
        augment: tuple[str, ...] = (),
    ):
        """A ``tf.data.Dataset`` of ``(float32 images, int32 labels)`` batches of one split.

        With ``shuffle`` the order is a permutation drawn from ``(seed, epoch)``, so a resumed training
        sees the same order as an uninterrupted one. ``augment`` (training only) may hold ``"flip"``
        (random horizontal flip), ``"shift"`` (random translation by up to 1/16 of the side) and
        ``"affine"`` (a random planar affine distortion: rotation up to 0.15 rad, scaling by up to 10 %,
        horizontal shear up to 0.1 and translation up to 1/16 of the side, :data:`AFFINE_LIMITS`; like
        the distortions LeCun et al. 1998 trained LeNet-5 with, section III.C, which squeeze where this
        rotates). Uncovered pixels take the image's lowest value. All are seeded per image.
        """
        tf = _tf()
        part = self.split(split)
        if batch_size < 1:
            raise UsageError(f"batch size must be positive, got {batch_size}")
        unknown = [a for a in augment if a not in AUGMENTATIONS]
        if unknown:
            raise UsageError(f"unknown augmentation {unknown[0]!r}; choose from {', '.join(AUGMENTATIONS)}")
        index = np.arange(part.size)
        if shuffle:
            index = np.random.default_rng((seed, epoch)).permutation(part.size)
        ds = part.make(index).map(self._preprocess, num_parallel_calls=tf.data.AUTOTUNE)
        if augment:
            aug = _augmenter(tuple(augment), self.recipe.input_size, (seed, epoch))
            ds = ds.enumerate().map(aug, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def _preprocess(self, image, label):
        tf = _tf()
        r = self.recipe
        x = tf.cast(image, tf.float32)
        if r.mode == "stretch":
            x = tf.image.resize(
                x, (r.input_size, r.input_size), method=r.interpolation, antialias=r.antialias
            )
        elif r.mode == "shorter_side+centre_crop":
            x = _resize_shorter_and_crop(x, r)
        if r.mode != "none" and r.interpolation not in ("bilinear", "nearest", "area"):
            x = tf.clip_by_value(x, 0.0, 255.0)
        if r.channels_in == 1 and r.channels_out == 3:
            x = tf.tile(x, (1, 1, 3))
        elif r.channels_in == 3 and r.channels_out == 1:
            x = tf.image.rgb_to_grayscale(x)
        x = tf.ensure_shape(x, (r.input_size, r.input_size, r.channels_out))
        x = x * r.scale
        if r.channel_order == "BGR":
            x = x[..., ::-1]
        x = (x - tf.constant(r.mean, tf.float32)) / tf.constant(r.std, tf.float32)
        return x, tf.cast(label, tf.int32)

    def fingerprint(self, split: str | None = None) -> dict[str, Any]:
        """What was read and how it was prepared: stamped into every accuracy row."""
        part = self.split(split)
        r = self.recipe
        if r.channels_in == r.channels_out:
            channels = f"{r.channels_out}"
        elif r.channels_out == 3:
            channels = "1->3 (replicated)"
        else:
            channels = "3->1 (ITU-R 601 luminance)"
        native = f"{self.native_size[0]}x{self.native_size[1]}" if self.native_size else "variable"
        upsampled = bool(self.native_size and min(self.native_size) < r.input_size)
        return {
            "dataset": self.name,
            "data_source": self.source,
            "split": part.name,
            "n": part.size,
            "num_classes": self.num_classes,
            "data_seed": self.seed,
            "native_size": native,
            "input_size": r.input_size,
            "resize_mode": r.mode,
            "resize": r.resize,
            "crop": r.crop,
            "interpolation": r.interpolation if r.mode != "none" else None,
            "antialias": r.antialias if r.mode != "none" else None,
            "resize_impl": "tf.image.resize" if r.mode != "none" else None,
            "upsampled": upsampled,
            "scale": r.scale,
            "mean": list(r.mean),
            "std": list(r.std),
            "channel_order": r.channel_order,
            "channels": channels,
            **{f"data_{k}": v for k, v in sorted(self.options.items())},
            **({"data_notes": "; ".join(self.notes)} if self.notes else {}),
        }


def _resize_shorter_and_crop(x, r: Recipe):
    tf = _tf()
    shape = tf.shape(x)
    h = tf.cast(shape[0], tf.float32)
    w = tf.cast(shape[1], tf.float32)
    short = tf.minimum(h, w)
    # torchvision's Resize(int): the longer side is truncated, not rounded
    new_h = tf.cast(tf.math.floor(r.resize * h / short), tf.int32)
    new_w = tf.cast(tf.math.floor(r.resize * w / short), tf.int32)
    new_h = tf.where(h <= w, r.resize, new_h)
    new_w = tf.where(w <= h, r.resize, new_w)
    x = tf.image.resize(x, tf.stack([new_h, new_w]), method=r.interpolation, antialias=r.antialias)
    top = tf.cast(tf.math.round(tf.cast(new_h - r.crop, tf.float32) / 2.0), tf.int32)
    left = tf.cast(tf.math.round(tf.cast(new_w - r.crop, tf.float32) / 2.0), tf.int32)
    x = x[top : top + r.crop, left : left + r.crop]
    if r.crop != r.input_size:
        x = tf.image.resize(x, (r.input_size, r.input_size), method=r.interpolation, antialias=r.antialias)
    return x


def _augmenter(augment: tuple[str, ...], size: int, seed: tuple[int, int]):
    tf = _tf()
    base = int(np.random.default_rng(seed).integers(2**31 - 1))
    pad = max(1, size // 16)

    def aug(i, item):
        x, y = item
        s = tf.stack([tf.constant(base, tf.int64), i])
        if "flip" in augment:
            x = tf.image.stateless_random_flip_left_right(x, seed=s)
        if "shift" in augment:
            padded = tf.pad(x, [[pad, pad], [pad, pad], [0, 0]], constant_values=tf.reduce_min(x))
            x = tf.image.stateless_random_crop(padded, tf.shape(x), seed=s + 1)
        if "affine" in augment:
            x = _affine(x, size, s + 2)
        return x, y

    return aug


def _affine(x, size: int, seed):
    """``x`` resampled (bilinear) through a random affine map of :data:`AFFINE_LIMITS` about its centre."""
    tf = _tf()
    u = tf.random.stateless_uniform([5], seed=seed, minval=-1.0, maxval=1.0)
    angle = u[0] * AFFINE_LIMITS["rotation"]
    scale = 1.0 + u[1] * AFFINE_LIMITS["scale"]
    shear = u[2] * AFFINE_LIMITS["shear"]
    dx, dy = u[3] * size * AFFINE_LIMITS["shift"], u[4] * size * AFFINE_LIMITS["shift"]
    # each output pixel (col, row) reads the input at A (col - c, row - c) + c - (dx, dy)
    a0, a1 = tf.cos(angle) / scale, (shear - tf.sin(angle)) / scale
    b0, b1 = tf.sin(angle) / scale, tf.cos(angle) / scale
    c = (size - 1) / 2.0
    transform = tf.stack([a0, a1, c - (a0 + a1) * c - dx, b0, b1, c - (b0 + b1) * c - dy, 0.0, 0.0])
    low = tf.reduce_min(x)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=(x - low)[None],
        transforms=transform[None],
        output_shape=tf.shape(x)[:2],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return out[0] + low
