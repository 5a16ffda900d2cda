"""LiteRT (formerly TensorFlow Lite): the ``ai-edge-litert`` interpreter, else TensorFlow's own
``tf.lite.Interpreter``; the row's ``runtime_version`` names which ran.

Both apply the XNNPACK delegate to float32 models by default (float32 arithmetic unless a model
asks for float16). LiteRT's own default is one thread; ``threads=None`` here means every core this
process may run on, the default of the other runtimes, so that the rows compare like with like.
"""

from __future__ import annotations

import importlib.metadata
import os
from typing import Any

from .base import Loaded

__all__ = ["PRECISIONS", "interpreter_class", "load"]

PRECISIONS = ("float32",)


def interpreter_class() -> tuple[Any, str]:
    """``(Interpreter class, version text)``: ``ai_edge_litert``'s, else ``tf.lite``'s."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, f"ai-edge-litert {importlib.metadata.version('ai-edge-litert')}"
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, f"tf.lite.Interpreter (tensorflow {tf.__version__})"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load(path: str, *, precision: str = "float32", threads: int | None = None) -> Loaded:
    """An interpreter for a ``.tflite`` file with ``num_threads`` set, tensors allocated."""
    if precision not in PRECISIONS:
        raise ValueError(f"litert runs float32 models here, not {precision}")
    interpreter_cls, version = interpreter_class()
    n = int(threads) if threads is not None else _cores()
    interpreter = interpreter_cls(model_path=path, num_threads=n)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]["index"]
    if inp["dtype"].__name__ != "float32":
        raise ValueError(f"the exported model's input is {inp['dtype'].__name__}, not float32")

    def run(x: Any) -> Any:
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(out)

    return Loaded(run, version, "float32", n, f"num_threads={n}, delegate=XNNPACK (default)")
