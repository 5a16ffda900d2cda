"""ONNX Runtime (CPU execution provider), and the TFLite -> ONNX step of its default export route."""

from __future__ import annotations

import importlib.metadata
from typing import Any

from .base import Loaded

__all__ = ["PRECISIONS", "load", "tflite_to_onnx"]

PRECISIONS = ("float32",)
"""ONNX Runtime's CPU provider computes a float32 graph in float32 on x86 (its bfloat16 fast-math
mode exists on Arm64 only and is off by default); other dtypes are skipped rather than faked."""


def tflite_to_onnx(src: str, dst: str) -> None:
    """Convert a ``.tflite`` file to ONNX with tf2onnx (ONNX's converter for TensorFlow and TFLite).

    Run it with ``PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python`` for large models (the route's
    ``convert_env``): see the comment on :data:`archbench.runtimes.base.ROUTES`.
    """
    import tf2onnx

    tf2onnx.convert.from_tflite(src, output_path=dst)


def load(path: str, *, precision: str = "float32", threads: int | None = None) -> Loaded:
    """An ONNX Runtime session on the CPU with every graph optimisation (``ORT_ENABLE_ALL``), sequential
    execution and ``intra_op_num_threads=threads`` (``None``: ONNX Runtime's default, one per physical
    core)."""
    import onnxruntime as ort

    if precision not in PRECISIONS:
        raise ValueError(f"onnxruntime runs float32 graphs here, not {precision}")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = int(threads or 0)
    session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    (first,) = session.get_inputs()[:1]
    if first.type != "tensor(float)":
        raise ValueError(f"the exported graph's input is {first.type}, not float32")
    name = first.name
    output = session.get_outputs()[0].name

    def run(x: Any) -> Any:
        return session.run([output], {name: x})[0]

    settings = (
        f"graph_optimization_level=ORT_ENABLE_ALL, execution_mode=sequential, "
        f"intra_op_num_threads={threads or 0}, providers={','.join(session.get_providers())}"
    )
    return Loaded(
        run, f"onnxruntime {importlib.metadata.version('onnxruntime')}", "float32", threads, settings
    )
