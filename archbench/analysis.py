"""Tables and figures from archbench results files: pandas loaders and pure figure functions.

Everything here reads the files ``archbench run`` writes into an output folder and nothing else (no
model is built, the registry is never consulted):

- ``results.csv``: one row per model x task x unit (columns documented in ``results/README.md``);
- ``models.csv``: the registry metadata of the models measured (reference figures with sources);
- ``layers/<model>.csv``: optional per-layer tables (``archbench summary MODEL --format csv``).

The loaders check each file's schema and raise :class:`~archbench.errors.ResultsFileError` naming the
file and the column at fault. Each figure function takes DataFrames and returns a
:class:`matplotlib.figure.Figure` drawn on its own Agg canvas (pyplot's global state is never touched, no
backend is set at import). The columns a figure needs are declared in :data:`FIGURE_COLUMNS`; a figure
draws what the data allow, states in its caption what is missing, and raises ``ResultsFileError``
naming the column only when nothing at all can be drawn. The caption is drawn under the axes and kept
on the figure as ``fig.caption`` (see :func:`caption_of`).

Units: MACs are multiply-adds per image (1 MAC = 1 MAD = 2 FLOPs), plotted in G-MACs (1e9); latency in
milliseconds per batch; throughput in images per second; accuracy in percent.
"""

from __future__ import annotations

import functools
import math
import os
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import ResultsFileError

__all__ = [
    "FIGURE_COLUMNS",
    "SHALLOW_ILSVRC",
    "ShallowEntry",
    "backend_comparison",
    "caption_of",
    "conv_params",
    "environments",
    "evolution_of_depth",
    "failures",
    "fc_params",
    "fc_vs_conv",
    "find_layer_tables",
    "latency_table",
    "latency_vs_macs",
    "load_layers",
    "load_models",
    "load_results",
    "measurements",
    "model_table",
    "pareto_frontier",
    "per_layer",
    "summary_markdown",
    "summary_table",
    "throughput_vs_batch",
    "top1_vs_operations",
]

RESULTS_FILE = "results.csv"
MODELS_FILE = "models.csv"
LAYERS_DIR = "layers"

RESULTS_REQUIRED = ("model", "task", "status")
RESULTS_SIGNATURE = ("task", "status", "run_id", "key")
MODELS_REQUIRED = ("model", "display_name", "family", "year")
LAYERS_REQUIRED = ("name", "params", "macs")
LAYER_ALIASES = {"layer": "name", "class_name": "type", "layer_type": "type", "MACs": "macs"}

IMAGENET_DATASETS = ("imagenet", "imagefolder")
"""Accuracy rows on these datasets count as measured ImageNet top-1 (others are not plotted as such)."""

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
    "latency_vs_macs": {"results.csv": ("median_ms", "macs", "backend", "device", "batch_size")},
    "throughput_vs_batch": {"results.csv": ("median_ms", "batch_size", "backend", "device")},
    "backend_comparison": {"results.csv": ("median_ms", "backend", "device", "batch_size")},
    "per_layer": {"layers/<model>.csv": LAYERS_REQUIRED},
}
"""The columns each figure reads, by file; without the non-optional ones the figure cannot be drawn."""

RUSSAKOVSKY_2015 = (
    'Russakovsky et al., "ImageNet Large Scale Visual Recognition Challenge", IJCV 2015 '
    "(arXiv 1409.0575), table of ILSVRC classification winners"
)


@dataclass(frozen=True)
class ShallowEntry:
    """A pre-CNN ILSVRC classification winner (not a model of the zoo): published top-5 test error."""

    year: int
    team: str
    place: int
    top5_error: float
    method: str
    source: str


SHALLOW_ILSVRC: tuple[ShallowEntry, ...] = (
    ShallowEntry(2010, "NEC-UIUC", 1, 28.2, "SIFT/LBP features, coding, linear SVM", RUSSAKOVSKY_2015),
    ShallowEntry(2011, "XRCE", 1, 25.8, "Fisher vectors, linear SVM", RUSSAKOVSKY_2015),
)

LECTURE_ILSVRC_YEARS = (2010, 2011, 2012, 2013, 2014, 2015)

STYLE = {
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "archbench",
}


# --------------------------------------------------------------------------------------------------
# Loaders.


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


def load_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``results.csv`` from an output folder (or the file itself), checking its schema."""
    csv = _csv_path(path, RESULTS_FILE)
    df = _read_csv(csv, "archbench results")
    _check_columns(df, csv, RESULTS_REQUIRED, RESULTS_SIGNATURE, "results file")
    df["model"] = df["model"].astype(str)
    df["task"] = df["task"].astype(str)
    df["status"] = df["status"].astype(str)
    return df


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


# --------------------------------------------------------------------------------------------------
# Tables.


def _require(df: pd.DataFrame, columns: Iterable[str], file: str, purpose: str) -> None:
    missing = [c for c in columns if c not in df.columns or df[c].isna().all()]
    if missing:
        raise ResultsFileError(
            f"{purpose} needs column {', '.join(repr(c) for c in missing)} in {file}; it has no values"
        )


def _ok(results: pd.DataFrame, task: str) -> pd.DataFrame:
    return results[(results["task"] == task) & (results["status"] == "ok")]


def _per_model(results: pd.DataFrame, task: str, column: str) -> pd.DataFrame:
    """One ok row of ``task`` per model with ``column`` set: the model's default input first, then the latest."""
    if column not in results.columns:
        return results.iloc[0:0]
    df = _ok(results, task)
    df = df[df[column].notna()].copy()
    order = []
    if "input_size" in df.columns:
        df["_default"] = df["input_size"].isna()
        order.append("_default")
    if "timestamp" in df.columns:
        order.append("timestamp")
    if order:
        df = df.sort_values(order, ascending=False, kind="stable")
    return df.drop_duplicates("model").set_index("model")


def _truthy(values: pd.Series) -> pd.Series:
    return values.astype(str).str.strip().str.lower().isin(("true", "1", "1.0", "yes"))


