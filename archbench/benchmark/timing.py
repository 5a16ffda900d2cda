"""The timing loop, its stop rule and the statistics of its samples (the contract is in the package
docstring).

The stop rule aims at a precision, not a count: after the minimums (``min_iterations`` samples and
``min_time_s`` of measuring), sampling goes on until the 95 % confidence interval of the median is
within ``±ci_target`` of the median (``stop_reason="precision"``), or ``max_time_s`` of measuring
has passed (``"time_cap"``), or ``max_iterations`` samples were taken (``"max_iterations"``).
Both times are timed time, the sum of the samples (the row's ``measured_s``). The minimums come
first: no cap ends sampling before ``min_time_s`` has been measured, so a minimum time asked for is
honoured however fast the model (the iteration cap grows with it).

The interval is distribution-free: for ``n`` independent samples of any continuous distribution the
order statistics ``x(j) <= median <= x(n-j+1)`` cover the median with probability
``1 - 2 P(B <= j-1)``, ``B ~ Binomial(n, 1/2)``; ``j`` is the largest rank that keeps that at or above
the confidence (Conover, *Practical Nonparametric Statistics*, 3rd ed., section 3.2; for ``n = 100``:
``x(40)`` to ``x(61)``). Below ``n = 6`` no pair of ranks reaches 95 % and there is no interval.
Latency samples are not strictly independent (a busy neighbour slows several in a row), which is
why a unit measured on a busy machine is flagged ``noisy`` as well (:mod:`archbench.benchmark.load`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .config import LatencyConfig

CONFIDENCE = 0.95
STOP_REASONS = ("precision", "time_cap", "max_iterations")


def percentiles(values: Sequence[float], qs: Sequence[float]) -> list[float]:
    """Percentiles ``qs`` (0-100) of ``values`` by linear interpolation between closest ranks
    (``numpy.percentile(method="linear")``, numpy's default; Hyndman and Fan's type 7).

    numpy is imported here, not at module import: a child process limits its threads before any
    library sizes its thread pools, and numpy's BLAS does that when imported.
    """
    import numpy as np

    return [float(v) for v in np.percentile(values, qs, method="linear")]


def percentile(values: Sequence[float], q: float) -> float:
    """One percentile of ``values``; see :func:`percentiles`."""
    return percentiles(values, [q])[0]


@functools.lru_cache(maxsize=4096)
def median_ci_ranks(n: int, confidence: float = CONFIDENCE) -> tuple[int, int] | None:
    """1-based ranks ``(j, n - j + 1)`` of the order statistics bounding the median's interval.

    ``j`` is the smallest ``k`` with ``P(B <= k) >= (1 - confidence) / 2`` for ``B ~ Binomial(n, 1/2)``
    (the binomial quantile), computed exactly with integer binomial coefficients; ``None`` when
    ``j = 0`` (too few samples for an interval at this confidence).
    """
    if n < 1:
        return None
    tail = Fraction(1 - confidence).limit_denominator(10**9) / 2 * 2**n
    term, cumulative = 1, 0
    for k in range(n + 1):
        cumulative += term
        if cumulative >= tail:
            return (k, n - k + 1) if k >= 1 else None
        term = term * (n - k) // (k + 1)
    return None


def median_ci(sorted_values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The median's distribution-free interval ``(x(j), x(n-j+1))`` of already sorted values, or
    ``None`` with too few of them."""
    ranks = median_ci_ranks(len(sorted_values), confidence)
    if ranks is None:
        return None
    return sorted_values[ranks[0] - 1], sorted_values[ranks[1] - 1]


def ci_relative(low: float, high: float, median: float) -> float:
    """Half the interval's width relative to the median: ``(high - low) / 2 / median``."""
    return (high - low) / 2 / median if median else math.inf


def summarize(samples_ms: Sequence[float]) -> dict[str, float | int | None]:
    """Median, p90, p99, min, max, mean, standard deviation and IQR of per-iteration samples (ms), and
    the median's 95 % interval (``ci_low_ms``, ``ci_high_ms``; ``ci_rel`` its half-width over the
    median; ``None`` below 6 samples)."""
    keys = ("median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "mean_ms", "std_ms", "iqr_ms")
    ci_keys = ("ci_low_ms", "ci_high_ms", "ci_rel")
    if not samples_ms:
        return {"iterations": 0, **dict.fromkeys(keys), **dict.fromkeys(ci_keys)}
    s = sorted(samples_ms)
    n = len(s)
    mean = sum(s) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in s) / (n - 1)) if n > 1 else 0.0
    p50, p90, p99, p25, p75 = percentiles(s, [50, 90, 99, 25, 75])
    interval = median_ci(s)
    ci = dict.fromkeys(ci_keys)
    if interval is not None:
        ci = {"ci_low_ms": interval[0], "ci_high_ms": interval[1], "ci_rel": ci_relative(*interval, p50)}
    return {
        "iterations": n,
        "median_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "min_ms": s[0],
        "max_ms": s[-1],
        "mean_ms": mean,
        "std_ms": std,
        "iqr_ms": p75 - p25,
        **ci,
    }


def precise_enough(samples: Sequence[float], target: float) -> bool:
    """Whether the median's 95 % interval of ``samples`` is within ``±target`` of their median."""
    s = sorted(samples)
    interval = median_ci(s)
    if interval is None:
        return False
    n = len(s)
    median = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    return ci_relative(*interval, median) <= target


@dataclass(frozen=True)
class Timing:
    """What :func:`time_function` measured, in seconds, and why sampling stopped."""

    first_call_s: float
    warmup_iterations: int
    samples_s: tuple[float, ...]
    stop_reason: str = ""
    warmup_s: float = 0.0  # the warm-up calls' wall time


def time_function(
    fn: Callable[[], Any],
    config: LatencyConfig,
    *,
    sync: Callable[[Any], Any],
    clock: Callable[[], float] = time.perf_counter,
    first_sync: Callable[[Any], Any] | None = None,
    window: Callable[[], AbstractContextManager[Any]] | None = None,
) -> Timing:
    """Time ``fn()`` under the contract of the package docstring; ``sync(out)`` runs inside each timed
    region. ``first_sync`` (default ``sync``) replaces it for the first, compiling call only (the
    harness reads the device off that output), so the timed regions hold nothing but ``fn`` and ``sync``.
    ``window()``, when given, is a context manager entered just before the first timed call and left
    after the last (an energy meter's window).

    The interval is checked after every sample up to 20, then each time the count has grown by 5 %
    (sorting every sample after every call would cost more than a fast model's inference).
    """
    t0 = clock()
    (first_sync or sync)(fn())
    t1 = clock()
    first = t1 - t0

    warm, now, t_first_end = 0, t1, t1
    while warm < config.warmup or now - t1 < config.warmup_s:
        sync(fn())
        warm += 1
        now = clock()
    warmed = now

    samples: list[float] = []
    measured = 0.0
    next_check = 0
    reason = ""
    with window() if window is not None else contextlib.nullcontext():
        while not reason:
            t0 = clock()
            out = fn()
            sync(out)
            t1 = clock()
            samples.append(t1 - t0)
            measured += t1 - t0
            n = len(samples)
            if n < config.min_iterations or measured < config.min_time_s:
                continue
            if n >= config.max_iterations:
                reason = "max_iterations"
            elif n >= next_check and precise_enough(samples, config.ci_target):
                reason = "precision"
            elif measured >= config.max_time_s:
                reason = "time_cap"
            if n >= next_check:
                next_check = n + max(1, n // 20)
    return Timing(first, warm, tuple(samples), reason, warmed - t_first_end)
