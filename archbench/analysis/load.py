"""Reading a results folder: ``results.csv``, ``models.csv`` and ``layers/<model>.csv``, each schema checked.

Every loader raises :class:`~archbench.errors.ResultsFileError` naming the file and the column at fault;
:func:`_require` does the same for a column a table or figure needs and that has no value.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import pandas as pd

from ..errors import ResultsFileError

RESULTS_FILE = "results.csv"
MODELS_FILE = "models.csv"
LAYERS_DIR = "layers"

RESULTS_REQUIRED = ("model", "task", "status")
RESULTS_SIGNATURE = ("task", "status", "run_id", "key")
MODELS_REQUIRED = ("model", "display_name", "family", "year")
LAYERS_REQUIRED = ("name", "params", "macs")
LAYER_ALIASES = {"layer": "name", "class_name": "type", "layer_type": "type", "MACs": "macs"}


class NotDrawn(ResultsFileError):
    """A figure with nothing to compare in these results (one batch size, one backend, no energy
    counter): its message says what is missing and which command measures it."""


FIGURE_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "top1_vs_operations": {
        "results.csv": ("macs", "params_paper"),
        "models.csv": ("family", "top1_ref"),
        "models.csv (optional)": ("accuracy_ref_scope", "default_input_shape"),
        "results.csv (optional)": ("top1", "dataset", "trained"),
    },
    "evolution_of_depth": {
        "models.csv": ("ilsvrc_year", "ilsvrc_team", "ilsvrc_place", "ilsvrc_top5_error", "ilsvrc_source"),
        "results.csv (optional)": ("depth",),
        "models.csv (optional)": ("depth_paper",),
    },
    "fc_vs_conv": {
        "results.csv (optional)": ("params_conv", "params_dense"),
        "layers/<model>.csv (optional)": ("type", "params"),
    },
    "latency_vs_macs": {
        "results.csv": ("median_ms", "macs", "backend", "device", "batch_size"),
        "results.csv (optional)": ("ci_low_ms", "ci_high_ms", "noisy"),
    },
    "time_vs_batch": {"results.csv": ("median_ms", "batch_size", "backend", "device")},
    "backend_comparison": {
        "results.csv": ("median_ms", "backend", "device", "batch_size"),
        "results.csv (optional)": ("runtime", "framework", "mode", "precision", "ci_low_ms", "ci_high_ms"),
    },
    "top1_density": {"models.csv": ("top1_ref",), "results.csv": ("params_paper",)},
    "top1_vs_latency": {"results.csv": ("median_ms",), "models.csv": ("top1_ref",)},
    "memory_vs_batch": {"results.csv": ("mem_peak_mb", "batch_size")},
    "memory_vs_params": {"results.csv": ("mem_peak_mb", "params_paper")},
    "power_vs_batch": {"results.csv": ("power_w", "energy_available", "batch_size")},
    "top1_vs_energy": {"results.csv": ("energy_j_per_image",), "models.csv": ("top1_ref",)},
    "roofline": {
        "results.csv": (
            "flops_per_s",
            "fraction_of_peak",
            "arithmetic_intensity",
            "peak_flops_per_s",
            "peak_bandwidth_bytes_per_s",
            "median_ms",
            "batch_size",
            "device",
        ),
        "results.csv (optional)": ("bound", "peak_source"),
    },
    "per_layer": {"layers/<model>.csv": LAYERS_REQUIRED},
    "train_throughput": {"results.csv": ("task", "median_ms", "batch_size", "train_macs")},
    "train_vs_inference": {"results.csv": ("task", "median_ms", "batch_size", "train_mac_ratio")},
    "train_memory_vs_batch": {"results.csv": ("task", "mem_peak_mb", "batch_size")},
}
"""The columns each figure reads, by file; without the non-optional ones the figure cannot be drawn."""


def _csv_path(path: str | os.PathLike, name: str) -> str:
    path = os.fspath(path)
    return path if path.endswith(".csv") and not os.path.isdir(path) else os.path.join(path, name)


def _read_csv(path: str, what: str) -> pd.DataFrame:
    if not os.path.exists(path):
        raise ResultsFileError(f"{path}: no such file ({what}); write it with `archbench run --out FOLDER`")
    if not os.path.isfile(path):
        raise ResultsFileError(f"{path}: not a file ({what})")
    if os.path.getsize(path) == 0:
        raise ResultsFileError(f"{path}: the file is empty ({what})")
    try:
        df = pd.read_csv(path, low_memory=False)
    except pd.errors.EmptyDataError:
        raise ResultsFileError(f"{path}: the file is empty ({what})") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ResultsFileError(f"{path}: not a readable CSV file ({what}): {first}") from None
    return df


def _check_columns(
    df: pd.DataFrame, path: str, required: Sequence[str], signature: Sequence[str], what: str
) -> None:
    if not any(c in df.columns for c in signature):
        raise ResultsFileError(
            f"{path}: not an archbench {what} (none of the columns {', '.join(signature)}; "
            f"found {', '.join(map(str, df.columns[:6]))}{', ...' if len(df.columns) > 6 else ''})"
        )
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ResultsFileError(
            f"{path}: missing required column {', '.join(repr(c) for c in missing)} ({what})"
        )
    if df.empty:
        raise ResultsFileError(f"{path}: the file has a header but no rows ({what})")


def _require(df: pd.DataFrame, columns: Iterable[str], file: str, purpose: str) -> None:
    """Raise ``ResultsFileError`` naming each of ``columns`` that ``df`` lacks or holds no value in."""
    missing = [c for c in columns if c not in df.columns or df[c].isna().all()]
    if missing:
        raise ResultsFileError(
            f"{purpose} needs column {', '.join(repr(c) for c in missing)} in {file}; it has no values"
        )


def load_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``results.csv`` from an output folder (or the file itself), checking its schema."""
    csv = _csv_path(path, RESULTS_FILE)
    df = _read_csv(csv, "archbench results")
    _check_columns(df, csv, RESULTS_REQUIRED, RESULTS_SIGNATURE, "results file")
    df["model"] = df["model"].astype(str)
    df["task"] = df["task"].astype(str)
    df["status"] = df["status"].astype(str)
    return unify_peak_columns(df)