def _measured_top1(results: pd.DataFrame, datasets: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Measured ImageNet-like top-1 per model and notes on accuracy rows left out (other data, untrained)."""
    notes: list[str] = []
    if "top1" not in results.columns:
        return pd.DataFrame(columns=["top1", "dataset"]), notes
    acc = _ok(results, "accuracy")
    acc = acc[acc["top1"].notna()]
    if acc.empty:
        return pd.DataFrame(columns=["top1", "dataset"]), notes
    dataset = acc["dataset"].astype(str) if "dataset" in acc.columns else pd.Series("?", index=acc.index)
    on_imagenet = dataset.str.split(":").str[0].isin(datasets)
    trained = _truthy(acc["trained"]) if "trained" in acc.columns else pd.Series(True, index=acc.index)
    other = acc[~on_imagenet]
    if not other.empty:
        notes.append(
            "measured top-1 on "
            + ", ".join(sorted(set(dataset[~on_imagenet])))
            + " not plotted (not ImageNet): "
            + ", ".join(sorted(set(other["model"])))
        )
    untrained = acc[on_imagenet & ~trained]
    if not untrained.empty:
        notes.append("untrained models' accuracy not plotted: " + ", ".join(sorted(set(untrained["model"]))))
    keep = acc[on_imagenet & trained].copy()
    keep["dataset"] = dataset[on_imagenet & trained]
    if "timestamp" in keep.columns:
        keep = keep.sort_values("timestamp", ascending=False, kind="stable")
    return keep.drop_duplicates("model").set_index("model")[["top1", "dataset"]], notes


def _latency_pick(lat: pd.DataFrame) -> pd.DataFrame:
    """One latency row per model: at its smallest batch, float32 first, the fastest device/backend."""
    if lat.empty:
        return lat.set_index("model")
    df = lat.assign(_fp32=(lat["dtype"] != "float32")).sort_values(
        ["batch_size", "_fp32", "median_ms", "device", "backend"], kind="stable"
    )
    return df.drop_duplicates("model").set_index("model")


def model_table(
    results: pd.DataFrame,
    models: pd.DataFrame | None = None,
    *,
    datasets: Sequence[str] = IMAGENET_DATASETS,
) -> pd.DataFrame:
    """One row per model with what the charts plot.

    Columns: ``model, display_name, family, year, input_shape, params`` (paper convention, from the
    params task, else the macs task, else the reference ``params_ref``), ``params_kind``
    (``measured``/``reference``), ``macs``, ``depth``, ``depth_paper``, ``top1``, ``top1_kind``
    (``measured``/``reference``), ``top1_source``, ``latency_ms``, ``latency_setting``. The notes on
    what was left out are in ``df.attrs["notes"]``.
    """
    names = list(models["model"]) if models is not None else []
    names += [m for m in dict.fromkeys(results["model"]) if m not in names]
    meta = models.drop_duplicates("model").set_index("model") if models is not None else pd.DataFrame()
    params = _per_model(results, "params", "params_paper")
    macs = _per_model(results, "macs", "macs")
    measured, notes = _measured_top1(results, datasets)
    has_latency = "median_ms" in results.columns and results["median_ms"].notna().any()
    lat = _latency_pick(latency_table(results)) if has_latency else pd.DataFrame()

    def meta_value(name: str, column: str) -> Any:
        if column in meta.columns and name in meta.index:
            value = meta.at[name, column]
            return None if _missing(value) else value
        return None

    rows = []
    for name in names:
        row: dict[str, Any] = {
            "model": name,
            "display_name": meta_value(name, "display_name") or name,
            "family": meta_value(name, "family") or "unknown",
            "year": meta_value(name, "year"),
        }
        source = (
            params
            if name in params.index
            else macs
            if name in macs.index and "params_paper" in macs.columns
            else None
        )
        if source is not None and not _missing(source.at[name, "params_paper"]):
            row["params"], row["params_kind"] = float(source.at[name, "params_paper"]), "measured"
        elif meta_value(name, "params_ref") is not None:
            row["params"], row["params_kind"] = float(meta_value(name, "params_ref")), "reference"
        else:
            row["params"], row["params_kind"] = None, ""
        if name in macs.index:
            row["macs"] = float(macs.at[name, "macs"])
            row["depth"] = _num(macs.at[name, "depth"]) if "depth" in macs.columns else None
            row["input_shape"] = macs.at[name, "input_shape"] if "input_shape" in macs.columns else None
        else:
            row["macs"] = row["depth"] = None
            row["input_shape"] = (
                params.at[name, "input_shape"]
                if name in params.index and "input_shape" in params.columns
                else None
            )
        row["depth_paper"] = _num(meta_value(name, "depth_paper"))
        if name in measured.index:
            row["top1"] = float(measured.at[name, "top1"])
            row["top1_kind"] = "measured"
            row["top1_source"] = f"measured on {measured.at[name, 'dataset']}"
        elif meta_value(name, "top1_ref") is not None and not _imagenet_reference(meta_value, name):
            scope = (
                meta_value(name, "accuracy_ref_scope") or f"input {meta_value(name, 'default_input_shape')}"
            )
            notes.append(f"{name}: reference top-1 is not ImageNet ({scope}), not used")
            row["top1"], row["top1_kind"], row["top1_source"] = None, "", ""
        elif meta_value(name, "top1_ref") is not None:
            row["top1"] = float(meta_value(name, "top1_ref"))
            row["top1_kind"] = "reference"
            row["top1_source"] = meta_value(name, "accuracy_ref_source") or "reference"
        else:
            row["top1"], row["top1_kind"], row["top1_source"] = None, "", ""
        if name in getattr(lat, "index", ()):
            r = lat.loc[name]
            row["latency_ms"] = float(r["median_ms"])
            row["latency_setting"] = (
                f"{r['backend']}, {r['device']}, batch {int(r['batch_size'])}, {r['dtype']}"
            )
        else:
            row["latency_ms"], row["latency_setting"] = None, ""
        rows.append(row)
    table = pd.DataFrame(
        rows,
        columns=[
            "model",
            "display_name",
            "family",
            "year",
            "input_shape",
            "params",
            "params_kind",
            "macs",
            "depth",
            "depth_paper",
            "top1",
            "top1_kind",
            "top1_source",
            "latency_ms",
            "latency_setting",
        ],
    )
    table.attrs["notes"] = notes
    return table


def _imagenet_reference(meta_value: Callable[[str, str], Any], name: str) -> bool:
    """Whether a model's reference accuracy is an ImageNet figure: its ``accuracy_ref_scope`` names ImageNet
    or ILSVRC, or,
    where models.csv has no scope, its default input is a colour image of at least 64 x 64."""
    scope = meta_value(name, "accuracy_ref_scope")
    if scope:
        return any(word in str(scope).lower() for word in ("imagenet", "ilsvrc"))
    shape = str(meta_value(name, "default_input_shape") or "")
    try:
        h, w, c = (int(d) for d in shape.split("x"))
    except ValueError:
        return True
    return c == 3 and min(h, w) >= 64


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _num(value: Any) -> float | None:
    if _missing(value):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def summary_table(results: pd.DataFrame, models: pd.DataFrame | None = None) -> pd.DataFrame:
    """The report's summary: one row per model, formatted columns with units in their names."""
    t = model_table(results, models)
    out = pd.DataFrame(
        {
            "model": t["model"],
            "name": t["display_name"],
            "family": t["family"],
            "year": t["year"].map(lambda v: "" if _missing(v) else str(int(v))),
            "params": t["params"].map(lambda v: "" if _missing(v) else f"{int(v):,}")
            + t["params_kind"].map(lambda k: " (ref)" if k == "reference" else ""),
            "G-MACs": t["macs"].map(
                lambda v: "" if _missing(v) else f"{v / 1e9:.3f}" if v >= 1e7 else f"{v / 1e9:.2g}"
            ),
            "depth": t["depth"].map(lambda v: "" if _missing(v) else str(int(v))),
            "latency (ms)": t["latency_ms"].map(lambda v: "" if _missing(v) else f"{v:.2f}"),
            "latency setting": t["latency_setting"],
            "ImageNet top-1 (%)": t["top1"].map(lambda v: "" if _missing(v) else f"{v:.1f}"),
            "top-1 is": t["top1_kind"],
        }
    )
    out.attrs["notes"] = t.attrs.get("notes", [])
    return out


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def summary_markdown(results: pd.DataFrame, models: pd.DataFrame | None = None) -> str:
    """The summary table as GitHub Markdown, with a line on what each column means."""
    table = summary_table(results, models)
    right = {"year", "params", "G-MACs", "depth", "latency (ms)", "ImageNet top-1 (%)"}
    lines = [
        "| " + " | ".join(table.columns) + " |",
        "|" + "|".join("---:" if c in right else "---" for c in table.columns) + "|",
    ]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    lines += [
        "",
        "params: paper convention (batch-norm moving statistics excluded), counted by archbench, '(ref)' where "
        "only the reference figure is known; G-MACs: multiply-adds per image / 1e9 at the input shape measured; "
        "depth: weight layers on the longest path; latency: median per batch in the setting named; top-1: "
        "'measured' by archbench on ImageNet data, or the published 'reference' figure.",
    ]
    lines += [f"- {n}" for n in table.attrs.get("notes", [])]
    return "\n".join(lines)


def environments(results: pd.DataFrame) -> pd.DataFrame:
    """The distinct environments (``env_*`` columns) of the measurements, numbered ``E1, E2, ...``.

    Columns: ``env_id``, ``runs``, ``rows``, ``tasks``, ``models`` and every ``env_*`` column.
    """
    env_cols = [c for c in results.columns if c.startswith("env_")]
    keyed = _env_keys(results, env_cols)
    rows = []
    for i, (_key, group) in enumerate(keyed.groupby("_env", sort=False)):
        first = group.iloc[0]
        row = {
            "env_id": f"E{i + 1}",
            "runs": ", ".join(dict.fromkeys(group["run_id"].astype(str))) if "run_id" in group else "",
            "rows": len(group),
            "tasks": ", ".join(dict.fromkeys(group["task"])),
            "models": group["model"].nunique(),
        }
        row.update({c: ("" if _missing(first[c]) else first[c]) for c in env_cols})
        rows.append(row)
    return pd.DataFrame(rows)


def _env_keys(results: pd.DataFrame, env_cols: list[str]) -> pd.DataFrame:
    key = (
        results[env_cols].astype(object).fillna("").astype(str).agg(" | ".join, axis=1)
        if env_cols
        else pd.Series("", index=results.index)
    )
    return results.assign(_env=key)


def measurements(results: pd.DataFrame, task: str | None = None) -> pd.DataFrame:
    """Result rows (of one task) with the columns that task fills, and ``env_id`` from :func:`environments`."""
    env_cols = [c for c in results.columns if c.startswith("env_")]
    keyed = _env_keys(results, env_cols)
    ids = {k: f"E{i + 1}" for i, k in enumerate(dict.fromkeys(keyed["_env"]))}
    df = keyed.assign(env_id=keyed["_env"].map(ids))
    if task is not None:
        df = df[df["task"] == task]
    keep = [
        c for c in df.columns if not c.startswith("env_") and c not in ("_env", "key") and df[c].notna().any()
    ]
    return df[[*keep, "env_id"]].reset_index(drop=True)


def failures(results: pd.DataFrame) -> pd.DataFrame:
    """Rows whose status is not ``ok``: model, task, status, error."""
    cols = [c for c in ("model", "task", "status", "error", "run_id", "timestamp") if c in results.columns]
    return results.loc[results["status"] != "ok", cols].reset_index(drop=True)


def latency_table(results: pd.DataFrame, purpose: str = "the latency table") -> pd.DataFrame:
    """Ok latency rows with normalised ``backend, device, dtype, batch_size, median_ms, images_per_s``
    and ``setting`` (device, backend, dtype); the device and backend fall back on ``env_*``."""
    _require(results, ["median_ms"], RESULTS_FILE, f"{purpose} (latency task)")
    df = _ok(results, "latency")
    df = df[df["median_ms"].notna()].copy()
    for col, fallback, default in (
        ("backend", "env_backend", "?"),
        ("device", "env_device", "?"),
        ("dtype", None, "float32"),
    ):
        values = df[col] if col in df.columns else pd.Series(np.nan, index=df.index)
        if fallback and fallback in df.columns:
            values = values.fillna(df[fallback])
        df[col] = values.fillna(default).astype(str)
    df["batch_size"] = (
        df["batch_size"] if "batch_size" in df.columns else pd.Series(1, index=df.index)
    ).fillna(1)
    df["batch_size"] = df["batch_size"].astype(int)
    df["median_ms"] = df["median_ms"].astype(float)
    computed = df["batch_size"] * 1000.0 / df["median_ms"]
    df["images_per_s"] = (
        df["images_per_s"].astype(float).fillna(computed) if "images_per_s" in df.columns else computed
    )
    df["setting"] = df["device"] + " · " + df["backend"] + " · " + df["dtype"]
    return df.reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Figure helpers.


def _styled(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import matplotlib

        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float) -> Any:
    """A figure on its own Agg canvas (no pyplot, no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _finish(fig: Any, caption: str, notes: Iterable[str] = ()) -> Any:
    notes = [n.rstrip(".") for n in notes if n]
    text = caption + (" Notes: " + "; ".join(notes) + "." if notes else "")
    fig.caption = text
    chars = int(fig.get_figwidth() * 16)
    fig.supxlabel(
        textwrap.fill(text, chars), fontsize=7.5, x=0.01, ha="left", multialignment="left", color="0.25"
    )
    return fig


def caption_of(fig: Any) -> str:
    """The caption a figure function attached (sources, what is plotted, what is missing)."""
    return getattr(fig, "caption", "")


def _family_colours(families: Iterable[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    names = sorted({str(f) for f in families}, key=str.lower)
    # tab10 without its grey (grey marks the shallow entries), then Dark2 for more families
    palette = [colormaps["tab10"](i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)]
    palette += [colormaps["Dark2"](i) for i in range(8)]
    return {f: palette[i % len(palette)] for i, f in enumerate(names)}


def _place_labels(
    ax: Any,
    xs: Sequence[float],
    ys: Sequence[float],
    texts: Sequence[str],
    fontsize: float = 8,
    radii: Sequence[float] | None = None,
) -> None:
    """Label points (bubbles of ``radii`` points): for each, the offset whose text overlaps least with the
    labels already placed, the other bubbles and the axes' edge."""
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72.0
    radii = list(radii) if radii is not None else [0.0] * len(xs)
    centres = ax.transData.transform(np.column_stack([xs, ys]))
    bubbles = [Bbox.from_extents(cx - r * px, cy - r * px, cx + r * px, cy + r * px)
               for (cx, cy), r in zip(centres, radii, strict=True)]  # fmt: skip
    frame = ax.get_window_extent(renderer)
    candidates = [(1, 1, "left", "bottom"), (1, -1, "left", "top"), (-1, 1, "right", "bottom"),
                  (-1, -1, "right", "top"), (0, 1.3, "center", "bottom"), (0, -1.3, "center", "top"),
                  (1.3, 0, "left", "center"), (-1.3, 0, "right", "center")]  # fmt: skip

    def overlap(a: Any, b: Any) -> float:
        w = min(a.x1, b.x1) - max(a.x0, b.x0)
        h = min(a.y1, b.y1) - max(a.y0, b.y0)
        return w * h if w > 0 and h > 0 else 0.0

    placed: list[Any] = []
    order = sorted(range(len(xs)), key=lambda i: (xs[i], ys[i]))
    for i in order:
        reach = 5 + 0.72 * radii[i]
        best = None
        for dx, dy, ha, va in candidates:
            t = ax.annotate(texts[i], (xs[i], ys[i]), xytext=(dx * reach, dy * reach), textcoords="offset points",
                            ha=ha, va=va, fontsize=fontsize, zorder=5)  # fmt: skip
            box = t.get_window_extent(renderer)
            inside = overlap(box, frame)
            cost = (10 * sum(overlap(box, b) for b in placed)
                    + sum(overlap(box, b) for j, b in enumerate(bubbles) if j != i)
                    + 20 * (box.width * box.height - inside))  # fmt: skip
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, t, box)
            else:
                t.remove()
            if cost == 0:
                break
        placed.append(best[2])


