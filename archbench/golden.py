"""Golden counts: exact integers per registered model, kept in ``results/golden/`` and checked in CI.

``params.csv`` holds the parameter counts in all conventions; ``complexity.csv`` the MACs and depths.
Both are produced by :func:`compute` (our own code, never typed in) and compared by :func:`check`:
any drift — a changed builder without an updated golden file, a model added or removed — fails.
"""

from __future__ import annotations

import csv
import gc
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .errors import ResultsFileError
from .registry import get_spec, list_models

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results", "golden")
PARAM_COLUMNS = ("params_total", "params_trainable", "params_non_trainable", "params_paper")
COMPLEXITY_COLUMNS = ("macs", "depth", "keras_depth")
FILES = {"params.csv": PARAM_COLUMNS, "complexity.csv": COMPLEXITY_COLUMNS}


@dataclass(frozen=True)
class Drift:
    file: str
    model: str
    column: str
    golden: Any
    current: Any

    @property
    def delta(self) -> str:
        try:
            return f"{int(self.current) - int(self.golden):+,}"
        except (TypeError, ValueError):
            return ""


def measure(name: str) -> dict[str, Any]:
    """Build one model at its default input and count it (params always, complexity when available)."""
    model = get_spec(name).build()
    row = measure_model(name, model)
    del model
    gc.collect()
    return row


def measure_model(name: str, model: Any) -> dict[str, Any]:
    """The golden row of an already built model (at its default input)."""
    from .params import count_params

    row: dict[str, Any] = {"model": name, "input_shape": "x".join(str(d) for d in model.input_shape[1:])}
    row.update({f"params_{k}": v for k, v in count_params(model).as_dict().items()})
    counter = _complexity_counter()
    if counter is not None:
        c = counter(model)
        row.update({k: c[k] for k in COMPLEXITY_COLUMNS if k in c})
    return row


def _complexity_counter() -> Callable[[Any], dict[str, Any]] | None:
    try:
        from .counting import complexity_row
    except ImportError:
        return None
    return complexity_row


def default_models() -> list[str]:
    """The models under golden control: archbench's own zoo (keras/ wrappers are keras' business)."""
    return list_models("*")


def compute(names: Iterable[str] | None = None, progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    rows = []
    for name in names if names is not None else default_models():
        if progress:
            progress(name)
        rows.append(measure(name))
    return rows


def write(rows: list[dict[str, Any]], folder: str = GOLDEN_DIR) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    paths = []
    for file, columns in FILES.items():
        present = [c for c in columns if any(c in r for r in rows)]
        if not present:
            continue
        path = os.path.join(folder, file)
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["model", "input_shape", *present])
            for r in rows:
                w.writerow([r["model"], r["input_shape"], *(r.get(c, "") for c in present)])
        paths.append(path)
    return paths


def read(folder: str = GOLDEN_DIR) -> dict[str, dict[str, dict[str, str]]]:
    """``{file: {model: {column: value}}}`` for the golden files present."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for file in FILES:
        path = os.path.join(folder, file)
        if not os.path.exists(path):
            continue
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or "model" not in reader.fieldnames:
                raise ResultsFileError(f"{path}: not a golden counts file (no 'model' column)")
            out[file] = {r["model"]: r for r in reader}
    if not out:
        raise ResultsFileError(f"no golden files in {folder}; create them with `archbench check --update`")
    return out


def paper_params(folder: str = GOLDEN_DIR) -> dict[str, int]:
    """``{model: params_paper}`` from ``params.csv``, read without building anything (empty without the file)."""
    path = os.path.join(folder, "params.csv")
    if not os.path.exists(path):
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {r["model"]: int(r["params_paper"]) for r in csv.DictReader(f) if r.get("params_paper")}


def diff(rows: list[dict[str, Any]], golden: dict[str, dict[str, dict[str, str]]], *, complete: bool = True) -> list[Drift]:
    """Every difference between measured rows and the golden files (``complete``: also missing/extra models)."""
    drifts: list[Drift] = []
    measured = {r["model"]: r for r in rows}
    for file, table in golden.items():
        columns = [c for c in FILES[file] if any(c in g for g in table.values())]
        for name, row in measured.items():
            g = table.get(name)
            if g is None:
                drifts.append(Drift(file, name, "(model)", "missing", "registered"))
                continue
            for col in ["input_shape", *columns]:
                if col in row and str(row[col]) != str(g.get(col, "")):
                    drifts.append(Drift(file, name, col, g.get(col, ""), row[col]))
        if complete:
            for name in table:
                if name not in measured:
                    drifts.append(Drift(file, name, "(model)", "present", "not registered"))
    return drifts
