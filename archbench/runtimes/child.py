"""What runs inside the measuring processes of a runtime unit: the export and conversion stages, and
the conformance check of a loaded model (its timing is the latency pipeline's,
:mod:`archbench.benchmark.targets.exported`).

``export``: build the model (seeded), save the reference inputs and outputs, ``model.export``.
``convert``: the route's converter on the Keras artifact (its own process, its own environment).
Each stage reads the job's ``work`` folder and returns its figures (``export_s``, ``input_shape``;
``convert_s``), which :func:`archbench.benchmark.worker.main` writes back to the parent. The loaders
and the conformance check are here too: the ``exported`` target asks them in its measuring process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .base import ROUTES, Loaded, Route, compare_outputs, normalize_runtime, tolerance_for

__all__ = ["STAGES", "conformance", "loader", "one_line", "precisions", "run_stage"]


def _module(runtime: str) -> Any:
    from . import litert, onnx, openvino

    return {"onnxruntime": onnx, "openvino": openvino, "litert": litert}[normalize_runtime(runtime)]


def loader(runtime: str) -> Callable[..., Loaded]:
    """``loader(runtime)(path, precision=..., threads=...) -> Loaded``; the runtime itself is imported
    only when it loads."""
    return _module(runtime).load


def precisions(runtime: str) -> tuple[str, ...]:
    """The precisions ``runtime`` is measured in (its module's ``PRECISIONS``)."""
    return _module(runtime).PRECISIONS


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, cut to ``limit`` characters."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def conformance(loaded: Loaded, inputs: Any, reference: Any, *, precision: str) -> dict[str, Any]:
    """The loaded model against the Keras outputs on every reference draw.

    Returns the row fields: ``status`` ``"ok"``, or ``"failed"`` with ``reason`` ``"precision"`` (the
    runtime reports another precision than asked) or ``"conformance"`` (``max_abs_diff`` over all
    draws above the tolerance) and ``error``; the differences and the tolerance.
    """
    import numpy as np

    outputs = np.stack([np.array(loaded.run(np.ascontiguousarray(x)), dtype=np.float32) for x in inputs])
    worst_abs, worst_rel = compare_outputs(outputs, reference)
    tol = tolerance_for(precision, float(np.max(np.abs(reference))))
    row: dict[str, Any] = {
        "max_abs_diff": worst_abs,
        "max_rel_diff": worst_rel,
        "tolerance": tol,
        "conformance_draws": len(inputs),
        "status": "ok",
        "reason": "",
        "error": "",
    }
    if loaded.precision != precision:
        row.update(status="failed", reason="precision",
                   error=f"asked for {precision}, the runtime used {loaded.precision}")
    elif not worst_abs <= tol:
        row.update(status="failed", reason="conformance",
                   error=f"max abs diff {worst_abs:.3g} > tolerance {tol:.3g} on random inputs")
    return row


def _export(job: dict[str, Any], work: str) -> dict[str, Any]:
    import numpy as np

    from .exporting import build, export_keras, reference

    route = _route(job)
    model = build(job["model"], input_size=job["input_size"], seed=job["seed"])
    inputs, outputs = reference(model, job["batch_size"], seed=job["seed"], draws=job["draws"])
    np.savez(os.path.join(work, "reference.npz"), inputs=inputs, outputs=outputs)
    _, seconds = export_keras(model, route, work, job["batch_size"])
    return {"export_s": seconds, "input_shape": "x".join(str(d) for d in inputs.shape[2:])}


def _convert(job: dict[str, Any], work: str) -> dict[str, Any]:
    from .exporting import convert

    _, seconds = convert(_route(job), work)
    return {"convert_s": seconds}


def _route(job: dict[str, Any]) -> Route:
    return next(r for r in ROUTES[job["runtime"]] if r.name == job["route"])


STAGES = {"export": _export, "convert": _convert}


def run_stage(job: dict[str, Any]) -> dict[str, Any]:
    """One stage of a runtime unit in this process; an exception becomes ``{"error": "<one line>"}``."""
    try:
        return {"ok": True, **STAGES[job["stage"]](job, job["work"])}
    except Exception as exc:  # reported in the row by the parent; the stage has no one else to tell
        return {"ok": False, "error": one_line(exc)}