def _legend_column(
    lax: Any, legends: Sequence[tuple[list[Any], str, dict[str, Any]]], gap_pt: float = 10
) -> None:
    """Stack legends top-down in an axes of their own (placed in points, so layout changes keep them apart)."""
    from matplotlib.transforms import offset_copy

    lax.set_axis_off()
    fig = lax.figure
    renderer = fig.canvas.get_renderer()
    offset = 0.0
    for handles, title, kwargs in legends:
        if not handles:
            continue
        transform = offset_copy(lax.transAxes, fig=fig, x=0, y=-offset, units="points")
        leg = lax.legend(handles=handles, title=title, loc="upper left", bbox_to_anchor=(0, 1),
                         bbox_transform=transform, alignment="left", **kwargs)  # fmt: skip
        lax.add_artist(leg)
        offset += leg.get_window_extent(renderer).height * 72 / fig.dpi + gap_pt


def _plain_log_ticks(axis: Any, lo: float, hi: float) -> None:
    """Major ticks 1-2-5 per decade labelled as plain numbers (0.5, 1, 2, 5, 10 ...)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ticks = [m * 10.0**e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]  # fmt: skip
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def _plain_log_labels(*axes: Any) -> None:
    """Label the decades of log axes as plain numbers (0.01, 1, 100) rather than powers of ten."""
    from matplotlib.ticker import FuncFormatter

    for axis in axes:
        axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))


def _nice_sizes(values: Sequence[float], count: int = 3) -> list[float]:
    """Round parameter counts spanning ``values`` for a bubble-size legend."""
    lo, hi = min(values), max(values)
    ladder = [m * 10**e for e in range(3, 10) for m in (1, 2, 5)]
    inside = [v for v in ladder if lo * 0.8 <= v <= hi * 1.05] or [hi]
    if len(inside) <= count:
        return inside
    idx = np.linspace(0, len(inside) - 1, count).round().astype(int)
    return [inside[i] for i in dict.fromkeys(idx)]


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.3g}"


def pareto_frontier(points: pd.DataFrame, x: str = "macs", y: str = "top1") -> pd.DataFrame:
    """Points no other point beats with fewer-or-equal ``x`` and higher ``y`` (sorted by ``x``)."""
    best = -math.inf
    keep = []
    for idx, row in points.sort_values([x, y], ascending=[True, False], kind="stable").iterrows():
        if row[y] > best:
            keep.append(idx)
            best = row[y]
    return points.loc[keep]


# --------------------------------------------------------------------------------------------------
# Figures.


@_styled
def top1_vs_operations(
    results: pd.DataFrame,
    models: pd.DataFrame | None = None,
    *,
    log_x: bool = True,
    datasets: Sequence[str] = IMAGENET_DATASETS,
) -> Any:
    """Top-1 accuracy vs operations (Canziani, Paszke & Culurciello 2016, fig. 1), from our results.

    x: G-MACs counted by archbench (macs task); y: measured ImageNet top-1 where the results have it,
    else the reference figure of ``models.csv`` (drawn with a dashed edge); bubble area proportional to
    parameters (paper convention); one colour per family; the Pareto frontier dashed.
    """
    _require(results, ["macs"], RESULTS_FILE, "top1_vs_operations (x = MACs, macs task)")
    if models is not None:
        _require(models, ["family"], MODELS_FILE, "top1_vs_operations (colour = family)")
    t = model_table(results, models, datasets=datasets)
    notes = list(t.attrs["notes"])
    if t["top1"].isna().all():
        raise ResultsFileError(
            "top1_vs_operations needs a top-1: column 'top1_ref' in models.csv or 'top1' (accuracy task on "
            "ImageNet) in results.csv, and neither has a value"
        )
    no_macs = t[t["macs"].isna()]["model"].tolist()
    no_top1 = t[t["macs"].notna() & t["top1"].isna()]["model"].tolist()
    pts = t[t["macs"].notna() & t["top1"].notna()].copy()
    if pts.empty:
        raise ResultsFileError("top1_vs_operations: no model has both 'macs' (results.csv) and a top-1")
    if no_macs:
        notes.append("not shown, no MACs row: " + ", ".join(no_macs))
    if no_top1:
        notes.append("not shown, no ImageNet top-1: " + ", ".join(no_top1))
    no_params = pts[pts["params"].isna()]["model"].tolist()
    if no_params:
        notes.append("no parameter count (drawn as dots): " + ", ".join(no_params))
    ref_params = pts[pts["params_kind"] == "reference"]["model"].tolist()
    if ref_params:
        notes.append("bubble from the reference parameter count: " + ", ".join(ref_params))
    if models is not None and "default_input_shape" in models.columns:
        default = models.drop_duplicates("model").set_index("model")["default_input_shape"].astype(str)
        odd = [
            f"{m} ({shape})"
            for m, shape in zip(pts["model"], pts["input_shape"].astype(str), strict=True)
            if m in default.index and shape not in ("None", "nan", default[m])
        ]
        if odd:
            notes.append("MACs counted at a non-default input: " + ", ".join(odd))

    fig = _figure(10.5, 6.5)
    gs = fig.add_gridspec(1, 2, width_ratios=[4.2, 1.1])
    ax = fig.add_subplot(gs[0])
    lax = fig.add_subplot(gs[1])
    colours = _family_colours(models["family"] if models is not None else t["family"])
    pts["gmacs"] = pts["macs"] / 1e9
    max_params = pts["params"].max() if pts["params"].notna().any() else 1.0
    area_per_param = 2400.0 / max_params
    pts["area"] = (pts["params"] * area_per_param).fillna(0.0)
    for kind, style in (("reference", dict(alpha=0.35, linestyle="--", lw=1.2)),
                        ("measured", dict(alpha=0.8, linestyle="-", lw=1.8))):  # fmt: skip
        sel = pts[pts["top1_kind"] == kind]
        if sel.empty:
            continue
        ax.scatter(
            sel["gmacs"],
            sel["top1"],
            s=sel["area"],
            c=[colours[f] for f in sel["family"]],
            edgecolors=[colours[f] for f in sel["family"]] if kind == "reference" else "black",
            alpha=style["alpha"],
            linewidths=style["lw"],
            linestyle=style["linestyle"],
            zorder=3,
        )
    ax.scatter(pts["gmacs"], pts["top1"], s=6, c="black", zorder=4)
    front = pareto_frontier(pts, "gmacs", "top1")
    ax.plot(front["gmacs"], front["top1"], drawstyle="steps-post", ls="--", color="0.35", lw=1, zorder=2)
    lo, hi = pts["gmacs"].min(), pts["gmacs"].max()
    if log_x:
        ax.set_xscale("log")
        ax.set_xlim(lo / 2, hi * 2)
        _plain_log_ticks(ax.xaxis, lo / 2, hi * 2)
    else:
        ax.set_xlim(0, hi * 1.15)
    ax.set_xlabel(
        "operations: G-MACs per image (multiply-adds / 1e9, counted by archbench"
        + (", log scale)" if log_x else ")")
    )
    ax.set_ylabel("ImageNet top-1 accuracy (%)")
    ax.set_title("Top-1 accuracy vs operations (after Canziani et al. 2016); bubble area ∝ parameters")
    ylo, yhi = pts["top1"].min(), pts["top1"].max()
    pad = max(2.5, 0.1 * (yhi - ylo))
    ax.set_ylim(ylo - pad, yhi + pad)
    radii = list(np.sqrt(pts["area"] / np.pi))
    _place_labels(ax, list(pts["gmacs"]), list(pts["top1"]), list(pts["display_name"]), radii=radii)

    from matplotlib.lines import Line2D

    fam_handles = [Line2D([], [], marker="o", ls="", color=colours[f], markersize=8, label=f)
                   for f in sorted(set(pts["family"]), key=str.lower)]  # fmt: skip
    present = set(pts["top1_kind"])
    kind_handles = (
        [
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                markersize=10,
                markerfacecolor=(0.5, 0.5, 0.5, 0.35),
                markeredgecolor="0.4",
                label="reference (published)",
            )
        ]
        if "reference" in present
        else []
    )
    if "measured" in present:
        kind_handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                markersize=10,
                markerfacecolor=(0.5, 0.5, 0.5, 0.8),
                markeredgecolor="black",
                markeredgewidth=1.8,
                label="measured (archbench)",
            )
        )
    kind_handles.append(Line2D([], [], ls="--", color="0.35", label="Pareto frontier"))
    legends = [(fam_handles, "family", {}), (kind_handles, "top-1", {})]
    if pts["params"].notna().any():
        sizes = _nice_sizes(list(pts["params"].dropna()))
        biggest = math.sqrt(max(sizes) * area_per_param)
        size_handles = [lax.scatter([], [], s=v * area_per_param, facecolors="none", edgecolors="0.3", label=_si(v))
                        for v in sizes]  # fmt: skip
        legends.append((size_handles, "parameters", {"labelspacing": biggest / 8 * 0.7, "borderpad": 1.2,
                                                     "handletextpad": biggest / 8 * 0.5}))  # fmt: skip
    _legend_column(lax, legends)
    kinds = ", ".join(
        f"{(pts['top1_kind'] == k).sum()} {k}"
        for k in ("measured", "reference")
        if (pts["top1_kind"] == k).any()
    )
    caption = (
        f"x: multiply-adds per image counted by archbench (results.csv, macs task) at each model's measured input; "
        f"y: top-1 ({kinds}); reference figures from models.csv (accuracy_ref_source). "
        "Canziani, Paszke & Culurciello, arXiv 1605.07678 (2016)."
    )
    return _finish(fig, caption, notes)


def _ilsvrc_entries(results: pd.DataFrame, models: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    _require(models, ["ilsvrc_year", "ilsvrc_team", "ilsvrc_top5_error"], MODELS_FILE, "evolution_of_depth")
    notes: list[str] = []
    t = model_table(results, models).set_index("model")
    cnn = models[models["ilsvrc_year"].notna()].copy()
    depth_paper = cnn["depth_paper"] if "depth_paper" in cnn.columns else pd.Series(np.nan, index=cnn.index)
    cnn["_depth_paper"] = pd.to_numeric(depth_paper, errors="coerce").fillna(-1)
    cnn = cnn.sort_values("_depth_paper", ascending=False, kind="stable")
    cnn = cnn.drop_duplicates(["ilsvrc_year", "ilsvrc_team"])
    rows = [
        {"year": e.year, "team": e.team, "place": e.place, "top5_error": e.top5_error, "model": "",
         "label": e.method, "depth": None, "depth_kind": "shallow", "family": "shallow", "source": e.source}
        for e in SHALLOW_ILSVRC
    ]  # fmt: skip
    for _, m in cnn.iterrows():
        name = m["model"]
        depth = t.at[name, "depth"] if name in t.index else None
        kind = "measured"
        if _missing(depth):
            depth, kind = _num(m.get("depth_paper")), "paper"
            notes.append(f"{name}: depth from the paper (no 'depth' in results.csv, macs task)")
        rows.append({
            "year": int(m["ilsvrc_year"]), "team": str(m["ilsvrc_team"]),
            "place": int(m["ilsvrc_place"]) if not _missing(m.get("ilsvrc_place")) else 1,
            "top5_error": float(m["ilsvrc_top5_error"]), "model": name,
            "label": str(m.get("display_name") or name), "depth": depth, "depth_kind": kind,
            "family": str(m.get("family") or "unknown"), "source": str(m.get("ilsvrc_source") or ""),
        })  # fmt: skip
    if cnn.empty:
        notes.append(
            "no model in models.csv has an ILSVRC entry (ilsvrc_year): only the shallow entries are shown"
        )
    entries = pd.DataFrame(rows).sort_values(["year", "place"], kind="stable").reset_index(drop=True)
    absent = [y for y in LECTURE_ILSVRC_YEARS if y not in set(entries["year"])]
    if absent:
        notes.append(
            "no entry for ILSVRC "
            + ", ".join(map(str, absent))
            + " (no model of this results folder stands for it)"
        )
    return entries, notes


@_styled
def evolution_of_depth(results: pd.DataFrame, models: pd.DataFrame) -> Any:
    """ILSVRC classification winners 2010-2015 as bars of top-5 error, each CNN annotated with the depth
    (weight layers) archbench measured on the zoo builder standing for it; pre-CNN entries marked shallow."""
    entries, notes = _ilsvrc_entries(results, models)
    fig = _figure(10, 5.8)
    ax = fig.add_subplot()
    colours = _family_colours(models["family"] if "family" in models.columns else entries["family"])
    colours["shallow"] = (0.7, 0.7, 0.7, 1.0)
    x = np.arange(len(entries))
    bars = ax.bar(
        x,
        entries["top5_error"],
        color=[colours[f] for f in entries["family"]],
        width=0.7,
        edgecolor="0.2",
        linewidth=0.6,
        zorder=3,
    )
    for bar, (_, e) in zip(bars, entries.iterrows(), strict=True):
        top = bar.get_height()
        if e["depth_kind"] == "shallow":
            label = "shallow"
        elif e["depth"] is None:
            label = "depth ?"
        else:
            label = f"{int(e['depth'])} layers" + (" (paper)" if e["depth_kind"] == "paper" else "")
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            top + 0.4,
            label,
            ha="center",
            va="bottom",
            fontsize=9,
            fontweight="bold" if e["depth_kind"] != "shallow" else "normal",
        )
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            top / 2,
            f"{e['top5_error']:g} %",
            ha="center",
            va="center",
            fontsize=8.5,
            color="white" if e["depth_kind"] != "shallow" else "black",
            zorder=4,
        )
    ticks = []
    for _, e in entries.iterrows():
        place = (
            ""
            if e["place"] == 1
            else f" ({int(e['place'])}nd)"
            if e["place"] == 2
            else f" ({int(e['place'])}th)"
        )
        under = e["label"] if e["depth_kind"] != "shallow" else "(" + e["label"].split(",")[0] + ")"
        ticks.append(f"ILSVRC {e['year']}\n{e['team']}{place}\n{textwrap.fill(under, 18)}")
    ax.set_xticks(x, ticks, fontsize=8)
    ax.grid(axis="x", visible=False)
    ax.set_ylabel("top-5 classification error (%)")
    ax.set_ylim(0, entries["top5_error"].max() * 1.15)
    ax.set_title("Evolution of depth: ILSVRC classification, top-5 test error of the winning entries")
    sources = list(dict.fromkeys(s for s in entries["source"] if s))
    caption = (
        "Bars: published top-5 test error; CNN depth = weight layers (conv + dense) on the longest path, "
        "measured by archbench on the builder named under the bar (results.csv, macs task, 'depth'); "
        "shallow = pre-CNN entries (not in the zoo). Sources: " + "; ".join(sources) + "."
    )
    return _finish(fig, caption, notes)


def fc_params(height: int, width: int, channels: int, units: int) -> int:
    """Weights + biases of a dense layer on a flattened ``height x width x channels`` input."""
    return (height * width * channels + 1) * units


def conv_params(kernel: int, channels: int, filters: int) -> int:
    """Weights + biases of a ``kernel x kernel`` convolution with ``filters`` filters (any image size)."""
    return (kernel * kernel * channels + 1) * filters


def _layer_kind(layer_type: str) -> str:
    t = str(layer_type).lower()
    if "conv" in t:
        return "conv"
    if "dense" in t:
        return "dense"
    return "other"


def _param_split(results: pd.DataFrame | None, layers: Mapping[str, pd.DataFrame] | None) -> pd.DataFrame:
    """Per model: parameters in conv layers, in dense layers, and in the rest (batch norm, LRN ...)."""
    rows = {}
    if results is not None and {"params_conv", "params_dense"} <= set(results.columns):
        per = _per_model(results, "macs", "params_conv")
        for name, r in per.iterrows():
            total = _num(r.get("params_paper")) or _num(r.get("params_total"))
            conv, dense = float(r["params_conv"]), float(_num(r["params_dense"]) or 0.0)
            rows[name] = {
                "conv": conv,
                "dense": dense,
                "other": max((total or conv + dense) - conv - dense, 0.0),
            }
    for name, df in (layers or {}).items():
        if name in rows or "type" not in df.columns:
            continue
        kinds = df["type"].map(_layer_kind)
        sums = pd.to_numeric(df["params"], errors="coerce").fillna(0).groupby(kinds).sum()
        rows[name] = {k: float(sums.get(k, 0.0)) for k in ("conv", "dense", "other")}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["conv", "dense", "other"])


@_styled
def fc_vs_conv(
    results: pd.DataFrame | None = None,
    models: pd.DataFrame | None = None,
    layers: Mapping[str, pd.DataFrame] | None = None,
    *,
    image: int = 512,
    units: int = 64,
    kernel: int = 7,
    filters: int = 64,
    channels: int = 1,
) -> Any:
    """The lecture's fully connected vs convolutional comparison, a sweep over image sizes, and (from
    ``params_conv``/``params_dense`` in results.csv or per-layer tables) each model's parameter split."""
    fc = fc_params(image, image, channels, units)
    conv = conv_params(kernel, channels, filters)
    split = _param_split(results, layers)
    notes = []
    fig = _figure(13, max(4.8, 0.28 * len(split) + 2.2))
    gs = fig.add_gridspec(1, 3, width_ratios=[1, 1.2, 1.5])
    a = fig.add_subplot(gs[0])
    b = fig.add_subplot(gs[1])
    c = fig.add_subplot(gs[2])

    labels = [
        f"dense, {units} units\non {image}×{image}×{channels}",
        f"{kernel}×{kernel} conv,\n{filters} filters",
    ]
    bars = a.bar(labels, [fc, conv], color=["tab:red", "tab:blue"], zorder=3)
    a.set_yscale("log")
    a.set_ylim(1e2, fc * 8)
    ch = "" if channels == 1 else f"·{channels}"
    for bar, v, f in zip(
        bars, [fc, conv], [f"({image}²{ch}+1)·{units}", f"({kernel}²{ch}+1)·{filters}"], strict=True
    ):
        a.text(
            bar.get_x() + bar.get_width() / 2, v * 1.3, f"{v:,}\n{f}", ha="center", va="bottom", fontsize=8
        )
    a.set_ylabel("trainable parameters (log scale)")
    a.set_title(f"One layer on a {image}×{image} image")
    a.grid(axis="x", visible=False)

    sizes = np.array(sorted({8, 16, 32, 64, 128, 256, 512, 1024, 2048, image}))
    b.plot(
        sizes,
        [fc_params(s, s, channels, units) for s in sizes],
        "o-",
        color="tab:red",
        label=f"dense, {units} units",
    )
    b.plot(
        sizes,
        [conv_params(kernel, channels, filters)] * len(sizes),
        "s-",
        color="tab:blue",
        label=f"{kernel}×{kernel} conv, {filters} filters",
    )
    b.set_xscale("log", base=2)
    b.set_yscale("log")
    b.set_xticks(sizes, [str(s) for s in sizes], fontsize=7)
    b.axvline(image, color="0.5", ls=":", lw=1)
    b.set_xlabel("image side (pixels, log scale)")
    b.set_ylabel("parameters (log scale)")
    b.set_title("Image size sweep")
    b.legend(loc="upper left")

    if split.empty:
        c.set_axis_off()
        c.text(0.5, 0.5, "per-model split not available:\nneeds 'params_conv'/'params_dense' in results.csv\n"
               "(macs task) or layers/<model>.csv tables", ha="center", va="center", fontsize=9, transform=c.transAxes)  # fmt: skip
        notes.append("per-model split skipped: no params_conv/params_dense columns and no per-layer tables")
    else:
        meta = models.drop_duplicates("model").set_index("model") if models is not None else pd.DataFrame()
        order = sorted(
            split.index,
            key=lambda m: (
                _num(meta.at[m, "year"]) if "year" in meta.columns and m in meta.index else 9999,
                m,
            ),
        )
        split = split.loc[order]
        share = split.div(split.sum(axis=1).replace(0, np.nan), axis=0).fillna(0) * 100
        names = [
            str(meta.at[m, "display_name"]) if "display_name" in meta.columns and m in meta.index else m
            for m in order
        ]
        y = np.arange(len(share))
        left = np.zeros(len(share))
        for kind, colour in (("conv", "tab:blue"), ("dense", "tab:red"), ("other", "0.7")):
            c.barh(
                y,
                share[kind],
                left=left,
                color=colour,
                height=0.7,
                label={"conv": "convolution", "dense": "fully connected", "other": "other (BN, ...)"}[kind],
                zorder=3,
            )
            left += share[kind].to_numpy()
        for yi, (m, r) in zip(y, share.iterrows(), strict=True):
            c.text(101, yi, f"{r['dense']:.0f} % FC · {_si(split.loc[m].sum())}", va="center", fontsize=7)
        c.set_yticks(y, names, fontsize=8)
        c.set_xlim(0, 135)
        c.set_ylim(len(share) - 0.5 + max(0, 3 - len(share)) * 0.5, -0.5 - max(0, 3 - len(share)) * 0.5)
        c.set_xticks([0, 25, 50, 75, 100])
        c.set_xlabel("share of parameters (%)")
        c.set_title("Where each model's parameters are")
        c.legend(loc="upper center", bbox_to_anchor=(0.4, -0.12), ncols=3, fontsize=7.5, frameon=False)
        c.grid(axis="y", visible=False)
    fig.suptitle("Fully connected vs convolutional layers: parameters", fontsize=12)
    caption = (
        f"Left and middle: computed here from the formulas (H·W·C+1)·units and (k²·C+1)·filters "
        f"(lecture 4: ({image}²+1)·{units} = {fc:,} vs ({kernel}²+1)·{filters} = {conv:,}). "
        "Right: parameters per layer kind from archbench's counts."
    )
    return _finish(fig, caption, notes)


