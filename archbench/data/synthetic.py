"""Synthetic data: procedurally drawn shapes, rendered from ``(seed, i)`` when image ``i`` is read."""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from .datasets import _tf

__all__ = ["SHAPES", "render_shape"]

SHAPES = ("circle", "square", "triangle", "diamond", "plus", "ring", "star", "hexagon", "crescent", "cross")


def render_shape(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw one shape of class ``kind`` as a ``size x size x 3`` uint8 image.

    Position, scale, rotation (within +-20 degrees, so a square never becomes a diamond), colours and
    noise are drawn from ``rng``; edges are anti-aliased by 2x supersampling.
    """
    if kind not in SHAPES:
        raise UsageError(f"unknown shape {kind!r}; shapes are {', '.join(SHAPES)}")
    n = 2 * size
    grid = (np.arange(n) + 0.5) / n * 2.0 - 1.0
    yy, xx = np.meshgrid(-grid, grid, indexing="ij")
    cx, cy = rng.uniform(-0.3, 0.3, size=2)
    radius = rng.uniform(0.4, 0.65)
    theta = np.deg2rad(rng.uniform(-20.0, 20.0))
    px, py = (xx - cx) / radius, (yy - cy) / radius
    u = np.cos(theta) * px + np.sin(theta) * py
    v = -np.sin(theta) * px + np.cos(theta) * py
    mask = _shape_mask(kind, u, v)
    background = rng.uniform(0.0, 1.0, size=3)
    foreground = rng.uniform(0.0, 1.0, size=3)
    while abs(float((foreground - background) @ (0.299, 0.587, 0.114))) < 0.3:
        foreground = rng.uniform(0.0, 1.0, size=3)
    image = np.where(mask[..., None], foreground, background)
    image = image.reshape(size, 2, size, 2, 3).mean(axis=(1, 3))
    image = image + rng.normal(0.0, 0.03, size=image.shape)
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def _polygon(u: np.ndarray, v: np.ndarray, sides: int, first_vertex_deg: float) -> np.ndarray:
    inside = np.ones(u.shape, dtype=bool)
    apothem = np.cos(np.pi / sides)
    for i in range(sides):
        normal = np.deg2rad(first_vertex_deg) + np.pi / sides + 2.0 * np.pi * i / sides
        inside &= u * np.cos(normal) + v * np.sin(normal) <= apothem
    return inside


def _shape_mask(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r2 = u * u + v * v
    if kind == "circle":
        return r2 <= 1.0
    if kind == "ring":
        return (r2 <= 1.0) & (r2 >= 0.36)
    if kind == "square":
        return _polygon(u, v, 4, 45.0)
    if kind == "diamond":
        return _polygon(u, v, 4, 90.0)
    if kind == "triangle":
        return _polygon(u * 1.1, v * 1.1 + 0.2, 3, 90.0)
    if kind == "hexagon":
        return _polygon(u, v, 6, 0.0)
    if kind == "plus":
        return ((np.abs(u) <= 0.28) & (np.abs(v) <= 0.95)) | ((np.abs(v) <= 0.28) & (np.abs(u) <= 0.95))
    if kind == "cross":
        a, b = (u + v) / np.sqrt(2.0), (u - v) / np.sqrt(2.0)
        return ((np.abs(a) <= 0.28) & (np.abs(b) <= 0.95)) | ((np.abs(b) <= 0.28) & (np.abs(a) <= 0.95))
    if kind == "star":
        phi = np.arctan2(v, u) - np.pi / 2.0
        frac = np.abs(((phi / (2.0 * np.pi / 5.0)) % 1.0) - 0.5) * 2.0  # 1 at a point, 0 between points
        return np.sqrt(r2) <= 0.42 + 0.58 * frac**1.5
    # crescent
    return (r2 <= 1.0) & ((u - 0.45) ** 2 + v * v >= 0.72)


def _shape_source(classes: int, resolution: int, seed: int, offset: int):
    tf = _tf()

    def render(i):
        i = int(i)
        label = i % classes
        image = render_shape(SHAPES[label], resolution, np.random.default_rng((seed, i)))
        return image, np.int64(label)

    def make(index: np.ndarray):
        def read(i):
            image, label = tf.numpy_function(render, [i], [tf.uint8, tf.int64], stateful=False)
            return tf.ensure_shape(image, (resolution, resolution, 3)), tf.ensure_shape(label, ())

        ds = tf.data.Dataset.from_tensor_slices(np.asarray(index, np.int64) + offset)
        return ds.map(read, num_parallel_calls=tf.data.AUTOTUNE)

    return make
