"""The one launcher: every process archbench measures in starts here, whatever runs the model.

A measurement needs a process of its own: Keras fixes its backend at import, torch must not meet
TensorFlow, a crash or an out-of-memory kill must not take the sweep with it, and measured memory
needs a baseline from before the model was built. Starting a fresh interpreter for each unit costs
its imports (about 5 s for TensorFlow on two cores), so the launcher keeps one **pre-imported
worker** per :class:`ProcessKind` (its environment and the modules it imports) and *forks* each job
from it: the job's process starts with the framework imported and nothing built, in milliseconds.
Forking is safe there because the worker only imports (no framework runtime, device or thread pool
is started before the fork: the job starts those itself). ``fork=False`` kinds, and
``isolation="fresh"``, start a fresh interpreter per job instead.

Every job process, however started:

- runs :func:`archbench.benchmark.worker.main` on a job file and appends one protocol line per
  result to an output file (:mod:`~archbench.benchmark.protocol`), read here as it grows;
- is its own process group, ignores Ctrl-C (the sweep decides; a Ctrl-C here kills the group before
  it propagates), receives SIGKILL when its parent dies (``PR_SET_PDEATHSIG``: no measurement outlives
  its sweep) and volunteers for the kernel's out-of-memory killer (``oom_score_adj``);
- is watched: above ``memory_limit_mb`` resident its group is killed (``reason="memory"``); past
  ``timeout_s`` without a new result likewise (``"timeout"``); a SIGKILL the launcher did not send is
  the kernel's out-of-memory killer (``"oom-killer"``); any other non-zero exit is ``"exit"`` with the
  last lines of its stderr. ``peak_rss_mb`` is its resident high-water mark (``VmHWM``).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .protocol import Record, decode

QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
_WORKER = "import sys; from archbench.benchmark.worker import main; sys.exit(main(sys.argv[1:]))"
_ZYGOTE = "import sys; from archbench.benchmark.worker import zygote_main; sys.exit(zygote_main(sys.argv[1:]))"
_POLL_S = 0.02
_STOP = threading.Event()


def request_stop() -> None:
    """Stop the job in progress now (Ctrl-C in a sweep): its process group is killed and
    :meth:`Launcher.run` raises ``KeyboardInterrupt``; nothing of the job is returned."""
    _STOP.set()


def clear_stop() -> None:
    _STOP.clear()


def default_memory_limit_mb() -> float:
    """Two thirds of the machine's memory (16 GB on the 24 GB development machine)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            total_kib = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))  # type: ignore[union-attr]
        return total_kib / 1024 * 2 / 3
    except (OSError, AttributeError, ValueError):
        return 16 * 1024.0


@dataclass(frozen=True)
class ProcessKind:
    """A kind of measuring process: its environment (over this process's) and the modules its
    pre-imported worker imports before forking jobs. ``fork=False``: a fresh interpreter per job."""

    name: str
    env: tuple[tuple[str, str], ...] = ()
    preload: tuple[str, ...] = ()
    fork: bool = True

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        for k, v in QUIET_ENV.items():
            env.setdefault(k, v)
        env.update(dict(self.env))
        return env


@dataclass
class Launched:
    """What one job gave: its records (in order), and why it stopped early (``stopped`` one line,
    ``reason`` ``memory``/``timeout``/``oom-killer``/``exit``; both ``None`` when it finished)."""

    records: list[Record] = field(default_factory=list)
    stopped: str | None = None
    reason: str | None = None
    peak_rss_mb: float | None = None
    wall_s: float = 0.0
    isolation: str = ""


