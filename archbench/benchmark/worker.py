"""The one entry point of every measuring process: a job in, one protocol line per result out.

A job (a JSON file written by :class:`archbench.benchmark.launcher.Launcher`) is either

- a **measurement**: ``way`` (a :class:`~archbench.benchmark.targets.Way`), ``models``, ``configs``
  (:class:`~archbench.benchmark.config.LatencyConfig` fields), ``macs`` per model, ``memory`` (the
  process description when memory is measured), ``samples`` and ``model_files``: each model is timed
  under each config by :func:`archbench.benchmark.measure.sweep` through the way's target, one line
  per result (:mod:`~archbench.benchmark.protocol`), the row merged over this process's environment;
- or a **stage** that prepares a way (``stage``: a runtime's ``export`` or ``convert``,
  :mod:`archbench.runtimes.child`): one line whose row holds the stage's figures.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .launcher import bind_to_parent
from .protocol import Record, encode


def main(argv: Sequence[str], parent: int | None = None) -> int:
    """``main([job_path, out_path])``; ``parent`` is the process this one must die with (default: the
    job's ``parent``, the launcher)."""
    job_path, out_path = argv
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    bind_to_parent(parent if parent is not None else job.get("parent"))
    with open(out_path, "a", encoding="utf-8") as out:

        def write(record: Record) -> None:
            out.write(encode(record) + "\n")
            out.flush()

        if job.get("stage"):
            from ..runtimes.child import run_stage

            write(Record(run_stage(job)))
            return 0
        _measure(job, write)
    return 0


_DEVICE = ("device", "device_type", "device_name")


def _measure(job: dict[str, Any], write: Any) -> None:
    from . import caches
    from .compilers import limit_threads_before_start
    from .config import LatencyConfig
    from .load import LoadMonitor
    from .measure import sweep
    from .targets import Way, make_target

    way = Way.of(job["way"])
    configs = [LatencyConfig.from_dict(d) for d in job["configs"]]
    monitor = LoadMonitor()
    if configs:
        limit_threads_before_start(way.backend, configs[0].threads)
        if way.backend == "jax":
            caches.enable_jax(configs[0].compile_cache)
    from ..environment import environment
    from ..registry import load_model_file

    for path in job.get("model_files", ()):
        load_model_file(path)
    target = make_target(way)
    env = environment(None if way.kind == "keras" else way.backend if way.kind != "exported" else "numpy")
    stamp = {"isolation": job.get("isolation", "")}

    def emit(result: Any) -> None:
        own = result.as_row(samples=job.get("samples", False))
        if not own.get("device"):  # a unit that never computed: the process's device, as the environment says
            own = {k: v for k, v in own.items() if k not in _DEVICE}
        row = {**env, **own, **stamp}
        write(Record(row, result.failure))

    for model in job["models"]:
        sweep(model, configs, target=target, macs=(job.get("macs") or {}).get(model), on_result=emit,
              load=monitor, memory=job.get("memory"))

