"""What several commands share: default output folder and tasks, comma-separated option values."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..errors import UsageError

DEFAULT_TASKS = "params,macs,latency"
DEFAULT_OUT = os.path.join("results", "latest")


def csv_list(text: str, cast: Callable[[str], Any], what: str) -> tuple:
    """``"1,8,32"`` -> ``(1, 8, 32)``; a value ``cast`` refuses or an empty list is a usage error."""
    try:
        values = tuple(cast(v.strip()) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"bad {what} {text!r}: expected a comma-separated list") from None
    if not values:
        raise UsageError(f"no {what} given")
    return values


def latency_config(*, min_time_s: float, max_time_s: float | None, **fields: Any) -> Any:
    """The one :class:`~archbench.benchmark.LatencyConfig` of a command, from its options: the time
    cap defaults to :func:`~archbench.benchmark.max_time_for` and may not be below ``min_time_s``."""
    from ..benchmark.config import DEFAULT, max_time_for

    cap = max_time_for(min_time_s, max_time_s)
    if cap < min_time_s:
        raise UsageError(f"--max-time {cap:g} is below --min-time {min_time_s:g}")
    return DEFAULT.replace(min_time_s=min_time_s, max_time_s=cap, **fields)
