"""Baselines beside measured accuracies: what a linear classifier gets on the same images.

A measured top-1 means little without the figure of a model with no architecture at all: LeNet-5 at
95 % on ``digits`` is worse than logistic regression on the same split. :func:`logistic_regression_row`
fits scikit-learn's ``LogisticRegression`` on the flattened pixels of the training split (each pixel
standardised with the training split's mean and deviation) and scores it
on the held-out split: the same source, seed, held-out fraction and split as the models' rows
(:func:`archbench.data.load_pixels`), the pixels at their native size scaled to [0, 1]. Its row has
the model name :data:`BASELINE_MODEL`, the task ``accuracy`` and the dataset fingerprint the models'
rows carry.

``archbench run --tasks accuracy`` adds this row (:func:`record_baselines`) for every dataset of the
sweep where it is cheap: ``digits``, ``shapes`` and ``npz`` files of at most :data:`MAX_VALUES`
training pixel values (a 60,000-image MNIST file is above it; image folders never qualify).
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .errors import UsageError

__all__ = [
    "BASELINE_MODEL",
    "CHEAP_DATASETS",
    "MAX_VALUES",
    "NotCheap",
    "baseline_settings",
    "logistic_regression_row",
    "record_baselines",
]

BASELINE_MODEL = "baseline/logistic_regression"
CHEAP_DATASETS = ("digits", "shapes", "npz")
MAX_VALUES = 20_000_000
MAX_ITER = 1000
SHAPES_RESOLUTION = 32


class NotCheap(UsageError):
    """The training split is too large for a baseline fitted on the side of a sweep."""


def _arrays(dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for x, y in dataset.batches(split, 1024).as_numpy_iterator():
        xs.append(x.reshape(len(x), -1))
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def logistic_regression_row(
    dataset: str = "digits",
    *,
    data_dir: str | None = None,
    seed: int = 0,
    heldout_fraction: float | None = None,
    limit: int | None = None,
    max_values: int | None = MAX_VALUES,
) -> dict[str, Any]:
    """Fit logistic regression on the training split's flattened pixels; score the held-out split.

    Returns the row (model :data:`BASELINE_MODEL`, held-out ``top1``/``top5`` in percent, ``n``,
    ``n_train``, ``train_time_s`` and the dataset fingerprint). A training set of more than
    ``max_values`` pixel values raises :class:`NotCheap` (``None``: no limit).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from .data import load_pixels

    ds = load_pixels(dataset, data_dir=data_dir, heldout_fraction=heldout_fraction, seed=seed, limit=limit,
                     resolution=SHAPES_RESOLUTION)
    if ds.train_split is None:
        raise UsageError(f"dataset {ds.name!r} has no training split: no baseline to fit")
    r = ds.recipe
    size = ds.split(ds.train_split).size * r.input_size * r.input_size * r.channels_out
    if max_values is not None and size > max_values:
        raise NotCheap(f"{ds.name}: {size:,} training pixel values, more than the {max_values:,} of a cheap baseline")
    x_train, y_train = _arrays(ds, ds.train_split)
    x_held, y_held = _arrays(ds, ds.heldout_split)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=MAX_ITER))
    # one BLAS thread: beside TensorFlow's pools, more threads make this small fit 100x slower
    with threadpool_limits(1):
        start = time.perf_counter()
        classifier.fit(x_train, y_train)
        train_time = time.perf_counter() - start
        scores = classifier.predict_proba(x_held)
    classes = classifier.classes_
    top1 = float(np.mean(classes[np.argmax(scores, axis=1)] == y_held)) * 100.0
    top5 = None
    if ds.num_classes > 5 and len(classes) > 5:
        best = classes[np.argsort(-scores, axis=1)[:, :5]]
        top5 = float(np.mean(np.any(best == y_held[:, None], axis=1))) * 100.0
    return {
        "model": BASELINE_MODEL,
        **ds.fingerprint(),
        "split": ds.heldout_split,
        "n": int(len(y_held)),
        "top1": top1,
        "top5": top5,
        "trained": True,
        "n_train": int(len(y_train)),
        "train_time_s": train_time,
        "weights": None,
        "baseline": f"sklearn StandardScaler + LogisticRegression(C=1.0, lbfgs, max_iter={MAX_ITER}) on the "
        "flattened pixels",
        "note": f"baseline: logistic regression on {ds.name}'s raw pixels ({r.input_size}x{r.input_size}), "
        "same split as the models",
    }


def baseline_settings(unit_settings: Mapping[str, Any]) -> dict[str, Any] | None:
    """The settings of the baseline beside an accuracy unit, or ``None`` where there is none to run."""
    dataset = str(unit_settings.get("dataset") or "")
    if dataset.split(":")[0].strip().lower() not in CHEAP_DATASETS:
        return None
    return {"dataset": dataset, "data_dir": unit_settings.get("data_dir"), "baseline": "logistic_regression"}


def record_baselines(units: Iterable[Any], store: Any, *, run_id: str, env: Mapping[str, Any],
                     done: set[str]) -> int:
    """Append the baseline row of every cheap dataset among the ``accuracy`` units of a sweep.

    ``units`` are the runner's units (``.task.name``, ``.settings``); a baseline already in ``done``
    (measured on this machine before) is not fitted again. A dataset whose training split is too large
    is left without a baseline; any other failure is recorded as the row's error. Returns the number
    of rows written.
    """
    from .store import measurement_key

    pending: dict[str, dict[str, Any]] = {}
    for unit in units:
        if unit.task.name != "accuracy":
            continue
        settings = baseline_settings(unit.settings)
        if settings is None:
            continue
        key = measurement_key(BASELINE_MODEL, "accuracy", settings)
        if key not in done:
            pending.setdefault(key, settings)
    written = 0
    for key, settings in pending.items():
        row = {"model": BASELINE_MODEL, "task": "accuracy", "run_id": run_id, "key": key, "settings": settings}
        started = time.perf_counter()
        try:
            result = logistic_regression_row(settings["dataset"], data_dir=settings["data_dir"])
        except NotCheap:
            continue
        except Exception as exc:
            text = str(exc).strip().splitlines()
            outcome = {"status": "error", "error": f"{type(exc).__name__}: {text[0] if text else ''}"}
        else:
            result.pop("model")
            outcome = {"status": "ok", "error": "", "result": result}
        stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        store.append({**row, **outcome, "timestamp": stamp, "elapsed_s": time.perf_counter() - started,
                      "env": dict(env)})
        written += 1
    return written
