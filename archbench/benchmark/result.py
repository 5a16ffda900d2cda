"""One timed configuration as a typed record, and as the flat row that results files store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import LatencyConfig
from .load import LoadStamps
from .protocol import Failure
from .timing import summarize

NOISY_CI_REL = 0.05  # a median whose 95 % interval is wider than +-5 % is noisy
MB = 1e6


def short_message(exc: BaseException, limit: int = 500) -> str:
    """``"TypeName: message"``, cut to ``limit`` characters: the ``message`` of a failed row."""
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class LatencyResult:
    """One timed configuration: the settings, what was actually used, the samples and derived figures.

    ``status`` is ``"ok"``, ``"oom"`` (out of memory; ``message`` has the framework's words) or
    ``"error"``. ``device`` is ``type:index (name)`` of the device that computed the output. ``macs`` is
    per image. ``notes`` record anything a reader must know (a GPU asked for but absent, a fallback).
    ``failure`` types the exception behind an ``oom`` or ``error`` status (not a column of the row: it
    crosses the process boundary beside it, see :mod:`archbench.benchmark.protocol`).

    ``stop_reason`` says why sampling stopped (:mod:`~archbench.benchmark.timing`), ``load`` how busy
    the machine was (:mod:`~archbench.benchmark.load`). ``memory`` is an
    :class:`archbench.memory.MemoryRecord` (``memory_context`` says in which process it was taken),
    ``energy`` an :class:`archbench.energy.EnergyReading` over the timed window; ``params_bytes`` and
    ``activation_bytes`` are the analytic figures at this batch size (the weights' bytes; the
    counter's inference peak of live activations). ``columns`` are the way's own (framework,
    runtime, mode, versions, compile cache; an exported runtime's conformance), appended to the row.
    """

    model: str
    config: LatencyConfig
    status: str = "ok"
    message: str = ""
    backend: str = ""
    path: str = ""
    device: str = ""
    device_type: str = ""
    device_name: str = ""
    dtype_policy: str = ""
    input_shape: tuple[int, ...] = ()
    first_call_ms: float | None = None
    warmup_iterations: int = 0
    warmup_ms: float | None = None
    samples_ms: tuple[float, ...] = ()
    macs: int | None = None
    notes: tuple[str, ...] = field(default=())
    failure: Failure | None = None
    stop_reason: str = ""
    load: LoadStamps | None = None
    memory: Any = None
    memory_context: str = ""
    energy: Any = None
    params_bytes: int | None = None
    activation_bytes: int | None = None
    columns: Any = None

    @property
    def stats(self) -> dict[str, float | int | None]:
        return summarize(self.samples_ms)

    @property
    def median_ms(self) -> float | None:
        return self.stats["median_ms"]

    @property
    def images_per_s(self) -> float | None:
        m = self.median_ms
        return self.config.batch_size / (m / 1e3) if m else None

    @property
    def gflops_per_s(self) -> float | None:
        """Achieved GFLOP/s, counting FLOPs as 2 × MACs."""
        m = self.median_ms
        if not m or self.macs is None:
            return None
        return 2.0 * self.macs * self.config.batch_size / (m / 1e3) / 1e9

    @property
    def noisy(self) -> bool | None:
        """Measured on a busy machine, or with the median's interval wider than ±5 % (or no interval
        at all); ``None`` for a failed measurement."""
        if self.status != "ok":
            return None
        ci_rel = self.stats["ci_rel"]
        busy = self.load is not None and self.load.busy
        return busy or ci_rel is None or ci_rel > NOISY_CI_REL

    def _memory_columns(self) -> dict[str, Any]:
        """Measured memory (:meth:`archbench.memory.MemoryRecord.as_row`, the method followed by the
        process it was measured in) and the analytic parameter and activation memory, in MB."""
        row: dict[str, Any] = {"mem_method": ""}
        row.update(dict.fromkeys(("mem_baseline_mb", "mem_model_mb", "mem_peak_mb", "mem_peak_exact")))
        if self.memory is not None:
            row.update(self.memory.as_row())
            if self.memory_context:
                row["mem_method"] += f"; {self.memory_context}"
        row["mem_params_mb"] = _mb(self.params_bytes)
        row["mem_activations_mb"] = _mb(self.activation_bytes)
        return row

    def _energy_columns(self) -> dict[str, Any]:
        """:meth:`archbench.energy.EnergyReading.as_row`; for an ok row without a reading, "not measured"."""
        if self.energy is not None:
            return self.energy.as_row()
        ok = self.status == "ok"
        row: dict[str, Any] = dict.fromkeys(
            ("energy_method", "energy_counter", "energy_j", "energy_s", "power_w", "energy_j_per_image")
        )
        row.update({"energy_available": False if ok else None, "energy_reason": "not measured" if ok else ""})
        return row

    def as_row(self, *, samples: bool = False) -> dict[str, Any]:
        """A flat dict: the config fields (``device_requested`` for the asked device), what was used,
        the statistics and derived figures; ``samples_ms`` (a list) only when ``samples=True``."""
        cfg = self.config.as_dict()
        row: dict[str, Any] = {"model": self.model, "status": self.status, "message": self.message}
        row["backend"] = self.backend or cfg["backend"]
        row["device_requested"] = cfg.pop("device")
        cfg.pop("backend")
        row.update(
            {
                "device": self.device,
                "device_type": self.device_type,
                "device_name": self.device_name,
                "path": self.path,
                "dtype_policy": self.dtype_policy,
                "input_shape": "x".join(str(d) for d in self.input_shape),
            }
        )
        row.update(cfg)
        row.update(
            {
                "first_call_ms": self.first_call_ms,
                "warmup_iterations": self.warmup_iterations,
                "warmup_ms": self.warmup_ms,
                "measured_s": sum(self.samples_ms) / 1e3,
            }
        )
        row.update(self.stats)
        row["stop_reason"] = self.stop_reason
        load = (
            self.load.as_row()
            if self.load
            else dict.fromkeys(("load_before", "load_after", "steal_before", "steal_after", "cpu_count"))
        )
        row.update(load)
        row["noisy"] = self.noisy
        row.update(self._memory_columns())
        row.update(self._energy_columns())
        row.update(
            {
                "images_per_s": self.images_per_s,
                "macs": self.macs,
                "gflops_per_s": self.gflops_per_s,
                "notes": "; ".join(self.notes),
            }
        )
        row.update(self.columns or {})
        if samples:
            row["samples_ms"] = list(self.samples_ms)
        return row


def _mb(n: int | None) -> float | None:
    return None if n is None else n / MB
