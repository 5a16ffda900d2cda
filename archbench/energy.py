"""Energy per image, read from the hardware's own energy counters, or an honest "not available".

Two counters are read, never estimated:

- **NVIDIA GPUs**: NVML's total energy counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules
  since the driver loaded; Volta and newer), through the maintained ``nvidia-ml-py`` package (module
  ``pynvml``). It covers the whole board.
- **CPUs**: RAPL through Linux's powercap interface, ``/sys/class/powercap/intel-rapl:<n>/energy_uj``
  (microjoules; the top-level zones are the packages, AMD's included, and are summed). The counter
  wraps at ``max_energy_range_uj``; one wrap between two reads is undone. Since Linux 5.10 the file
  is readable by root only (CVE-2020-8694), so unprivileged processes usually get "permission denied".

:class:`EnergyMeter` reads the counter before and after a window (a ``with`` block) and gives an
:class:`EnergyReading`: joules, seconds, average watts and, given the number of images computed in the
window, joules per image. Where no counter can be read the reading says ``available=False`` and why;
no figure is filled in. The counters measure the whole package or board: idle power and any other
process's work in the window are included, so a window should be long (a second or more: NVML's
counter advances in steps of tens of milliseconds) and the machine otherwise quiet.

The counters' locations are injectable (``rapl_root``, ``nvml``) so tests can use fake ones.
"""

from __future__ import annotations

import importlib
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .errors import UsageError

__all__ = [
    "EnergyMeter",
    "EnergyReading",
    "EnergyUnavailable",
    "NvmlCounter",
    "RaplCounter",
    "measure_energy",
]

RAPL_ROOT = "/sys/class/powercap"
_PACKAGE_ZONE = re.compile(r"^intel-rapl:\d+$")


class EnergyUnavailable(Exception):
    """No energy counter can be read here; the message says why (it goes into the row)."""


@dataclass(frozen=True)
class EnergyReading:
    """Energy over one window. ``available=False`` means nothing was measured; ``reason`` says why."""

    available: bool
    counter: str = ""
    reason: str = ""
    joules: float | None = None
    seconds: float | None = None
    images: int | None = None

    @property
    def watts(self) -> float | None:
        if self.joules is None or not self.seconds:
            return None
        return self.joules / self.seconds

    @property
    def joules_per_image(self) -> float | None:
        if self.joules is None or not self.images:
            return None
        return self.joules / self.images

    @property
    def method(self) -> str:
        if not self.available:
            return ""
        return "nvml total energy" if self.counter.startswith("nvml") else "rapl"

    def as_row(self) -> dict[str, Any]:
        """The energy columns of a latency row (``energy_j``, ``power_w``, ``energy_j_per_image``, ...)."""
        return {
            "energy_available": self.available,
            "energy_reason": self.reason,
            "energy_method": self.method,
            "energy_counter": self.counter,
            "energy_j": self.joules,
            "energy_s": self.seconds,
            "power_w": self.watts,
            "energy_j_per_image": self.joules_per_image,
        }


class RaplCounter:
    """The summed package counters of RAPL under ``root`` (default ``/sys/class/powercap``)."""

    def __init__(self, root: str = RAPL_ROOT) -> None:
        if not os.path.isdir(root):
            raise EnergyUnavailable(f"RAPL not readable: {root} missing")
        zones = sorted(z for z in os.listdir(root) if _PACKAGE_ZONE.match(z))
        if not zones:
            raise EnergyUnavailable(f"RAPL not readable: no intel-rapl zones under {root}")
        self.zones = [os.path.join(root, z) for z in zones]
        self.ranges = [_read_int(os.path.join(z, "max_energy_range_uj")) for z in self.zones]
        names = []
        for z in self.zones:
            try:
                with open(os.path.join(z, "name"), encoding="utf-8") as f:
                    names.append(f.read().strip())
            except OSError:
                names.append(os.path.basename(z))
        self.name = "rapl: " + ", ".join(names)
        self.read()

    def read(self) -> list[int]:
        """Each zone's ``energy_uj``, in microjoules."""
        return [_read_int(os.path.join(z, "energy_uj")) for z in self.zones]

    def joules(self, before: Sequence[int], after: Sequence[int]) -> float:
        """Energy between two reads, each zone undone of one wrap-around."""
        total = 0
        for b, a, top in zip(before, after, self.ranges, strict=True):
            total += a - b if a >= b else a + top - b
        return total / 1e6


