"""One formatter for human-readable magnitudes (k, M, G), shared by the CLI, summaries and figures."""

from __future__ import annotations

_SCALES = (("G", 1e9), ("M", 1e6), ("k", 1e3))


def si(n: float | int | None, spec: str = ".3g", none: str = "-") -> str:
    """``si(15_470_264_320) == '15.5 G'``; ``spec`` formats the scaled number; below 1,000 integers print whole."""
    if n is None:
        return none
    for unit, scale in _SCALES:
        if abs(n) >= scale:
            return f"{n / scale:{spec}} {unit}"
    return str(n) if isinstance(n, int) else f"{n:{spec}}"
