"""Helpers shared by the topics: argument checks, number and matrix formatting, backend autodiff."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from ..errors import UsageError


def positive(value, what: str) -> int:
    """``value`` as an ``int`` if it is a positive integer, else a usage error naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise UsageError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def grouped(n: int) -> str:
    """``1234567`` -> ``"1,234,567"``."""
    return f"{n:,}"


def matrix_lines(m: np.ndarray, indent: str = "  ") -> list[str]:
    """A matrix as right-aligned text rows, two decimals per value."""
    cells = [[f"{v:.2f}" for v in row] for row in np.asarray(m, dtype=np.float64)]
    width = max(len(c) for row in cells for c in row)
    return [indent + "  ".join(c.rjust(width) for c in row) for row in cells]


def input_gradient(fn: Callable, x) -> np.ndarray:
    """``d sum(fn(x)) / dx`` as a NumPy array, with the active backend's autodiff.

    TensorFlow: ``GradientTape``; JAX: ``jax.grad``; PyTorch: ``autograd``. ``fn`` maps a backend
    tensor to a backend tensor (e.g. a Keras layer).
    """
    x = np.asarray(x, dtype="float32")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        t = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            total = tf.reduce_sum(fn(t))
        return np.asarray(tape.gradient(total, t))
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda t: jax.numpy.sum(fn(t)))(jax.numpy.asarray(x)))
    if backend == "torch":
        import torch

        t = torch.tensor(x, requires_grad=True)
        torch.sum(fn(t)).backward()
        return t.grad.detach().cpu().numpy()
    raise UsageError(f"no autodiff helper for the {backend!r} backend")