def _read_int(path: str) -> int:
    try:
        with open(path, encoding="utf-8") as f:
            return int(f.read().strip())
    except PermissionError as exc:
        raise EnergyUnavailable(f"RAPL not readable: permission denied on {path}") from exc
    except (OSError, ValueError) as exc:
        raise EnergyUnavailable(f"RAPL not readable: {path}: {exc}") from exc


class NvmlCounter:
    """NVML's total energy counter of one GPU. ``nvml`` is the ``pynvml`` module (or a stand-in)."""

    def __init__(self, index: int = 0, nvml: ModuleType | Any | None = None) -> None:
        if nvml is None:
            try:
                nvml = importlib.import_module("pynvml")
            except ImportError as exc:
                raise EnergyUnavailable("no NVML (nvidia-ml-py not installed)") from exc
        self.nvml = nvml
        self._error = getattr(nvml, "NVMLError", Exception)
        try:
            nvml.nvmlInit()
        except self._error as exc:
            raise EnergyUnavailable(f"NVML not usable: {exc}") from exc
        try:
            self.handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(self.handle)
            self.name = f"nvml: gpu{index} ({name.decode() if isinstance(name, bytes) else name})"
        except self._error as exc:
            self.close()
            raise EnergyUnavailable(f"NVML has no GPU {index}: {exc}") from exc
        try:
            self.read()
        except EnergyUnavailable:
            self.close()
            raise

    def read(self) -> int:
        """The counter, in millijoules."""
        try:
            return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))
        except self._error as exc:
            raise EnergyUnavailable(f"NVML energy counter not readable on {self.name[6:]}: {exc}") from exc

    def joules(self, before: int, after: int) -> float:
        return (after - before) / 1e3

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except self._error:
            pass


class EnergyMeter:
    """``with EnergyMeter("cpu") as meter: ...`` then ``meter.reading(images=n)``.

    ``device`` is ``"cpu"`` (RAPL) or ``"gpu"`` (NVML, GPU ``gpu_index``). The counter is read on
    entering and on leaving the block; any failure (no counter, a read refused midway) makes the
    reading unavailable with the reason, and never raises.
    """

    def __init__(
        self,
        device: str = "cpu",
        *,
        gpu_index: int = 0,
        rapl_root: str = RAPL_ROOT,
        nvml: ModuleType | Any | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if device not in ("cpu", "gpu"):
            raise UsageError(f"energy is measured on cpu or gpu, got {device!r}")
        self.device = device
        self.clock = clock
        self._counter: RaplCounter | NvmlCounter | None = None
        self._reason = ""
        self._before: Any = None
        self._after: Any = None
        self._seconds: float | None = None
        try:
            self._counter = RaplCounter(rapl_root) if device == "cpu" else NvmlCounter(gpu_index, nvml)
        except EnergyUnavailable as exc:
            self._reason = str(exc)

    @property
    def available(self) -> bool:
        return self._counter is not None and not self._reason

    def __enter__(self) -> EnergyMeter:
        if self.available:
            try:
                self._before = self._counter.read()
                self._t0 = self.clock()
            except EnergyUnavailable as exc:
                self._reason = str(exc)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.available and self._before is not None:
            try:
                self._after = self._counter.read()
                self._seconds = self.clock() - self._t0
            except EnergyUnavailable as exc:
                self._reason = str(exc)
        if isinstance(self._counter, NvmlCounter):
            self._counter.close()

    def reading(self, images: int | None = None) -> EnergyReading:
        """The window's energy; ``images`` computed in it gives joules per image."""
        if not self.available or self._after is None:
            reason = self._reason or "the meter's window has not been run"
            return EnergyReading(False, reason=reason, images=images)
        joules = self._counter.joules(self._before, self._after)
        return EnergyReading(True, self._counter.name, "", joules, self._seconds, images)


def measure_energy(
    fn: Callable[[], Any],
    sync: Callable[[Any], Any],
    *,
    images_per_call: int,
    device: str = "cpu",
    min_time_s: float = 2.0,
    min_calls: int = 1,
    clock: Callable[[], float] = time.perf_counter,
    **meter_options: Any,
) -> EnergyReading:
    """Run ``fn(); sync(out)`` for at least ``min_time_s`` and ``min_calls`` inside an :class:`EnergyMeter`.

    Meant for an already warm, compiled inference function (the latency timer's): the window then
    holds nothing but inference, and the reading's ``images`` is ``calls * images_per_call``.
    """
    meter = EnergyMeter(device, clock=clock, **meter_options)
    if not meter.available:
        return meter.reading()
    calls = 0
    with meter:
        start = clock()
        while calls < min_calls or clock() - start < min_time_s:
            sync(fn())
            calls += 1
    return meter.reading(images=calls * images_per_call)
