"""The fits the figures draw and the findings quote, each with its rule and its uncertainty.

- :func:`power_law`: least squares of log10(y) on log10(x), so ``y ∝ x^exponent``; the exponent's 95 %
  interval is ``slope ± t(0.975, n - 2) · SE(slope)`` (Student's t on the slope's standard error), r is
  the Pearson correlation of the logs.
- :func:`line`: least squares of y on x with the same interval on the slope and on the intercept.
- :func:`hyperbola`: ``y = a - b / x`` (a line in 1/x), Canziani's "hyperbolic relationship" of accuracy
  and inference time.
- :func:`fixed_overhead`: the rule that leaves out of an operations-vs-time fit the models whose time is
  per-call overhead rather than work (:data:`OVERHEAD_RULE`).

Every fit needs at least three points (one degree of freedom for the interval) and raises
:class:`ValueError` otherwise; callers say "cannot decide" instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

OVERHEAD_SHARE = 0.01
OVERHEAD_RULE = "MACs below 1 % of the median MACs of the series (time is fixed per-call overhead, not work)"
"""Which models an operations-vs-time fit leaves out, as stated in captions and findings."""

MIN_POINTS = 3


@dataclass(frozen=True)
class LineFit:
    """``y = intercept + slope · x`` with 95 % intervals (t-based) and the Pearson r of x and y."""

    slope: float
    slope_low: float
    slope_high: float
    intercept: float
    intercept_low: float
    intercept_high: float
    r: float
    n: int

    def __call__(self, x: np.ndarray | float) -> np.ndarray | float:
        return self.intercept + self.slope * np.asarray(x, dtype=float)


@dataclass(frozen=True)
class PowerLaw:
    """``y = coefficient · x^exponent`` fitted on the logs, with the exponent's 95 % interval."""

    exponent: float
    low: float
    high: float
    coefficient: float
    r: float
    n: int

    def __call__(self, x: np.ndarray | float) -> np.ndarray | float:
        return self.coefficient * np.asarray(x, dtype=float) ** self.exponent

    def text(self) -> str:
        """``"exponent 0.97 [0.91, 1.03], r = 0.98"``."""
        return f"exponent {self.exponent:.2f} [{self.low:.2f}, {self.high:.2f}], r = {self.r:.2f}"


@dataclass(frozen=True)
class Hyperbola:
    """``y = a - b / x`` (least squares in 1/x); ``r`` is the Pearson r of y and 1/x (negative when y
    rises with x)."""

    a: float
    b: float
    r: float
    n: int

    def __call__(self, x: np.ndarray | float) -> np.ndarray | float:
        return self.a - self.b / np.asarray(x, dtype=float)


def _t975(dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def line(x: Sequence[float], y: Sequence[float]) -> LineFit:
    """Ordinary least squares of ``y`` on ``x`` with 95 % intervals on slope and intercept."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n < MIN_POINTS or np.unique(x).size < 2:
        raise ValueError(f"a fit with an interval needs {MIN_POINTS} points at 2 x values or more, got {n}")
    mx = x.mean()
    sxx = float(((x - mx) ** 2).sum())
    slope = float(((x - mx) * (y - y.mean())).sum() / sxx)
    intercept = float(y.mean() - slope * mx)
    resid = y - (intercept + slope * x)
    s2 = float((resid**2).sum() / (n - 2))
    se_slope = math.sqrt(s2 / sxx)
    se_intercept = math.sqrt(s2 * (1.0 / n + mx**2 / sxx))
    t = _t975(n - 2)
    r = float(np.corrcoef(x, y)[0, 1]) if np.std(y) > 0 else float("nan")
    return LineFit(slope, slope - t * se_slope, slope + t * se_slope,
                   intercept, intercept - t * se_intercept, intercept + t * se_intercept, r, n)  # fmt: skip


def power_law(x: Sequence[float], y: Sequence[float]) -> PowerLaw:
    """Fit ``y ∝ x^k`` on log10 of both (all values must be positive)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("a power law needs positive values")
    f = line(np.log10(x), np.log10(y))
    return PowerLaw(f.slope, f.slope_low, f.slope_high, 10**f.intercept, f.r, f.n)


def hyperbola(x: Sequence[float], y: Sequence[float]) -> Hyperbola:
    """Fit ``y = a - b / x`` (x positive)."""
    x = np.asarray(x, dtype=float)
    if (x <= 0).any():
        raise ValueError("a hyperbola in 1/x needs positive x")
    f = line(1.0 / x, y)
    return Hyperbola(f.intercept, -f.slope, f.r, f.n)


def fixed_overhead(macs: pd.Series) -> pd.Series:
    """True for the points :data:`OVERHEAD_RULE` leaves out of an operations-vs-time fit."""
    macs = pd.to_numeric(macs, errors="coerce")
    return macs < OVERHEAD_SHARE * float(macs.median())