class _Zygote:
    """A pre-imported worker that forks one job process per request (see the module docstring)."""

    def __init__(self, kind: ProcessKind, python: str) -> None:
        self.kind = kind
        self.proc = subprocess.Popen(
            [python, "-c", _ZYGOTE, json.dumps({"preload": list(kind.preload), "parent": os.getpid()})],
            env=kind.environ(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,  # a terminal's Ctrl-C reaches the sweep, which decides, not the worker
        )

    def start(self, job: str, out: str, err: str) -> int:
        """Fork a job process; its pid."""
        self.proc.stdin.write(json.dumps({"job": job, "out": out, "err": err}) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        reply = self._read(timeout=None)
        if reply is None or "pid" not in reply:
            raise OSError(f"the {self.kind.name} worker did not start the job ({reply})")
        return int(reply["pid"])

    def _read(self, timeout: float | None) -> dict[str, Any] | None:
        stdout = self.proc.stdout
        if timeout is not None and not select.select([stdout], [], [], timeout)[0]:
            return None
        line = stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise OSError(f"the {self.kind.name} worker ended (exit code {self.proc.poll()})")
        return json.loads(line)

    def exit_code(self) -> int | None:
        """The finished job's exit code (negative: killed by that signal), or None while it runs."""
        reply = self._read(timeout=0)
        return None if reply is None else int(reply["status"])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class _Job:
    """One running job process, forked by a zygote or a fresh interpreter."""

    def __init__(self, kind: ProcessKind, zygote: _Zygote | None, python: str, paths: tuple[str, str, str]):
        job, out, err = paths
        self.zygote = zygote
        self.code: int | None = None
        self.killed_by_us = False
        if zygote is not None:
            self.popen = None
            self.pid = zygote.start(job, out, err)
        else:
            with open(err, "w", encoding="utf-8") as err_file:
                self.popen = subprocess.Popen(
                    [python, "-c", _WORKER, job, out],
                    env=kind.environ(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err_file,
                    start_new_session=True,
                )
            self.pid = self.popen.pid

    def poll(self) -> int | None:
        if self.code is None:
            self.code = self.popen.poll() if self.popen is not None else self.zygote.exit_code()  # type: ignore[union-attr]
        return self.code

    def kill(self) -> None:
        """SIGKILL to the job's process group, then wait until it is reaped (by this process, or by
        the worker that forked it, which then reports its status)."""
        self.killed_by_us = True
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.code is not None:
            return
        if self.popen is not None:
            self.code = self.popen.wait()
            return
        try:
            reply = self.zygote._read(timeout=30)  # type: ignore[union-attr]
        except OSError:
            reply = None
        if reply is not None:
            self.code = int(reply["status"])


class Launcher:
    """Runs jobs in measuring processes (see the module docstring); ``close()`` ends the workers.

    ``isolation``: ``"fork"`` (the default; kinds with ``fork=False`` still start fresh) or ``"fresh"``.
    """

    def __init__(
        self,
        *,
        isolation: str = "fork",
        memory_limit_mb: float | None = None,
        python: str = sys.executable,
    ) -> None:
        if isolation not in ("fork", "fresh"):
            raise ValueError(f"isolation must be fork or fresh, got {isolation!r}")
        self.isolation = isolation
        self.memory_limit_mb = memory_limit_mb or default_memory_limit_mb()
        self.python = python
        self._zygotes: dict[ProcessKind, _Zygote] = {}

    def isolation_of(self, kind: ProcessKind) -> str:
        if kind.fork and self.isolation == "fork":
            preload = ", ".join(kind.preload) or "nothing"
            return f"own process, forked from a worker that had imported {preload}"
        return "own process, a fresh interpreter"

    def _zygote(self, kind: ProcessKind) -> _Zygote | None:
        if not kind.fork or self.isolation != "fork":
            return None
        zygote = self._zygotes.get(kind)
        if zygote is None or not zygote.alive():
            zygote = self._zygotes[kind] = _Zygote(kind, self.python)
        return zygote

    def run(
        self,
        kind: ProcessKind,
        job: Mapping[str, Any],
        *,
        timeout_s: float,
        on_record: Callable[[Record], Any] | None = None,
    ) -> Launched:
        """Run ``job`` in a process of ``kind``; ``timeout_s`` bounds the time to each new record."""
        launched = Launched(isolation=self.isolation_of(kind))
        with tempfile.TemporaryDirectory(prefix="archbench-") as tmp:
            paths = tuple(os.path.join(tmp, n) for n in ("job.json", "records.jsonl", "stderr.txt"))
            with open(paths[0], "w", encoding="utf-8") as f:
                json.dump({**job, "parent": os.getpid()}, f)
            open(paths[1], "w").close()
            t0 = time.monotonic()
            proc = _Job(kind, self._zygote(kind), self.python, paths)  # type: ignore[arg-type]
            try:
                self._watch(proc, paths[1], launched, timeout_s, on_record)
            except BaseException:
                proc.kill()
                raise
            launched.wall_s = time.monotonic() - t0
            code = proc.poll()
            if launched.stopped is None and code == -signal.SIGKILL and not proc.killed_by_us:
                launched.reason = "oom-killer"
                launched.stopped = (
                    "the measuring process was killed by SIGKILL, which archbench did not send, with "
                    f"{launched.peak_rss_mb or 0:.0f} MB resident at its peak: out of memory (the kernel's OOM killer)"
                )
            elif launched.stopped is None and code not in (0, None):
                with open(paths[2], encoding="utf-8", errors="replace") as f:
                    tail = " | ".join(line.strip() for line in f.read().strip().splitlines()[-3:])
                launched.reason = "exit"
                launched.stopped = f"the measuring process exited with code {code}" + (f": {tail}" if tail else "")
        return launched

    def _watch(self, proc: _Job, out_path: str, launched: Launched, timeout_s: float, on_record) -> None:
        deadline = time.monotonic() + timeout_s
        buffer = ""
        with open(out_path, encoding="utf-8") as out:
            while True:
                code = proc.poll()
                buffer += out.read()
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    if line.strip():
                        record = decode(line)
                        launched.records.append(record)
                        if on_record is not None:
                            on_record(record)
                        deadline = time.monotonic() + timeout_s
                if code is not None:
                    return
                if _STOP.is_set():
                    proc.kill()
                    raise KeyboardInterrupt("interrupted: the job in progress was stopped")
                rss, hwm = _rss_kib(proc.pid)
                if hwm:
                    launched.peak_rss_mb = max(launched.peak_rss_mb or 0.0, hwm / 1024)
                if rss > self.memory_limit_mb * 1024:
                    proc.kill()
                    launched.reason = "memory"
                    launched.stopped = (
                        f"exceeded the memory limit of {self.memory_limit_mb / 1024:.3g} GB resident "
                        f"(killed at {rss / 1024 / 1024:.3g} GB)"
                    )
                    return
                if time.monotonic() > deadline:
                    proc.kill()
                    launched.reason = "timeout"
                    launched.stopped = f"timed out after {timeout_s:g} s"
                    return
                time.sleep(_POLL_S)

    def close(self) -> None:
        for zygote in self._zygotes.values():
            zygote.close()
        self._zygotes.clear()

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _rss_kib(pid: int) -> tuple[int, int]:
    """``(VmRSS, VmHWM)`` of a process in KiB; zeros when unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return 0, 0
    found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+)\s+kB", text, re.MULTILINE))
    return int(found.get("VmRSS", 0)), int(found.get("VmHWM", 0))


_SHARED: Launcher | None = None


def launcher_for(python: str) -> Launcher:
    """This process's launcher for its own interpreter (:func:`shared_launcher`), else a new one."""
    return shared_launcher() if python == sys.executable else Launcher(python=python)


def shared_launcher() -> Launcher:
    """The launcher of this process (its workers end with it). ``ARCHBENCH_ISOLATION=fresh`` makes it
    start a fresh interpreter per job."""
    global _SHARED
    if _SHARED is None:
        _SHARED = Launcher(isolation=os.environ.get("ARCHBENCH_ISOLATION", "fork"))
        atexit.register(_SHARED.close)
    return _SHARED
