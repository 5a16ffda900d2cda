"""The runtimes, their export routes, the conformance rule and the timed call of a loaded model.

Nothing here imports Keras, TensorFlow or a runtime: the parent process reads these tables, the child
processes (:mod:`archbench.runtimes.child`) do the importing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError

__all__ = [
    "CONFORMANCE_DRAWS",
    "PRECISION_OF_DTYPE",
    "ROUTES",
    "RUNTIMES",
    "TOLERANCE",
    "Loaded",
    "Route",
    "compare_outputs",
    "missing_requirement",
    "normalize_runtime",
    "parse_runtimes",
    "route_for",
    "tolerance_for",
]

RUNTIMES = ("keras", "onnxruntime", "openvino", "litert")
_ALIASES = {
    "keras": "keras",
    "onnxruntime": "onnxruntime",
    "ort": "onnxruntime",
    "onnx": "onnxruntime",
    "openvino": "openvino",
    "ov": "openvino",
    "litert": "litert",
    "tflite": "litert",
    "tf.lite": "litert",
}


def normalize_runtime(name: str) -> str:
    """``"ort"`` -> ``"onnxruntime"``, ``"tflite"`` -> ``"litert"``; unknown names raise :class:`UsageError`."""
    key = str(name).strip().lower().replace("_", "")
    if key not in _ALIASES:
        raise UsageError(f"unknown runtime {name!r}; choose from {', '.join(RUNTIMES)}")
    return _ALIASES[key]


def parse_runtimes(value: str | Iterable[str]) -> list[str]:
    """A comma-separated string or a list of names -> runtime names, in order, without repeats."""
    names = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for name in names:
        if str(name).strip():
            runtime = normalize_runtime(name)
            if runtime not in out:
                out.append(runtime)
    if not out:
        raise UsageError(f"no runtime given; choose from {', '.join(RUNTIMES)}")
    return out


@dataclass(frozen=True)
class Route:
    """How a Keras model reaches one runtime: Keras' own ``model.export(format=keras_format)``, then
    (optionally) a converter run in a process of its own with ``convert_env`` set.

    ``artifact`` is the file the runtime loads; ``export_format`` names its format; ``description`` is
    the row's ``export_route``. ``needs`` are ``(module, pip name)`` pairs the export and the runtime
    import (the runtime's own module first).
    """

    runtime: str
    name: str
    export_format: str
    keras_format: str | None
    keras_artifact: str
    artifact: str
    description: str
    needs: tuple[tuple[str, str], ...]
    convert: str | None = None
    convert_env: Mapping[str, str] = field(default_factory=dict)


_PURE_PYTHON_PROTOBUF = {"PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}

ROUTES: dict[str, tuple[Route, ...]] = {
    # The first route of a runtime is its default.
    "onnxruntime": (
        # tf2onnx from the TFLite flatbuffer, with protobuf's pure-Python implementation: the default
        # (upb) implementation keeps every rewrite of the weights in its arena, and tf2onnx rewrites
        # them on each optimiser pass. Peak resident memory measured on the 24 GB development machine
        # (export and conversion processes, the larger): VGG-16 4.3 GB, ResNet-50 1.9-2.0 GB, GoogLeNet
        # (BN) 1.3 GB. Keras' export(format="onnx") (tf2onnx.convert.from_function: freezing, grappler,
        # then the same passes) took 7.1 GB for ResNet-50 and passed 8 GB for VGG-16 before its
        # conversion began (stopped there; an earlier run to the end was killed at 24 GB). The ONNX graphs
        # of both routes hold the same operators (the TFLite one adds explicit Pads before strided
        # convolutions) and ran at the same speed in ONNX Runtime.
        Route(
            "onnxruntime",
            "litert+tf2onnx",
            "onnx",
            "litert",
            "model.tflite",
            "model.onnx",
            "keras export(format='litert'), then tf2onnx.convert.from_tflite (pure-Python protobuf)",
            (("onnxruntime", "onnxruntime"), ("tensorflow", "tensorflow-cpu"), ("tf2onnx", "tf2onnx")),
            convert="tflite_to_onnx",
            convert_env=_PURE_PYTHON_PROTOBUF,
        ),
        Route(
            "onnxruntime",
            "keras",
            "onnx",
            "onnx",
            "model.onnx",
            "model.onnx",
            "keras export(format='onnx') via tf2onnx.convert.from_function",
            (("onnxruntime", "onnxruntime"), ("tensorflow", "tensorflow-cpu"), ("tf2onnx", "tf2onnx")),
        ),
    ),
    "openvino": (
        Route(
            "openvino",
            "keras",
            "openvino",
            "openvino",
            "model.xml",
            "model.xml",
            "keras export(format='openvino') via openvino.convert_model",
            (("openvino", "openvino"), ("tensorflow", "tensorflow-cpu")),
        ),
    ),
    "litert": (
        Route(
            "litert",
            "keras",
            "litert",
            "litert",
            "model.tflite",
            "model.tflite",
            "keras export(format='litert') via tf.lite.TFLiteConverter.from_saved_model",
            # ai_edge_litert's interpreter, else TensorFlow's own tf.lite.Interpreter (the row says which).
            (("tensorflow", "tensorflow-cpu"),),
        ),
    ),
}


def route_for(runtime: str, name: str | None = None) -> Route:
    """The route called ``name`` of a runtime (``None``: its default); unknown ones raise UsageError."""
    routes = ROUTES.get(normalize_runtime(runtime), ())
    if not routes:
        raise UsageError(f"runtime {runtime!r} has no export route (it runs the Keras model itself)")
    if name is None:
        return routes[0]
    for route in routes:
        if route.name == name:
            return route
    raise UsageError(f"unknown route {name!r} for {runtime}; choose from {', '.join(r.name for r in routes)}")


def missing_requirement(route: Route) -> str | None:
    """A one-line reason when a module the route needs is not installed, else ``None``."""
    for module, package in route.needs:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install {package})"
    return None


# -- precision and conformance -----------------------------------------------------------------------

PRECISION_OF_DTYPE = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
"""The numeric precision a runtime is pinned to for each ``dtype`` (a Keras dtype policy name)."""

TOLERANCE = {"float32": 1e-4, "bfloat16": 3e-2, "float16": 1e-2}
"""Largest accepted ``max_rel_diff`` per precision: the tolerance on ``max_abs_diff`` is this fraction
of the reference's largest magnitude (of 1 where the reference is all zeros).

Relative to the output's scale, not to ``max(1, scale)``: VGG-16's random-weight logits are about
5e-3 in magnitude, where an absolute 1e-4 would let through a 2 % error. float32: exported and Keras
logits differed by at most 3.6e-6 of their scale on ResNet-50, VGG-16 and GoogLeNet (BN) in
ONNX Runtime, OpenVINO and LiteRT, and 1.3e-5 on LeNet-5 (TensorFlow's fast tanh in the reference);
1e-4 keeps a margin over those and still fails bfloat16 arithmetic (OpenVINO in bfloat16: 4.8e-3
on ResNet-50, 6.7e-3 on GoogLeNet (BN)), whose own tolerance allows that rounding.
"""

CONFORMANCE_DRAWS = 3
"""Random input batches (uniform in [0, 1), fixed seed) on which exported and Keras outputs are compared."""


def tolerance_for(precision: str, reference_max: float) -> float:
    """The tolerance on ``max_abs_diff``: :data:`TOLERANCE` of ``precision`` x ``max|reference|``."""
    if precision not in TOLERANCE:
        raise UsageError(f"no tolerance for precision {precision!r}; known: {', '.join(TOLERANCE)}")
    scale = abs(float(reference_max))
    return TOLERANCE[precision] * (scale if scale > 0 else 1.0)


def compare_outputs(outputs: Any, reference: Any) -> tuple[float, float]:
    """``(max_abs_diff, max_rel_diff)`` of two arrays of the same shape.

    ``max_rel_diff`` is ``max_abs_diff / max|reference|``: relative to the output's scale, not per
    element (elements near zero would make a per-element ratio meaningless).
    """
    import numpy as np

    out = np.asarray(outputs, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if out.shape != ref.shape:
        raise ValueError(f"output shape {out.shape} differs from the reference's {ref.shape}")
    max_abs = float(np.max(np.abs(out - ref))) if out.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return max_abs, (max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf")))


# -- a model loaded in a runtime, and its timed call ---------------------------------------------------


@dataclass
class Loaded:
    """An exported model loaded in its runtime: ``run(batch) -> first output`` and what the runtime says.

    ``run`` returns a host array synchronously (every runtime here computes on the CPU and hands back
    its result), so the timer's sync is empty. ``precision`` is the precision the runtime reports it
    uses where it can tell (OpenVINO), else the graph's element type; ``threads_used`` likewise
    (``None`` where the runtime does not say); ``settings`` lists what was set.
    """

    run: Callable[[Any], Any]
    runtime_version: str
    precision: str
    threads_used: int | None
    settings: str
