"""Whether every model counts whole: each model through :func:`archbench.params.count_params`,
:func:`archbench.count` and :func:`archbench.count_training` on the active backend, every failure
collected (a count that is not ``ok``, params that disagree, an error) and none stopping the walk.

``archbench check --completeness`` and ``tests/test_completeness.py`` walk the zoo with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["STAGES", "Walked", "walk", "walk_model"]

STAGES = ("params", "count", "count_training")


@dataclass(frozen=True)
class Walked:
    """One model's walk: the problems found (``"stage: what"``, empty when whole) and the seconds each
    stage took (building excluded)."""

    model: str
    problems: tuple[str, ...]
    seconds: dict[str, float]

    @property
    def ok(self) -> bool:
        return not self.problems


def _first_line(exc: Exception) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"


def walk_model(name: str, model: Any) -> Walked:
    """Walk one built model through the three counts; the params of both counts must equal
    :func:`~archbench.params.count_params`'s."""
    from .cost import count, count_training
    from .params import count_params

    problems: list[str] = []
    seconds: dict[str, float] = {}
    results: dict[str, Any] = {}
    calls: dict[str, Callable[[], Any]] = {"params": lambda: count_params(model), "count": lambda: count(model),
                                           "count_training": lambda: count_training(model)}  # fmt: skip
    for stage in STAGES:
        started = time.perf_counter()
        try:
            results[stage] = calls[stage]()
        except Exception as exc:  # every model is walked whatever one of them raises; the error is reported
            problems.append(f"{stage}: {_first_line(exc)}")
        seconds[stage] = time.perf_counter() - started
    params = results.get("params")
    if params is not None and params.total <= 0:
        problems.append(f"params: {params.total} weights")
    for stage in ("count", "count_training"):
        result = results.get(stage)
        if result is None:
            continue
        if result.status != "ok":
            problems.append(f"{stage}: {result.status}: not counted: {'; '.join(result.uncounted)}")
        if params is not None and result.params != params:
            problems.append(f"{stage}: params {result.params} differ from count_params's {params}")
    return Walked(name, tuple(problems), seconds)


def walk(
    names: Iterable[str], build: Callable[[str], Any] | None = None, notify: Callable[[Walked], None] | None = None
) -> list[Walked]:  # fmt: skip
    """Walk the registered models ``names`` (built by ``build``, default :func:`archbench.get_model`,
    each dropped before the next is built); a model that fails to build is a problem of its own.
    ``notify`` sees each model's walk."""
    import gc

    import keras

    from .registry import get_model

    own = build is None
    build = build or get_model
    walked = []
    for name in names:
        try:
            model = build(name)
        except Exception as exc:  # a model that does not build is reported with the others
            result = Walked(name, (f"build: {_first_line(exc)}",), {})
        else:
            result = walk_model(name, model)
            del model
        if own:  # models built here are dropped before the next one: the zoo does not fit in memory at once
            keras.backend.clear_session()
            gc.collect()
        walked.append(result)
        if notify is not None:
            notify(result)
    return walked
