"""The one entry point of every measuring process: a job in, one protocol line per result out; and the
pre-imported worker that forks those processes (:func:`zygote_main`, started by the launcher).

A job (a JSON file written by :class:`archbench.benchmark.launcher.Launcher`) is either

- a **measurement**: ``way`` (a :class:`~archbench.benchmark.targets.Way`), ``models``, ``configs``
  (:class:`~archbench.benchmark.config.LatencyConfig` fields), ``macs`` per model, ``memory`` (the
  process description when memory is measured), ``samples`` and ``model_files``: each model is timed
  under each config by :func:`archbench.benchmark.sweeps.sweep` through the way's target, one line
  per result (:mod:`~archbench.benchmark.protocol`), the row merged over this process's environment;
- or a **stage** that prepares a way (``stage``: a runtime's ``export`` or ``convert``, archbench's
  ``count`` of the model): the way's target class runs it
  (:meth:`~archbench.benchmark.targets.Target.run_stage`), one line whose row holds its figures.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from .protocol import Record, encode

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_OOM_SCORE_ADJ = "500"


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
            from .targets import target_class

            write(Record(target_class(job["way"]).run_stage(job)))
            return 0
        _measure(job, write)
    return 0


_DEVICE = ("device", "device_type", "device_name")


def _measure(job: dict[str, Any], write: Any) -> None:
    from . import caches
    from .compilers import limit_threads_before_start
    from .config import LatencyConfig
    from .load import LoadMonitor
    from .sweeps import sweep
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
    env = environment(target.environment_backend)
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


def bind_to_parent(parent: int | None) -> None:
    """Ignore Ctrl-C, die with the parent (``PR_SET_PDEATHSIG``; a parent already gone ends this
    process at once) and volunteer for the out-of-memory killer."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with open("/proc/self/oom_score_adj", "w", encoding="ascii") as f:
            f.write(_OOM_SCORE_ADJ)
    except OSError:
        pass
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def zygote_main(argv: list[str]) -> int:
    """The pre-imported worker: import the preload modules, then fork one job process per request
    line on stdin (``{"job", "out", "err"}``), answering ``{"pid"}`` and, when it ends, ``{"status"}``."""
    import importlib

    settings = json.loads(argv[0])
    bind_to_parent(settings["parent"])
    for module in settings["preload"]:
        try:
            importlib.import_module(module)
        except ImportError:  # the job will say what is missing, in its row
            pass
    import gc

    from ..environment import cpu_id, cpu_model, versions

    versions(), cpu_model(), cpu_id()  # read once here (package metadata, /proc/cpuinfo), inherited by every job
    # What the imports made is never freed: kept out of the collector's reach, every job's collections
    # skip it and leave its pages shared with this worker (fork's copy-on-write), as in CPython's docs.
    gc.collect()
    gc.freeze()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.setpgid(0, 0)
                fd = os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 2)
                sys.stdin.close()
                code = main([request["job"], request["out"]], parent=os.getppid())
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(json.dumps({"status": code}), flush=True)
    return 0
