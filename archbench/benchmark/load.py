"""How busy the machine was around a measurement: load average and CPU steal, before and after.

A latency measured while other work shares the cores is slower and wider than the machine can do,
and nothing in its samples says so. Each unit is therefore stamped with

- ``load_before``, ``load_after``: the 1-minute load average (``os.getloadavg()``) just before the
  first call and just after the last timed one;
- ``steal_before``, ``steal_after``: the share of CPU time the hypervisor gave to other guests
  ("steal" in ``/proc/stat``), in percent of all CPU time: ``steal_before`` over the time since the
  monitor's previous stamp (the measuring process's start-up, or the previous unit), ``steal_after``
  over the unit itself. ``None`` where ``/proc/stat`` cannot be read;
- ``cpu_count``: the cores this process may run on.

The machine counts as busy (:attr:`LoadStamps.busy`) when either load average exceeds the core count
by more than :data:`LOAD_MARGIN` or either steal share exceeds :data:`STEAL_BUSY_PCT`. The measuring
process itself runs up to one thread per core, and its start-up and compilation threads add to the
1-minute average, so on an otherwise quiet machine its own load reaches about the core count (seen:
2.0-2.4 on two cores); another job running beside it adds at least one more runnable thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..environment import cpu_count

STEAL_BUSY_PCT = 5.0
LOAD_MARGIN = 1.0
PROC_STAT = "/proc/stat"
MIN_TICKS = 100  # below this many jiffies of CPU time (0.5 s on two cores) a share means little


def read_cpu_ticks(path: str = PROC_STAT) -> tuple[int, int] | None:
    """``(steal, total)`` jiffies of the aggregate ``cpu`` line of ``/proc/stat``, or ``None``.

    ``total`` is user + nice + system + idle + iowait + irq + softirq + steal (guest time is already
    inside user and nice). Kernels before 2.6.11 have no steal column: ``None``.
    """
    try:
        with open(path, encoding="ascii") as f:
            line = f.readline()
    except OSError:
        return None
    fields = line.split()
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    try:
        ticks = [int(v) for v in fields[1:9]]
    except ValueError:
        return None
    return ticks[7], sum(ticks)


def _load1() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def steal_pct(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Steal in percent of all CPU time between two :func:`read_cpu_ticks`; ``None`` if unknown or
    the window is shorter than :data:`MIN_TICKS`."""
    if before is None or after is None or after[1] - before[1] < MIN_TICKS:
        return None
    return 100.0 * (after[0] - before[0]) / (after[1] - before[1])


@dataclass(frozen=True)
class LoadStamps:
    """The stamps of one unit (see the module docstring)."""

    load_before: float | None
    load_after: float | None
    steal_before: float | None
    steal_after: float | None
    cpu_count: int

    @property
    def busy(self) -> bool:
        loads = [v for v in (self.load_before, self.load_after) if v is not None]
        steals = [v for v in (self.steal_before, self.steal_after) if v is not None]
        return any(v > self.cpu_count + LOAD_MARGIN for v in loads) or any(v > STEAL_BUSY_PCT for v in steals)

    def as_row(self) -> dict[str, Any]:
        return {
            "load_before": self.load_before,
            "load_after": self.load_after,
            "steal_before": self.steal_before,
            "steal_after": self.steal_after,
            "cpu_count": self.cpu_count,
        }


class LoadMonitor:
    """Stamps load and steal around units; one per measuring process.

    ``loadavg`` (returning the 1-minute load, or ``None``) and ``ticks`` (returning ``(steal, total)``
    or ``None``) are injectable for tests. The monitor's creation is the start of the first
    ``steal_before`` window.
    """

    def __init__(
        self,
        loadavg: Callable[[], float | None] = _load1,
        ticks: Callable[[], tuple[int, int] | None] = read_cpu_ticks,
        cores: int | None = None,
    ) -> None:
        self.loadavg, self.ticks = loadavg, ticks
        self.cores = cores if cores is not None else cpu_count()
        self._last = ticks()
        self._load_before: float | None = None
        self._steal_before: float | None = None

    def before(self) -> None:
        """Stamp the start of a unit."""
        now = self.ticks()
        self._steal_before = steal_pct(self._last, now)
        self._load_before = self.loadavg()
        self._last = now

    def after(self) -> LoadStamps:
        """Stamp the end of the unit begun by :meth:`before` and return its stamps."""
        now = self.ticks()
        stamps = LoadStamps(
            load_before=self._load_before,
            load_after=self.loadavg(),
            steal_before=self._steal_before,
            steal_after=steal_pct(self._last, now),
            cpu_count=self.cores,
        )
        self._last = now
        return stamps
