"""Deployment runtimes beside Keras: ONNX Runtime, OpenVINO and LiteRT, measured like the Keras model.

For one zoo model and one runtime, :func:`measure_runtime` returns a latency row (the one schema of
:meth:`archbench.benchmark.LatencyResult.as_row`, plus the export's columns):

1. **Export** through Keras' own ``model.export(format=...)`` on the TensorFlow backend, and for ONNX
   a second step with tf2onnx (:data:`ROUTES` names each route and why it was chosen). The model is
   built in float32 with seeded weights, ending in its logits (``classifier_activation=None``), with
   a static input of ``batch`` images. ``export_s`` is the time of the export calls;
   ``export_peak_rss_mb`` the highest resident memory of the export processes.
2. **Load** in the runtime on the CPU with float32 pinned where the runtime could choose otherwise
   (OpenVINO's ``INFERENCE_PRECISION_HINT``) and the thread count set when ``threads`` is given.
   ``precision`` is what the runtime reports it uses (OpenVINO), else the graph's element type.
3. **Conformance**: the runtime's output and the Keras model's on :data:`CONFORMANCE_DRAWS` random
   batches (uniform in [0, 1), fixed seed), on the logits: ``max_abs_diff``, ``max_rel_diff`` (over
   the reference's largest magnitude) and ``tolerance`` (:data:`TOLERANCE` x ``max|reference|``). Above
   it the row is ``status="failed"``, ``reason="conformance"``, and it is not timed.
4. **Timing**, memory, load and energy by the latency pipeline, as for every way of running a model
   (:mod:`archbench.benchmark.targets.exported`).

Each stage runs in a measuring process of the one launcher (:mod:`archbench.benchmark.launcher`):
above its memory limit or after ``timeout_s`` it is killed and the row says so (``reason`` ``memory``
or ``timeout``). The exported files live in a temporary directory, removed afterwards. A runtime that
is not installed gives ``status="skipped"`` with the ``pip install`` line. ``runtime="keras"`` is the
Keras model itself (the ``keras`` target), the reference the others are checked against.

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
from .measure import measure_runtime, runtime_rows

__all__ = [
    "CONFORMANCE_DRAWS",
    "PRECISION_OF_DTYPE",
    "ROUTES",
    "RUNTIMES",
    "TOLERANCE",
    "Loaded",
    "Route",
    "compare_outputs",
    "measure_runtime",
    "normalize_runtime",
    "parse_runtimes",
    "route_for",
    "runtime_rows",
    "tolerance_for",
]
