"""Datasets for measuring top-1 accuracy: streamed, seeded, and explicit about their preprocessing.

Four sources, each loaded *for one model* (its input size, channels and normalisation):

- ``digits``: scikit-learn's bundled handwritten digits (1,797 images of 8x8, 10 classes; offline),
  pixel values 0..16 rescaled to 0..255, then resized to the model's input.
- ``shapes``: procedurally generated shapes (circle, square, triangle, ...), any number of images,
  classes and resolution; image ``i`` is rendered from ``(seed, i)`` when it is read, so nothing is held
  in memory and two runs with the same options see the same pixels.
- ``imagefolder``: a local folder in ImageNet layout (``<root>/<wnid>/*.JPEG``, or ``<root>/train`` and
  ``<root>/val`` holding such folders), or a flat folder of images with a labels file; evaluated with
  the standard recipe: resize the shorter side to ``Preprocessing.resize``, centre crop
  ``Preprocessing.crop``. ``imagenet`` is the same loader with the whole folder held out (the ILSVRC-2012
  validation set). Class indices are the sorted folder names, which is ImageNet's class order.
- ``npz``: a local ``.npz`` file in the MNIST/CIFAR layout (``x_train, y_train, x_test, y_test``), read
  with ``allow_pickle=False``; its test part is the held-out split.

Images stay ``uint8`` until they are read: a ``tf.data`` pipeline (which feeds Keras on every backend)
decodes or renders them batch by batch, adapts the channels (grey replicated to RGB, RGB to luminance),
resizes with ``tf.image.resize`` and normalises with the model's
:class:`~archbench.registry.Preprocessing`. Every :class:`Dataset` states what it did in
:meth:`Dataset.fingerprint`, which accuracy results carry column by column.

Splits are deterministic: ``digits`` and folders without a ``train``/``val`` layout are split per class
with a seeded permutation (``heldout_fraction`` of each class held out); ``shapes`` holds out the last
images; ``npz`` and ``train``/``val`` folders keep their own split.

The package: :mod:`~archbench.data.datasets` (the :class:`Dataset` record and its ``tf.data``
pipeline), :mod:`~archbench.data.synthetic` (the drawn shapes) and :mod:`~archbench.data.loaders`
(each source, and :func:`load_dataset`).
"""

from .datasets import AUGMENTATIONS, Dataset, Recipe, Split
from .loaders import (
    DATASETS,
    IMAGE_EXTENSIONS,
    IMAGENET_HINT,
    INTERPOLATIONS,
    load_dataset,
    load_pixels,
    parse_dataset,
    stratified_split,
)
from .synthetic import SHAPES, render_shape

__all__ = [
    "AUGMENTATIONS",
    "DATASETS",
    "IMAGENET_HINT",
    "IMAGE_EXTENSIONS",
    "INTERPOLATIONS",
    "SHAPES",
    "Dataset",
    "Recipe",
    "Split",
    "load_dataset",
    "load_pixels",
    "parse_dataset",
    "render_shape",
    "stratified_split",
]
