"""Deployment runtimes beside Keras: ONNX Runtime, OpenVINO and LiteRT — their tables, export code,
loaders and conformance rule.

How a model reaches a runtime and what it must then satisfy:

1. **Export** through Keras' own ``model.export(format=...)`` on the TensorFlow backend, and for ONNX
   a second step with tf2onnx (:data:`ROUTES` names each route and why it was chosen). The model is
   built in float32 with seeded weights, ending in its logits (``classifier_activation=None``), with
   a static input of ``batch`` images (:mod:`archbench.runtimes.exporting`).
2. **Load** in the runtime on the CPU with float32 pinned where the runtime could choose otherwise
   (OpenVINO's ``INFERENCE_PRECISION_HINT``) and the thread count set when ``threads`` is given.
   ``precision`` is what the runtime reports it uses (OpenVINO), else the graph's element type.
3. **Conformance**: the runtime's output and the Keras model's on :data:`CONFORMANCE_DRAWS` random
   batches (uniform in [0, 1), fixed seed), on the logits: ``max_abs_diff``, ``max_rel_diff`` (over
   the reference's largest magnitude) and ``tolerance`` (:data:`TOLERANCE` x ``max|reference|``).

Measuring is the latency pipeline's, as for every way of running a model: the ``exported`` target
(:mod:`archbench.benchmark.targets.exported`) runs the export and conversion as stages of the one
launcher (:mod:`archbench.runtimes.child` is what runs inside them), skips a runtime that is not
installed, then loads, checks and times the artifact (``archbench.benchmark.measure_way``).
``runtime="keras"`` is the Keras model itself (the ``keras`` target), the reference the others are
checked against.

The runtimes are an optional extra (``pip install archbench[runtimes]``: onnxruntime, openvino,
tf2onnx, ai-edge-litert).
"""

from __future__ import annotations

from .base import (
    CONFORMANCE_DRAWS,
    PRECISION_OF_DTYPE,
    ROUTES,
    RUNTIMES,
    TOLERANCE,
    Loaded,
    Route,
    compare_outputs,
    normalize_runtime,
    parse_runtimes,
    route_for,
    tolerance_for,
)

__all__ = [
    "CONFORMANCE_DRAWS",
    "PRECISION_OF_DTYPE",
    "ROUTES",
    "RUNTIMES",
    "TOLERANCE",
    "Loaded",
    "Route",
    "compare_outputs",
    "normalize_runtime",
    "parse_runtimes",
    "route_for",
    "tolerance_for",
]