def _settings_of(lat: pd.DataFrame) -> list[str]:
    return sorted(lat["setting"].unique())


@_styled
def latency_vs_macs(results: pd.DataFrame) -> Any:
    """Latency vs MACs, log-log, one series per device/backend/dtype at its smallest batch size, each
    with the least-squares line of log(latency) on log(MACs) and the Pearson r of the logs."""
    _require(results, ["macs"], RESULTS_FILE, "latency_vs_macs (x = MACs, macs task)")
    lat = latency_table(results, "latency_vs_macs")
    if lat.empty:
        raise ResultsFileError("latency_vs_macs: results.csv has no ok latency rows ('median_ms')")
    macs = _per_model(results, "macs", "macs")["macs"].astype(float)
    lat = lat[lat["batch_size"] == lat.groupby("setting")["batch_size"].transform("min")]
    own = (
        pd.to_numeric(lat["macs"], errors="coerce")
        if "macs" in lat.columns
        else pd.Series(np.nan, index=lat.index)
    )
    lat = lat.assign(gmacs=own.fillna(lat["model"].map(macs)) / 1e9)
    notes = []
    missing = sorted(set(lat.loc[lat["gmacs"].isna(), "model"]))
    if missing:
        notes.append("no MACs for " + ", ".join(missing) + " (not shown)")
    lat = lat[lat["gmacs"].notna()]
    if lat.empty:
        raise ResultsFileError("latency_vs_macs: no model has both a latency row and 'macs' in results.csv")
    fig = _figure(9, 6)
    ax = fig.add_subplot()
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    fits = []
    for i, setting in enumerate(_settings_of(lat)):
        d = lat[lat["setting"] == setting].sort_values("gmacs")
        bs = int(d["batch_size"].iloc[0])
        colour = cmap(i % 10)
        label = f"{setting}, batch {bs}"
        if d["gmacs"].nunique() >= 2:
            lx, ly = np.log10(d["gmacs"].to_numpy()), np.log10(d["median_ms"].to_numpy())
            slope, icept = np.polyfit(lx, ly, 1)
            r = float(np.corrcoef(lx, ly)[0, 1]) if len(d) >= 3 else float("nan")
            xs = np.logspace(lx.min(), lx.max(), 50)
            ax.plot(xs, 10**icept * xs**slope, "-", color=colour, lw=1, alpha=0.8)
            label += f": ms ∝ MACs^{slope:.2f}, r = {r:.3f} (n = {len(d)})"
            fits.append(f"{setting}: slope {slope:.2f}, r = {r:.3f}")
        ax.scatter(d["gmacs"], d["median_ms"], color=colour, label=label, zorder=3, s=30)
        if i == 0:
            _place_labels(ax, list(d["gmacs"]), list(d["median_ms"]), list(d["model"]), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_labels(ax.xaxis, ax.yaxis)
    ax.set_xlabel("G-MACs per image (log scale)")
    ax.set_ylabel("median latency per batch (ms, log scale)")
    ax.set_title("Latency vs operations")
    ax.legend(loc="upper left", fontsize=7.5)
    caption = (
        "Median latency of compiled inference (results.csv, latency task) against archbench's MAC count; "
        "lines: least-squares fit of log10(latency) on log10(MACs); r: Pearson correlation of the logs "
        "(n < 3: not given). Model labels on the first series."
    )
    return _finish(fig, caption, notes)


@_styled
def throughput_vs_batch(results: pd.DataFrame) -> Any:
    """Images per second vs batch size, one panel per device/backend/dtype, one line per model."""
    lat = latency_table(results, "throughput_vs_batch")
    if lat.empty:
        raise ResultsFileError("throughput_vs_batch: results.csv has no ok latency rows ('median_ms')")
    settings = _settings_of(lat)
    n = len(settings)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = _figure(4.6 * cols + 2.2, 3.8 * rows + 0.6)
    colours = _family_colours(lat["model"])
    axes = []
    for i, setting in enumerate(settings):
        ax = fig.add_subplot(rows, cols, i + 1)
        axes.append(ax)
        d = lat[lat["setting"] == setting]
        for m, g in d.groupby("model", sort=True):
            g = g.sort_values("batch_size")
            ax.plot(g["batch_size"], g["images_per_s"], "o-", color=colours[m], label=m, ms=4, lw=1.2)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(textwrap.fill(setting, 48), fontsize=9)
        ax.set_xlabel("batch size (log scale)")
        ax.set_ylabel("images / s (log scale)")
        _plain_log_labels(ax.yaxis)
        batches = sorted(d["batch_size"].unique())
        ax.set_xticks(batches, [str(b) for b in batches])
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside right upper", fontsize=7, title="model")
    fig.suptitle("Throughput vs batch size", fontsize=12)
    notes = []
    if lat.groupby(["setting", "model"])["batch_size"].nunique().max() < 2:
        notes.append("only one batch size measured per model: rerun with --batch 1,8,32 for a sweep")
    caption = "Images per second = batch size × 1000 / median latency in ms (results.csv, latency task)."
    return _finish(fig, caption, notes)


@_styled
def backend_comparison(results: pd.DataFrame) -> Any:
    """Median latency per model at each setting's smallest batch, bars grouped by device/backend/dtype."""
    lat = latency_table(results, "backend_comparison")
    if lat.empty:
        raise ResultsFileError("backend_comparison: results.csv has no ok latency rows ('median_ms')")
    bs = int(lat["batch_size"].min())
    d = lat[lat["batch_size"] == bs]
    table = d.pivot_table(index="model", columns="setting", values="median_ms", aggfunc="median")
    macs = (
        _per_model(results, "macs", "macs")["macs"] if "macs" in results.columns else pd.Series(dtype=float)
    )
    table = table.loc[sorted(table.index, key=lambda m: (macs.get(m, np.inf), m))]
    settings = list(table.columns)
    fig = _figure(max(7.0, 0.55 * len(table) * max(1, len(settings)) + 3), 5.2)
    ax = fig.add_subplot()
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    width = 0.8 / len(settings)
    x = np.arange(len(table))
    for i, s in enumerate(settings):
        ax.bar(x - 0.4 + width * (i + 0.5), table[s], width, label=s, color=cmap(i % 10), zorder=3)
    ax.set_yscale("log")
    ax.set_xticks(x, table.index, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(f"median latency at batch {bs} (ms, log scale)")
    _plain_log_labels(ax.yaxis)
    ax.set_title(f"Backends and devices compared (batch {bs})")
    ax.grid(axis="x", visible=False)
    ax.legend(fontsize=7.5, loc="upper left")
    notes = []
    if len(settings) < 2:
        notes.append(
            "only one backend/device measured: rerun with --backend tensorflow,jax (and on a GPU) to compare"
        )
    caption = (
        "Median latency per batch of compiled inference (results.csv, latency task), models ordered by MACs."
    )
    return _finish(fig, caption, notes)


@_styled
def per_layer(layers: pd.DataFrame, model: str | None = None, *, max_names: int = 40) -> Any:
    """MACs and parameters of each weight layer of one model, in network order (where the cost is)."""
    df = layers.rename(
        columns={k: v for k, v in LAYER_ALIASES.items() if k in layers.columns and v not in layers.columns}
    )
    _require(df, LAYERS_REQUIRED, "the per-layer table", "per_layer")
    df = df.assign(macs=pd.to_numeric(df["macs"], errors="coerce").fillna(0),
                   params=pd.to_numeric(df["params"], errors="coerce").fillna(0))  # fmt: skip
    kinds = df["type"].map(_layer_kind) if "type" in df.columns else pd.Series("other", index=df.index)
    df = df.assign(kind=kinds)
    w = df[(df["macs"] > 0) | ((df["params"] > 0) & (df["kind"] != "other"))].reset_index(drop=True)
    if w.empty:
        raise ResultsFileError("per_layer: the per-layer table has no layer with MACs or parameters")
    rest = df[(df["macs"] == 0) & (df["params"] > 0) & (df["kind"] == "other")]
    fig = _figure(max(8.0, min(16.0, 0.22 * len(w) + 4)), 6.5)
    top = fig.add_subplot(2, 1, 1)
    bottom = fig.add_subplot(2, 1, 2, sharex=top)
    colours = {"conv": "tab:blue", "dense": "tab:red", "other": "0.6"}
    x = np.arange(len(w))
    for ax, col, label in ((top, "macs", "M-MACs per image"), (bottom, "params", "parameters (millions)")):
        ax.bar(x, w[col] / 1e6, color=[colours[k] for k in w["kind"]], width=0.85, zorder=3)
        ax.set_ylabel(label)
        ax.grid(axis="x", visible=False)
    if len(w) <= max_names:
        bottom.set_xticks(x, w["name"], rotation=90, fontsize=7)
    else:
        step = math.ceil(len(w) / max_names)
        bottom.set_xticks(x[::step], w["name"][::step], rotation=90, fontsize=6.5)
    top.tick_params(labelbottom=False)
    from matplotlib.patches import Patch

    present = [k for k in ("conv", "dense", "other") if (w["kind"] == k).any()]
    top.legend(handles=[Patch(color=colours[k], label={"conv": "convolution", "dense": "dense", "other": "other"}[k]) for k in present],
               loc="upper right", fontsize=7.5)  # fmt: skip
    name = model or "model"
    total_macs, total_params = df["macs"].sum(), df["params"].sum()
    top.set_title(f"{name}: MACs and parameters per layer ({len(w)} layers with MACs)")
    big_m = w.nlargest(1, "macs").iloc[0]
    big_p = w.nlargest(1, "params").iloc[0]
    dense_share = 100 * w.loc[w["kind"] == "dense", "params"].sum() / total_params if total_params else 0
    caption = (
        f"Totals: {total_macs / 1e9:.3f} G-MACs, {int(total_params):,} parameters (all weights) "
        f"({dense_share:.0f} % in dense layers). Largest: {big_m['name']} with {100 * big_m['macs'] / total_macs:.0f} % "
        f"of the MACs, {big_p['name']} with {100 * big_p['params'] / total_params:.0f} % of the parameters. "
        "From archbench's per-layer count (archbench summary MODEL --format csv)."
        if total_macs and total_params
        else "From archbench's per-layer count (archbench summary MODEL --format csv)."
    )
    notes = []
    if not rest.empty:
        notes.append(
            f"not drawn: {len(rest)} layers with parameters but no MACs ({', '.join(sorted(set(rest.get('type', ['other']))))}), "
            f"{int(rest['params'].sum()):,} parameters in all"
        )
    return _finish(fig, caption, notes)
