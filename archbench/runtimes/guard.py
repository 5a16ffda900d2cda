"""Run a child process under a resident-memory limit and a time limit, and report its peak memory.

The parent polls ``/proc/<pid>/status`` every ``poll_s`` seconds: ``VmRSS`` (resident now) is held
against the limit, and the child's whole process group is killed above it; ``VmHWM`` (the child's
own high-water mark) is the reported peak, exact up to the last poll before the child exits. An
address-space limit (``RLIMIT_AS``) would not do: TensorFlow and XLA reserve far more virtual memory
than they touch. ``getrusage`` is not used either, as Linux carries a parent's ``ru_maxrss`` into a
child across ``exec``. Where ``/proc`` is missing the child runs unguarded and the peak is ``None``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Guarded", "run_guarded"]

_MIB = 1024 * 1024


@dataclass(frozen=True)
class Guarded:
    """How a guarded child ended: ``failure`` is ``None`` when it exited with code 0, else one line
    (``reason`` is ``"memory"``, ``"timeout"`` or ``"exit"``)."""

    returncode: int | None
    peak_rss_mb: float | None
    wall_s: float
    failure: str | None = None
    reason: str | None = None


def _status_kib(pid: int) -> dict[str, int] | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    return {k: int(v) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+)\s+kB", text, re.MULTILINE)}


def _gb(mib: float) -> str:
    return f"{mib / 1024:.3g} GB"


def run_guarded(
    argv: Sequence[str],
    *,
    memory_limit_mb: float,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    poll_s: float = 0.05,
) -> Guarded:
    """Run ``argv``; kill it (and its process group) above ``memory_limit_mb`` resident or after
    ``timeout_s``. The failure line of a non-zero exit ends with the last lines of its stderr."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        try:
            peak_kib, failure, reason = _watch(proc, t0, memory_limit_mb, timeout_s, poll_s)
        except BaseException:
            _kill_group(proc)
            raise
        wall = time.monotonic() - t0
        if failure is None and proc.returncode != 0:
            err.seek(0)
            lines = [line.strip() for line in err.read().splitlines() if line.strip()]
            tail = " | ".join(lines[-3:])
            failure, reason = f"exited with code {proc.returncode}" + (f": {tail}" if tail else ""), "exit"
    peak = None if peak_kib is None else peak_kib / 1024
    return Guarded(proc.returncode, peak, wall, failure, reason)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _watch(
    proc: subprocess.Popen, t0: float, memory_limit_mb: float, timeout_s: float, poll_s: float
) -> tuple[int | None, str | None, str | None]:
    """Poll ``proc`` until it exits or breaks a limit (then its process group is killed)."""
    peak_kib: int | None = None
    failure = reason = None
    while proc.poll() is None:
        status = _status_kib(proc.pid)
        if status and "VmHWM" in status:
            peak_kib = max(peak_kib or 0, status["VmHWM"])
        if status and status.get("VmRSS", 0) > memory_limit_mb * 1024:
            failure = (
                f"exceeded {_gb(memory_limit_mb)} resident memory "
                f"(killed at {_gb(status['VmRSS'] / 1024)})"
            )
            reason = "memory"
        elif time.monotonic() - t0 > timeout_s:
            failure, reason = f"timed out after {timeout_s:g} s", "timeout"
        if failure:
            _kill_group(proc)
            break
        time.sleep(poll_s)
    return peak_kib, failure, reason