OLD_PEAK_COLUMNS = ("peak_tflops", "mfu")
"""The datasheet columns of rows written before one set of peak columns (``peak_tflops``, ``mfu``, and the
datasheet's text in ``peak_source``)."""


def unify_peak_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of older results folders in today's one set of peak columns: where a row has a datasheet
    ``peak_tflops`` and no ``peak_flops_per_s``, that figure becomes ``peak_flops_per_s`` (× 1e12),
    ``mfu`` its ``fraction_of_peak``, the datasheet's text its ``peak_method`` and ``peak_source``
    ``datasheet: <device>``; a ``peak_source`` of ``spec`` (datasheet) is named the same way. The old
    columns are dropped."""
    nan = pd.Series(float("nan"), index=df.index)
    tflops = pd.to_numeric(df.get("peak_tflops", nan), errors="coerce")
    sheet = tflops.notna() & pd.to_numeric(df.get("peak_flops_per_s", nan), errors="coerce").isna()
    source = df.get("peak_source", nan).astype(str)
    if not sheet.any() and not source.eq("spec").any():
        return df.drop(columns=[c for c in OLD_PEAK_COLUMNS if c in df.columns])
    df = df.copy()
    for c in ("peak_flops_per_s", "fraction_of_peak"):
        df[c] = pd.to_numeric(df[c], errors="coerce") if c in df.columns else float("nan")
    for c in ("peak_source", "peak_method"):
        df[c] = df[c].astype(object) if c in df.columns else None
    if sheet.any():
        df.loc[sheet, "peak_method"] = df.loc[sheet, "peak_source"]
        df.loc[sheet, "peak_flops_per_s"] = tflops[sheet] * 1e12
        if "mfu" in df.columns:
            df.loc[sheet, "fraction_of_peak"] = pd.to_numeric(df.loc[sheet, "mfu"], errors="coerce")
    sheet |= source.eq("spec")
    df.loc[sheet, "peak_source"] = [_datasheet_label(m) for m in df.loc[sheet, "peak_method"]]
    return df.drop(columns=[c for c in OLD_PEAK_COLUMNS if c in df.columns])


def _datasheet_label(method: object) -> str:
    """``datasheet: NVIDIA H200 SXM`` from ``NVIDIA H200 SXM datasheet via REFERENCES.md: ...``."""
    text = "" if pd.isna(method) else str(method)
    device = text.split(" datasheet", 1)[0].strip() if " datasheet" in text else ""
    return f"datasheet: {device}" if device else "datasheet"


def load_models(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``models.csv`` (registry metadata of the models measured) from an output folder or the file."""
    csv = _csv_path(path, MODELS_FILE)
    df = _read_csv(csv, "archbench model metadata")
    _check_columns(df, csv, MODELS_REQUIRED, ("model", "display_name", "paper_title"), "models file")
    df["model"] = df["model"].astype(str)
    return df


def load_layers(path: str | os.PathLike) -> pd.DataFrame:
    """Read one per-layer table (``archbench summary MODEL --format csv``), checking its schema."""
    path = os.fspath(path)
    df = _read_csv(path, "per-layer table")
    df = df.rename(
        columns={k: v for k, v in LAYER_ALIASES.items() if k in df.columns and v not in df.columns}
    )
    _check_columns(df, path, LAYERS_REQUIRED, ("name", "macs", "params"), "per-layer table")
    return df


def find_layer_tables(results_dir: str | os.PathLike) -> dict[str, str]:
    """``{model: path}`` for every ``layers/<model>.csv`` under a results folder (``keras/X`` nests)."""
    root = os.path.join(os.fspath(results_dir), LAYERS_DIR)
    found: dict[str, str] = {}
    if not os.path.isdir(root):
        return found
    for folder, _dirs, files in os.walk(root):
        for f in files:
            if f.endswith(".csv"):
                path = os.path.join(folder, f)
                found[os.path.relpath(path, root)[: -len(".csv")].replace(os.sep, "/")] = path
    return dict(sorted(found.items()))
