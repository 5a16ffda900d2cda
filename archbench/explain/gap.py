"""``gap``: a Flatten + Dense head breaks on a larger input; a global-average-pooling head does not."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from ..errors import UsageError
from ._common import grouped, positive

__all__ = ["GapExample", "format_gap", "gap_example"]


@dataclass(frozen=True)
class GapExample:
    """The same small network with a Flatten + Dense head and with a global-average-pooling head."""

    input_size: int
    larger_size: int
    classes: int
    features_at: dict[int, tuple[int, ...]]
    fc_params: int
    fc_head_params: int
    fc_error: str | None
    fc_error_layer: str | None
    gap_params: int
    gap_head_params: int
    gap_outputs: dict[int, tuple[int, ...]]


def _features(name: str) -> list[keras.layers.Layer]:
    L = keras.layers
    return [
        L.Conv2D(16, 3, padding="same", activation="relu", name=f"{name}_conv1"),
        L.MaxPooling2D(2, name=f"{name}_pool1"),
        L.Conv2D(32, 3, padding="same", activation="relu", name=f"{name}_conv2"),
        L.MaxPooling2D(2, name=f"{name}_pool2"),
    ]


def gap_example(input_size: int = 32, larger: int = 64, classes: int = 10) -> GapExample:
    """Build both heads on a two-stage conv net, then feed each a ``larger x larger`` image.

    The Flatten + Dense head fixes the number of features at build time, so the larger image fails in
    the Dense layer (the error is caught and returned); the GAP head averages each channel over any map.
    """
    from ..params import count_params

    size = positive(input_size, "the input size (--input-size)")
    larger = positive(larger, "the larger input size (--larger)")
    classes = positive(classes, "the number of classes (--classes)")
    if size < 4 or larger < 4:
        raise UsageError("the inputs must be at least 4 x 4 (two 2 x 2 poolings)")
    if larger == size:
        raise UsageError("--larger must differ from --input-size")
    L = keras.layers
    fc_layers = [*_features("fc"), L.Flatten(name="fc_flatten"), L.Dense(classes, name="fc_dense")]
    fc = keras.Sequential([keras.Input((size, size, 3)), *fc_layers], name="flatten_dense_head")
    gap_in = keras.Input((None, None, 3))
    x = gap_in
    for layer in [
        *_features("gap"),
        L.GlobalAveragePooling2D(name="gap_pool"),
        L.Dense(classes, name="gap_dense"),
    ]:
        x = layer(x)
    gap = keras.Model(gap_in, x, name="gap_head")

    features_at = {}
    for n in (size, larger):
        shape = (1, n, n, 3)
        for layer in fc_layers[:4]:
            shape = layer.compute_output_shape(shape)
        features_at[n] = tuple(int(d) for d in shape[1:])
    error = error_layer = None
    x = np.zeros((1, larger, larger, 3), dtype="float32")
    try:
        for layer in fc_layers:
            error_layer = layer.name
            x = layer(x)
        error_layer = None
    except ValueError as exc:
        error = " ".join(str(exc).split())
    gap_outputs = {}
    for n in (size, larger):
        y = gap(np.zeros((1, n, n, 3), dtype="float32"))
        gap_outputs[n] = tuple(int(d) for d in y.shape)
    head = count_params(fc).total - sum(
        int(np.prod(w.shape)) for layer in fc_layers[:4] for w in layer.weights
    )
    gap_head = sum(int(np.prod(w.shape)) for w in gap.get_layer("gap_dense").weights)
    return GapExample(
        input_size=size,
        larger_size=larger,
        classes=classes,
        features_at=features_at,
        fc_params=count_params(fc).total,
        fc_head_params=head,
        fc_error=error,
        fc_error_layer=error_layer,
        gap_params=count_params(gap).total,
        gap_head_params=gap_head,
        gap_outputs=gap_outputs,
    )


def format_gap(r: GapExample) -> str:
    small, big = r.input_size, r.larger_size
    fs, fb = r.features_at[small], r.features_at[big]
    n_small, n_big = int(np.prod(fs)), int(np.prod(fb))
    channels = fs[-1]
    lines = [
        f"features: conv 16 + pool + conv 32 + pool -> {' x '.join(map(str, fs))} for a {small} x {small} input, "
        f"{' x '.join(map(str, fb))} for {big} x {big}",
        "",
        f"Flatten + Dense head (built for {small} x {small}): {grouped(r.fc_params)} params, head "
        f"{grouped(r.fc_head_params)} = ({grouped(n_small)} + 1) * {r.classes}",
    ]
    if r.fc_error is not None:
        lines += [
            f"  on a {big} x {big} input it fails in layer {r.fc_error_layer!r}:",
            f"    {r.fc_error}",
            f"  why: Flatten gives {' x '.join(map(str, fb))} = {grouped(n_big)} features instead of "
            f"{grouped(n_small)}, but the Dense kernel was built with {grouped(n_small)} rows; "
            "the head fixes the input size.",
        ]
    else:
        lines.append(f"  on a {big} x {big} input it unexpectedly worked")
    lines += [
        "",
        f"global-average-pooling head: {grouped(r.gap_params)} params, head {grouped(r.gap_head_params)} = "
        f"({channels} + 1) * {r.classes}",
        *(f"  {n} x {n} input -> output {r.gap_outputs[n]}" for n in (small, big)),
        "  why: GlobalAveragePooling2D averages each channel over the whole map, so the Dense layer always "
        f"sees {channels} features, whatever the input size.",
        "",
        f"parameter saving: {grouped(r.fc_params - r.gap_params)} "
        f"({100 * (r.fc_params - r.gap_params) / r.fc_params:.1f} % of the Flatten + Dense network)",
    ]
    return "\n".join(lines)
