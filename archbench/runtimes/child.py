"""What runs inside the child processes of :func:`archbench.runtimes.measure_runtime`, one stage each.

``export``: build the model (seeded), save the reference inputs and outputs, ``model.export``.
``convert``: the route's converter on the Keras artifact (its own process, its own environment).
``run``: load the artifact in the runtime, check it against the reference, time it.

Each stage reads ``job.json`` in the work directory and writes ``<stage>.json`` there; an exception
becomes ``{"error": "<one line>"}`` and exit code 1. :func:`evaluate` is also the in-process API that
tests use on small models.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from .base import ROUTES, Loaded, Route, compare_outputs, time_loaded, tolerance_for

__all__ = ["evaluate", "loader", "main", "one_line"]


def loader(runtime: str) -> Callable[..., Loaded]:
    """``loader(runtime)(path, precision=..., threads=...) -> Loaded``; the runtime's module (and so the
    runtime) is imported only here."""
    from . import litert, onnx, openvino

    return {"onnxruntime": onnx.load, "openvino": openvino.load, "litert": litert.load}[runtime]


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, cut to ``limit`` characters."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def evaluate(
    loaded: Loaded,
    inputs: Any,
    reference: Any,
    *,
    precision: str,
    config: Any,
) -> dict[str, Any]:
    """Conformance of a loaded model on every reference draw, then (only if it conforms) its timing.

    Returns the row fields: ``status`` ``"ok"``, or ``"failed"`` with ``reason`` ``"precision"`` (the
    runtime reports another precision than asked) or ``"conformance"`` (``max_abs_diff`` over all
    draws above the tolerance); the differences and the tolerance; when ok, the timer's statistics
    on the first draw's batch.
    """
    import numpy as np

    outputs = np.stack([np.array(loaded.run(np.ascontiguousarray(x)), dtype=np.float32) for x in inputs])
    worst_abs, worst_rel = compare_outputs(outputs, reference)
    tol = tolerance_for(precision, float(np.max(np.abs(reference))))
    row: dict[str, Any] = {
        "runtime_version": loaded.runtime_version,
        "precision": loaded.precision,
        "threads_used": loaded.threads_used,
        "runtime_settings": loaded.settings,
        "max_abs_diff": worst_abs,
        "max_rel_diff": worst_rel,
        "tolerance": tol,
        "conformance_draws": len(inputs),
    }
    if loaded.precision != precision:
        row.update(
            status="failed",
            reason="precision",
            error=f"asked for {precision}, the runtime used {loaded.precision}",
        )
        return row
    if not worst_abs <= tol:
        row.update(
            status="failed",
            reason="conformance",
            error=f"max abs diff {worst_abs:.3g} > tolerance {tol:.3g} on random inputs",
        )
        return row
    row.update(status="ok", reason="", error="")
    row.update(time_loaded(loaded, np.ascontiguousarray(inputs[0]), config))
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


def _run(job: dict[str, Any], work: str) -> dict[str, Any]:
    import numpy as np

    from ..benchmark import LatencyConfig

    route = _route(job)
    with np.load(os.path.join(work, "reference.npz")) as ref:
        inputs, outputs = ref["inputs"], ref["outputs"]
    t0 = time.perf_counter()
    loaded = loader(route.runtime)(
        os.path.join(work, route.artifact), precision=job["precision"], threads=job["threads"]
    )
    load_s = time.perf_counter() - t0
    config = LatencyConfig(
        dtype=job["dtype"],
        batch_size=job["batch_size"],
        threads=job["threads"],
        warmup=job["warmup"],
        min_iterations=job["min_iterations"],
        min_time_s=job["min_time_s"],
        max_iterations=job["max_iterations"],
        seed=job["seed"],
    )
    return {"load_s": load_s, **evaluate(loaded, inputs, outputs, precision=job["precision"], config=config)}


def _route(job: dict[str, Any]) -> Route:
    return next(r for r in ROUTES[job["runtime"]] if r.name == job["route"])


_STAGES = {"export": _export, "convert": _convert, "run": _run}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One stage of a runtime measurement (a child process).")
    parser.add_argument("--stage", required=True, choices=sorted(_STAGES))
    parser.add_argument("--work", required=True, help="work directory holding job.json")
    args = parser.parse_args(argv)
    with open(os.path.join(args.work, "job.json"), encoding="utf-8") as f:
        job = json.load(f)
    code = 0
    try:
        result = _STAGES[args.stage](job, args.work)
    except Exception as exc:  # reported in the row by the parent; the child has no one else to tell
        result, code = {"error": one_line(exc)}, 1
    with open(os.path.join(args.work, f"{args.stage}.json"), "w", encoding="utf-8") as f:
        json.dump(result, f)
    return code
