"""``pooling``: max and average pooling of a matrix (the lecture's 5 x 5 example by default) and where the
gradient of the outputs flows in the backward pass, from the backend's autodiff."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import keras
import numpy as np

from ..errors import UsageError
from ._common import input_gradient, matrix_lines, positive

__all__ = ["LECTURE_POOLING_INPUT", "PoolingExample", "format_pooling", "parse_matrix", "pooling_example"]

LECTURE_POOLING_INPUT = (
    (3, 3, 2, 1, 0),
    (0, 0, 1, 3, 1),
    (3, 1, 2, 2, 3),
    (2, 0, 0, 2, 2),
    (2, 0, 0, 0, 1),
)


def parse_matrix(text: str) -> np.ndarray:
    """A matrix from ``"3,3,2;0,0,1"`` (rows split by ``;``, values by ``,``) or JSON ``[[3,3,2],[0,0,1]]``."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError("empty matrix: give rows like '3,3,2;0,0,1' or JSON like '[[3,3,2],[0,0,1]]'")
    text = text.strip()
    if text.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"the matrix is not valid JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
            raise UsageError("a JSON matrix must be a non-empty list of rows, e.g. [[3,3,2],[0,0,1]]")
    else:
        rows = [row.split(",") for row in text.split(";")]
    values: list[list[float]] = []
    for i, row in enumerate(rows, 1):
        parsed = []
        for cell in row:
            if isinstance(cell, bool):
                raise UsageError(f"{json.dumps(cell)} in row {i} is not a number")
            try:
                v = float(cell.strip()) if isinstance(cell, str) else float(cell)
            except (TypeError, ValueError):
                shown = cell.strip() if isinstance(cell, str) else json.dumps(cell)
                raise UsageError(f"{shown!r} in row {i} is not a number") from None
            if not math.isfinite(v):
                raise UsageError(f"{cell!r} in row {i} is not a finite number")
            parsed.append(v)
        if not parsed:
            raise UsageError(f"row {i} is empty")
        values.append(parsed)
    widths = {len(r) for r in values}
    if len(widths) > 1:
        bad = next(i for i, r in enumerate(values, 1) if len(r) != len(values[0]))
        n_bad, n_first = len(values[bad - 1]), len(values[0])
        raise UsageError(
            f"ragged matrix: row {bad} has {n_bad} value{'s' * (n_bad != 1)}, row 1 has {n_first}; "
            "every row needs as many values"
        )
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class PoolingExample:
    """Max and average pooling of ``input`` and the gradients of ``sum(outputs)`` w.r.t. ``input``.

    ``max_routes`` maps each output position to the input position its gradient goes to.
    """

    input: np.ndarray
    pool: int
    stride: int
    max: np.ndarray
    avg: np.ndarray
    max_grad: np.ndarray
    avg_grad: np.ndarray
    max_routes: tuple[tuple[tuple[int, int], tuple[int, int]], ...]
    backend: str


def pooling_example(matrix=None, pool: int = 3, stride: int = 1) -> PoolingExample:
    """Pool ``matrix`` (default: the lecture's 5 x 5 example) with Keras' max and average pooling.

    Window ``pool x pool``, ``stride``, no padding. Gradients come from the backend's autodiff: the
    total one (each input's share of ``d sum(outputs)``) and, for max pooling with at most 36 outputs,
    the input position each output's gradient is routed to.
    """
    if matrix is None:
        matrix = LECTURE_POOLING_INPUT
    elif isinstance(matrix, str):
        matrix = parse_matrix(matrix)
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise UsageError(f"the input must be a non-empty 2-D matrix, got shape {m.shape}")
    pool = positive(pool, "the pooling window (--pool)")
    stride = positive(stride, "the stride (--stride)")
    if pool > min(m.shape):
        raise UsageError(f"a {pool} x {pool} window does not fit a {m.shape[0]} x {m.shape[1]} input")
    x = m.astype("float32")[None, :, :, None]
    max_layer = keras.layers.MaxPooling2D(pool, stride, padding="valid")
    avg_layer = keras.layers.AveragePooling2D(pool, stride, padding="valid")
    peak = keras.ops.convert_to_numpy(max_layer(x))[0, :, :, 0]
    mean = keras.ops.convert_to_numpy(avg_layer(x))[0, :, :, 0]
    max_grad = input_gradient(max_layer, x)[0, :, :, 0]
    avg_grad = input_gradient(avg_layer, x)[0, :, :, 0]
    routes = []
    if peak.size <= 36:
        for i in range(peak.shape[0]):
            for j in range(peak.shape[1]):
                g = input_gradient(lambda t, i=i, j=j: max_layer(t)[:, i, j, :], x)[0, :, :, 0]
                r, c = np.unravel_index(int(np.argmax(g)), g.shape)
                routes.append(((i, j), (int(r), int(c))))
    return PoolingExample(
        input=m,
        pool=pool,
        stride=stride,
        max=peak.astype(np.float64),
        avg=mean.astype(np.float64),
        max_grad=max_grad.astype(np.float64),
        avg_grad=avg_grad.astype(np.float64),
        max_routes=tuple(routes),
        backend=keras.backend.backend(),
    )


def format_pooling(ex: PoolingExample) -> str:
    h, w = ex.input.shape
    oh, ow = ex.max.shape
    window = ex.pool * ex.pool
    lines = [f"input {h} x {w}, window {ex.pool} x {ex.pool}, stride {ex.stride} -> output {oh} x {ow}", ""]
    lines += matrix_lines(ex.input)
    lines += ["", "max pooling (keras MaxPooling2D):", *matrix_lines(ex.max)]
    lines += ["", "average pooling (keras AveragePooling2D):", *matrix_lines(ex.avg)]
    lines += [
        "",
        f"backward pass: gradient of sum(outputs) w.r.t. the input ({ex.backend} autodiff)",
        "max pooling: each output passes its gradient to one input, the maximum of its window",
        "(ties: the backend picks one); summed over outputs:",
        *matrix_lines(ex.max_grad),
    ]
    if ex.max_routes:
        lines.append("  output <- input receiving its gradient:")
        for (i, j), (r, c) in ex.max_routes:
            lines.append(f"    ({i},{j}) = {ex.max[i, j]:.2f} <- ({r},{c})")
    lines += [
        f"average pooling: each output shares its gradient equally, 1/{window} = {1 / window:.2f} to each "
        f"of the {window} inputs of its window (dense gradient); summed over outputs:",
        *matrix_lines(ex.avg_grad),
    ]
    return "\n".join(lines)
