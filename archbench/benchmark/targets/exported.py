"""A zoo model exported from Keras and loaded in a deployment runtime (ONNX Runtime, OpenVINO, LiteRT).

The export and conversion stages ran before, each in a measuring process of its own
(:func:`archbench.runtimes.measure.stage_jobs`); their artifact and reference outputs are in the way's
``work`` folder. Here the artifact is loaded on the CPU (``build``: the memory probe's ``built``
stamp is the loaded runtime), checked against the Keras outputs on the reference draws (``prepare``:
above the tolerance, or in another precision than asked, the row is ``failed`` and not timed), and
the timed call feeds the first draw's batch and returns the output as a host array (the runtimes
compute synchronously: the sync is empty).
"""

from __future__ import annotations

import importlib.metadata
import os
import time
from typing import Any

from ..compilers import Compiled
from ..config import LatencyConfig
from . import Target, TargetFailed


class ExportedTarget(Target):
    backend = "tensorflow"
    environment_backend = "numpy"  # the runtimes compute on the CPU: TensorFlow is not imported to say so

    def __init__(self, way: Any) -> None:
        super().__init__(way)
        self.options = dict(way.options)
        self.runtime = way.mode
        self.loaded, self.load_s, self.conformance = None, None, {}

    def build(self, model: str, config: LatencyConfig) -> Any:
        from ...runtimes.base import PRECISION_OF_DTYPE
        from ...runtimes.child import loader

        work, artifact = self.options["work"], self.options["artifact"]
        t0 = time.perf_counter()
        self.loaded = loader(self.runtime)(
            os.path.join(work, artifact), precision=PRECISION_OF_DTYPE[config.dtype], threads=config.threads
        )
        self.load_s = time.perf_counter() - t0
        return self.loaded

    def prepare(self, built: Any, config: LatencyConfig, name: str) -> Any:
        import numpy as np

        from ...runtimes.base import PRECISION_OF_DTYPE
        from ...runtimes.child import conformance
        from ..measure import PreparedInference

        with np.load(os.path.join(self.options["work"], "reference.npz")) as ref:
            inputs, outputs = ref["inputs"], ref["outputs"]
        precision = PRECISION_OF_DTYPE[config.dtype]
        self.conformance = conformance(built, inputs, outputs, precision=precision)
        if self.conformance["status"] != "ok":
            raise TargetFailed(self.conformance["reason"], self.conformance["error"], self.conformance)
        x = np.ascontiguousarray(inputs[0])
        notes = []
        if config.device == "gpu":
            notes.append("the runtimes run on the cpu: gpu requested, cpu measured")
        compiled = Compiled(lambda: built.run(x), lambda out: None, self.options["export_route"],
                            lambda out: ("cpu", 0), notes)
        context = {"model": name, "backend": "tensorflow", "dtype_policy": config.dtype,
                   "input_shape": tuple(int(d) for d in inputs.shape[2:])}
        return PreparedInference(config, context, compiled)

    def memory_probe(self, config: LatencyConfig) -> Any:
        from ...memory import MemoryProbe

        return MemoryProbe("cpu")

    def columns(self, prepared: Any, result: Any = None) -> dict[str, Any]:
        loaded = self.loaded
        conformance = {k: v for k, v in self.conformance.items() if k not in ("status", "error")}
        return {
            "framework": "archbench",
            "framework_version": importlib.metadata.version("keras"),
            "runtime": self.runtime,
            "runtime_version": loaded.runtime_version if loaded else None,
            "mode": self.options.get("route", ""),
            "export_format": self.options.get("export_format"),
            "export_route": self.options.get("export_route"),
            "export_s": self.options.get("export_s"),
            "export_peak_rss_mb": self.options.get("export_peak_rss_mb"),
            "precision": loaded.precision if loaded else None,
            "threads_used": loaded.threads_used if loaded else None,
            "runtime_settings": loaded.settings if loaded else None,
            "load_s": self.load_s,
            "reason": "",
            **conformance,
        }
