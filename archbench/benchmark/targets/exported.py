"""A zoo model exported from Keras and loaded in a deployment runtime (ONNX Runtime, OpenVINO, LiteRT).

Planned in the parent (:mod:`archbench.runtimes` holds the routes, the export code, the loaders and
the conformance rule): a runtime that is not installed, or a ``dtype`` whose precision the runtime does
not offer, gives a ``skipped`` row (``reason`` ``not installed`` or ``dtype``). Otherwise three stages
run first, each in a measuring process of the one launcher, sharing the way's ``work`` folder:

1. ``export``: the model built in float32 with seeded weights, ending in its logits, with a static
   input of ``batch`` images; the reference inputs and outputs saved; Keras' own ``model.export``
   (``export_s``; ``export_peak_rss_mb`` is the highest resident memory of the export processes);
2. ``convert`` (routes with a converter, e.g. tf2onnx): in a fresh interpreter with the route's
   environment;
3. ``count``: archbench's count of the exported model (the row's ``macs``, activation and weight bytes).

A stage killed above its memory limit or after the timeout gives a ``failed`` row (``reason``
``memory`` or ``timeout``), one that raised ``export`` or ``convert``. Then, in the measuring process,
the artifact is loaded on the CPU (``build``: the memory probe's ``built`` stamp is the loaded
runtime), checked against the Keras outputs on the reference draws (``prepare``: above the tolerance,
or in another precision than asked, the row is ``failed`` and not timed), and the timed call feeds the
first draw's batch and returns the output as a host array (the runtimes compute synchronously: the
sync is empty).
"""

from __future__ import annotations

import importlib.metadata
import os
import time
from collections.abc import Mapping
from typing import Any

from ...registry import get_spec
from ...runtimes import CONFORMANCE_DRAWS, PRECISION_OF_DTYPE, normalize_runtime, route_for
from ...runtimes.base import missing_requirement
from ...runtimes.child import precisions
from ..compilers import Compiled
from ..config import LatencyConfig
from ..launcher import ProcessKind
from . import Stage, Target, TargetFailed, Way, count_stage

# Modules each runtime's measuring process imports before it forks (what loading the artifact needs).
_PRELOAD = {"onnxruntime": ("onnxruntime",), "openvino": ("openvino",), "litert": ("ai_edge_litert.interpreter",)}
_EXPORT = ProcessKind("runtime-export", (("KERAS_BACKEND", "tensorflow"),),
                      ("keras", "archbench.runtimes.exporting", "archbench.registry", "archbench.models"))


class ExportedTarget(Target):
    backend = "tensorflow"
    environment_backend = "numpy"  # the runtimes compute on the CPU: TensorFlow is not imported to say so

    @classmethod
    def skip_reason(cls, way: Way, model: str, config: LatencyConfig) -> tuple[str, str] | None:
        runtime = normalize_runtime(way.mode)
        get_spec(model)
        missing = missing_requirement(route_for(runtime, way.options.get("route")))
        if missing:
            return "not installed", missing
        if PRECISION_OF_DTYPE[config.dtype] not in precisions(runtime):
            return "dtype", f"{runtime} is measured in {', '.join(precisions(runtime))} only"
        return None

    @classmethod
    def stages(cls, way: Way, model: str, config: LatencyConfig, work: str) -> list[Stage]:
        route = route_for(way.mode, way.options.get("route"))
        name = get_spec(model).name
        job = {"model": name, "runtime": route.runtime, "route": route.name, "batch_size": config.batch_size,
               "input_size": config.input_size, "seed": config.seed, "draws": CONFORMANCE_DRAWS, "work": work}
        stages = [Stage("export", _EXPORT, job)]
        if route.convert:
            stages.append(Stage("convert", ProcessKind("runtime-convert", tuple(route.convert_env.items()),
                                                       fork=False), job))  # fmt: skip
        return [*stages, count_stage(way, name, config.replace(dtype="float32"))]

    @classmethod
    def describe(cls, way: Way) -> dict[str, Any]:
        route = route_for(way.mode, way.options.get("route"))
        staged = dict(way.options.get("staged") or {})
        rss = [v for k, v in staged.items() if k in ("export_peak_rss_mb", "convert_peak_rss_mb") and v is not None]
        return {"framework": "archbench", "runtime": route.runtime, "mode": route.name,
                "export_format": route.export_format, "export_route": route.description,
                "export_s": staged.get("export_s", 0.0) + staged.get("convert_s", 0.0) if staged else None,
                "export_peak_rss_mb": max(rss) if rss else None}  # fmt: skip

    @classmethod
    def preload(cls, way: Way) -> tuple[str, ...]:
        return _PRELOAD[normalize_runtime(way.mode)]

    @classmethod
    def run_stage(cls, job: Mapping[str, Any]) -> dict[str, Any]:
        if job["stage"] == "count":
            return super().run_stage(job)
        from ...runtimes.child import run_stage

        return run_stage(dict(job))

    def __init__(self, way: Any) -> None:
        super().__init__(way)
        self.route = route_for(way.mode, way.options.get("route"))
        self.work = way.options["work"]
        self.loaded, self.load_s, self.conformance = None, None, {}

    def build(self, model: str, config: LatencyConfig) -> Any:
        from ...runtimes.child import loader

        t0 = time.perf_counter()
        self.loaded = loader(self.route.runtime)(
            os.path.join(self.work, self.route.artifact), precision=PRECISION_OF_DTYPE[config.dtype],
            threads=config.threads,
        )
        self.load_s = time.perf_counter() - t0
        return self.loaded

    def prepare(self, built: Any, config: LatencyConfig, name: str) -> Any:
        import numpy as np

        from ...runtimes.child import conformance
        from ..measure import PreparedInference

        with np.load(os.path.join(self.work, "reference.npz")) as ref:
            inputs, outputs = ref["inputs"], ref["outputs"]
        self.conformance = conformance(built, inputs, outputs, precision=PRECISION_OF_DTYPE[config.dtype])
        if self.conformance["status"] != "ok":
            raise TargetFailed(self.conformance["reason"], self.conformance["error"], self.conformance)
        x = np.ascontiguousarray(inputs[0])
        notes = []
        if config.device == "gpu":
            notes.append("the runtimes run on the cpu: gpu requested, cpu measured")
        compiled = Compiled(lambda: built.run(x), lambda out: None, self.route.description,
                            lambda out: ("cpu", 0), notes)
        context = {"model": name, "backend": "tensorflow", "dtype_policy": config.dtype,
                   "input_shape": tuple(int(d) for d in inputs.shape[2:])}
        return PreparedInference(config, context, compiled)

    def macs_source(self, model: str) -> str:
        return f"{super().macs_source(model)}, the model exported"

    def memory_probe(self, config: LatencyConfig) -> Any:
        from ...memory import MemoryProbe

        return MemoryProbe("cpu")

    def columns(self, prepared: Any, result: Any = None) -> dict[str, Any]:
        loaded = self.loaded
        conformance = {k: v for k, v in self.conformance.items() if k not in ("status", "error")}
        return {
            **self.describe(self.way),
            "framework_version": importlib.metadata.version("keras"),
            "runtime_version": loaded.runtime_version if loaded else None,
            "precision": loaded.precision if loaded else None,
            "threads_used": loaded.threads_used if loaded else None,
            "runtime_settings": loaded.settings if loaded else None,
            "load_s": self.load_s,
            "reason": "",
            **conformance,
        }
