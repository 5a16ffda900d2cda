"""Tables from results: one row per model (:func:`model_table`), environments, measurements, failures and
latency rows, each a DataFrame; :func:`markdown_table` writes one as Markdown. The report's summary table
is :mod:`~archbench.analysis.summary`'s, machines side by side :mod:`~archbench.analysis.compare`'s."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .load import RESULTS_FILE, _require

IMAGENET_DATASETS = ("imagenet", "imagefolder")
"""Accuracy rows on these datasets count as measured ImageNet top-1 (others are not plotted as such)."""

SINGLE_CROP = "single centre crop"

_PROTOCOL_WORDS = (
    ("read off a chart", ("read off",)),
    ("10-crop", ("10 patch", "10-crop", "10 crop", "ten crop", "average over 10")),
    ("multi-scale", ("multi-scale", "multi-crop", "multiscale", "dense evaluation", "144 crops")),
    (SINGLE_CROP, ("single centre crop", "single center crop", "single crop", "single frame", "single 2")),
)
_WEIGHTS_WORDS = (
    ("torchvision", ("torchvision",)),
    ("keras.applications", ("keras.applications", "keras applications")),
    ("BVLC", ("bvlc",)),
    ("Caffe Model Zoo", ("caffe model zoo",)),
    ("TF-slim", ("tf-slim", "open model zoo")),
)


def protocol_of(text: str) -> str:
    """The evaluation protocol a reference's scope and source describe (``single centre crop``,
    ``10-crop``, ``multi-scale``, ``read off a chart``), ``unknown`` where they name none. Used for
    models.csv files written before the ``top1_protocol`` column existed."""
    low = str(text).lower()
    return next((p for p, words in _PROTOCOL_WORDS if any(w in low for w in words)), "unknown")


def weights_of(source: str) -> str:
    """Whose weights a reference top-1 was measured with, from its source: a library or model zoo it
    names, else ``paper``. Used where models.csv has no ``top1_weights`` column."""
    low = str(source).lower()
    return next((w for w, words in _WEIGHTS_WORDS if any(x in low for x in words)), "paper")


def is_single_crop(protocol: Any) -> bool:
    """Whether a protocol string is a single-crop evaluation (what Canziani et al. plot)."""
    return str(protocol).strip().lower().startswith("single")


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
        return pd.DataFrame(columns=["top1", "dataset", "weights"]), notes
    acc = _ok(results, "accuracy")
    acc = acc[acc["top1"].notna()]
    if acc.empty:
        return pd.DataFrame(columns=["top1", "dataset", "weights"]), notes
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
    keep["weights"] = keep["weights"].astype(str) if "weights" in keep.columns else ""
    return keep.drop_duplicates("model").set_index("model")[["top1", "dataset", "weights"]], notes


def _latency_pick(lat: pd.DataFrame) -> pd.DataFrame:
    """One latency row per model, archbench's builders only (peers are compared in their own table): at
    its smallest batch, float32 first, the fastest device/runtime."""
    lat = lat[is_archbench(lat)] if not lat.empty else lat
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
    (``measured``/``reference``), ``top1_source``, ``top1_protocol`` (how the figure was measured:
    single centre crop, 10-crop, ...), ``top1_weights`` (whose weights: paper, torchvision,
    keras.applications, ...), ``top1_inferred`` (True where models.csv has no ``top1_protocol`` /
    ``top1_weights`` and they were read from the reference's scope and source, see :func:`protocol_of`),
    ``latency_ms``, ``latency_ci`` (its 95 % interval), ``latency_flag`` (``noisy``/``remeasured``),
    ``latency_setting``. The notes on what was left out are in ``df.attrs["notes"]``.
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
        row.update(
            top1=None, top1_kind="", top1_source="", top1_protocol="", top1_weights="", top1_inferred=False
        )
        if name in measured.index:
            row["top1"] = float(measured.at[name, "top1"])
            row["top1_kind"] = "measured"
            row["top1_source"] = f"measured on {measured.at[name, 'dataset']}"
            row["top1_protocol"] = f"{SINGLE_CROP} (archbench's preprocessing)"
            row["top1_weights"] = str(measured.at[name, "weights"] or "archbench")
        elif meta_value(name, "top1_ref") is not None and not _imagenet_reference(meta_value, name):
            scope = (
                meta_value(name, "accuracy_ref_scope") or f"input {meta_value(name, 'default_input_shape')}"
            )
            notes.append(f"{name}: reference top-1 is not ImageNet ({scope}), not used")
        elif meta_value(name, "top1_ref") is not None:
            row["top1"] = float(meta_value(name, "top1_ref"))
            row["top1_kind"] = "reference"
            row["top1_source"] = meta_value(name, "accuracy_ref_source") or "reference"
            protocol, weights = meta_value(name, "top1_protocol"), meta_value(name, "top1_weights")
            row["top1_inferred"] = protocol is None or weights is None
            text = f"{meta_value(name, 'accuracy_ref_scope') or ''} {row['top1_source']}"
            row["top1_protocol"] = str(protocol or protocol_of(text))
            row["top1_weights"] = str(weights or weights_of(row["top1_source"]))
        if name in getattr(lat, "index", ()):
            r = lat.loc[name]
            row["latency_ms"] = float(r["median_ms"])
            row["latency_ci"] = ci_text(r["ci_low_ms"], r["ci_high_ms"])
            row["latency_flag"] = "noisy" if r["noisy"] else "remeasured" if r["remeasured"] else ""
            row["latency_setting"] = (
                f"{r['stack']}, {r['device']}, batch {int(r['batch_size'])}, {r['precision']}"
            )
        else:
            row.update(latency_ms=None, latency_ci="", latency_flag="", latency_setting="")
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
            "top1_protocol",
            "top1_weights",
            "top1_inferred",
            "latency_ms",
            "latency_ci",
            "latency_flag",
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


def markdown_table(table: pd.DataFrame, right: Sequence[str] = ()) -> str:
    """``table`` as a GitHub Markdown table, one line per row, cells as ``str`` gives them (``|`` escaped,
    line breaks made spaces); the columns named in ``right`` are right-aligned."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(map(str, table.columns)) + " |",
        "|" + "|".join("---:" if c in right else "---" for c in table.columns) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
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


def latency_table(results: pd.DataFrame, purpose: str = "the latency table", task: str = "latency") -> pd.DataFrame:
    """Ok latency rows (or the rows of another timed ``task``: ``train``) with normalised columns, one
    row per timing that may be charted.

    Columns added or normalised: ``backend, device, dtype, batch_size, median_ms, images_per_s``;
    ``ms_per_image``; ``ci_low_ms, ci_high_ms`` (95 % interval of the median, NaN where not recorded);
    ``noisy`` and ``remeasured`` (bool); ``framework`` (``archbench`` unless the row says otherwise),
    ``runtime`` (``keras`` by default), ``mode``, ``precision``; ``stack`` (what ran the model: the
    Keras backend, another runtime, or ``torchvision <mode>``) and ``setting`` (device · stack ·
    precision). The device and backend fall back on ``env_*``. Rows marked ``superseded`` (a noisy
    first measurement replaced by a re-measurement) are left out.
    """
    _require(results, ["median_ms"], RESULTS_FILE, f"{purpose} ({task} task)")
    df = _ok(results, task)
    df = _normalised(df[df["median_ms"].notna()])
    df["median_ms"] = df["median_ms"].astype(float)
    computed = df["batch_size"] * 1000.0 / df["median_ms"]
    df["images_per_s"] = (
        pd.to_numeric(df["images_per_s"], errors="coerce").fillna(computed)
        if "images_per_s" in df.columns
        else computed
    )
    df["ms_per_image"] = df["median_ms"] / df["batch_size"]
    for col in ("ci_low_ms", "ci_high_ms"):
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df.columns else np.nan
    return df.reset_index(drop=True)


def _normalised(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with ``backend, device, dtype, framework, runtime, mode, precision, batch_size, noisy,
    remeasured, stack, setting`` filled in (defaults where a column is absent) and superseded rows
    dropped."""
    df = df.copy()
    if "superseded" in df.columns:
        df = df[~_truthy(df["superseded"])]
    for col, fallback, default in (
        ("backend", "env_backend", "?"),
        ("device", "env_device", "?"),
        ("dtype", None, "float32"),
        ("framework", None, "archbench"),
        ("runtime", None, "keras"),
        ("mode", None, ""),
    ):
        values = df[col] if col in df.columns else pd.Series(np.nan, index=df.index)
        if fallback and fallback in df.columns:
            values = values.fillna(df[fallback])
        df[col] = values.fillna(default).astype(str).replace("", default)
    precision = df["precision"] if "precision" in df.columns else pd.Series(np.nan, index=df.index)
    df["precision"] = precision.fillna(df["dtype"]).astype(str)
    batch = df["batch_size"] if "batch_size" in df.columns else pd.Series(np.nan, index=df.index)
    if "batch" in df.columns:
        batch = batch.fillna(df["batch"])
    df["batch_size"] = pd.to_numeric(batch, errors="coerce").fillna(1).astype(int)
    for col in ("noisy", "remeasured"):
        df[col] = _truthy(df[col]) if col in df.columns else False
    df["stack"] = [_stack(r) for r in df[["framework", "runtime", "backend", "mode"]].itertuples(index=False)]
    df["setting"] = df["device"] + " · " + df["stack"] + " · " + df["precision"]
    return df


def measured_rows(results: pd.DataFrame, column: str, *, status: str | None = "ok") -> pd.DataFrame:
    """Rows of any inference task with a value in ``column`` (e.g. ``mem_peak_mb``, ``power_w``),
    normalised as :func:`latency_table` does (``setting``, ``batch_size`` ...), ``column`` as float.
    Empty when the column is absent. Training-step rows (task ``train``) are left out: their figures are
    :mod:`archbench.analysis.training`'s."""
    if column not in results.columns:
        return pd.DataFrame(columns=["model", "setting", "batch_size", column])
    df = results if status is None else results[results["status"] == status]
    if "task" in df.columns:
        df = df[df["task"] != "train"]
    df = df[pd.to_numeric(df[column], errors="coerce").notna()]
    df = _normalised(df)
    df[column] = pd.to_numeric(df[column], errors="coerce").astype(float)
    return df.reset_index(drop=True)


def _stack(row: Any) -> str:
    """What ran the model: ``torchvision <mode>``, a runtime other than Keras, or the Keras backend
    (with its compile mode where the row names one)."""
    framework, runtime, backend, mode = row
    if framework != "archbench":
        return f"{framework} {mode}".strip()
    if runtime != "keras":
        return runtime
    return mode if mode and mode.startswith(backend) else f"{backend} {mode}".strip()


def is_archbench(lat: pd.DataFrame) -> pd.Series:
    """Rows of :func:`latency_table` measured on archbench's own builders (not a peer framework)."""
    return lat["framework"] == "archbench"


def primary_setting(lat: pd.DataFrame) -> str | None:
    """The setting most archbench models were measured in at batch 1 (or their smallest batch): the one
    the report's single-setting figures and findings use. Ties go to the Keras runtime, then by name."""
    own = lat[is_archbench(lat)]
    if own.empty:
        return None
    small = own[own["batch_size"] == own.groupby("setting")["batch_size"].transform("min")]
    counts = small.groupby("setting").agg(
        n=("model", "nunique"), keras=("runtime", lambda r: (r == "keras").any())
    )
    counts = counts.reset_index().sort_values(["n", "keras", "setting"], ascending=[False, False, True])
    return str(counts["setting"].iloc[0])


def describe_run(rows: pd.DataFrame) -> str:
    """The device and settings of some result rows, for a figure's caption: device and cores, threads,
    precision, minimum timing, profile (each only where the rows record it, distinct values joined)."""

    def distinct(*cols: str) -> list[str]:
        for col in cols:
            if col in rows.columns and rows[col].notna().any():
                values = rows[col].dropna().astype(str)
                return list(dict.fromkeys(v.removesuffix(".0") for v in values if v not in ("", "nan")))
        return []

    parts = []
    device = distinct("device", "env_device")
    name = distinct("env_device_name")
    if device:
        parts.append(
            " / ".join(device) + (f" ({' / '.join(name)})" if name and name[0] not in device[0] else "")
        )
    cores = distinct("env_cpu_count")
    if cores:
        parts.append(f"{'/'.join(cores)} cores")
    threads = distinct("threads", "env_intra_op_threads")
    if threads:
        parts.append(
            "threads: " + "/".join("framework default" if t in ("0", "None") else t for t in threads)
        )
    precision = distinct("precision", "dtype")
    if precision:
        parts.append("/".join(precision))
    min_time = distinct("min_time_s")
    if min_time:
        parts.append(f"≥ {'/'.join(min_time)} s per timing")
    profile = distinct("profile")
    if profile:
        parts.append(f"profile {'/'.join(profile)}")
    return ", ".join(parts) if parts else "device and settings not recorded"


def ci_text(low: Any, high: Any) -> str:
    """``"50.9–52.3"`` for a recorded interval, ``""`` otherwise."""
    if _missing(low) or _missing(high):
        return ""
    return f"{float(low):.3g}–{float(high):.3g}"


def peak_source_text(rows: pd.DataFrame) -> str:
    """Where the peak behind ``fraction_of_peak`` came from (``measured`` on this machine, or a datasheet),
    distinct sources joined; ``not recorded`` where the rows do not say."""
    if "peak_source" not in rows.columns or rows["peak_source"].isna().all():
        return "source not recorded"
    return " / ".join(dict.fromkeys(rows["peak_source"].dropna().astype(str).str.split(" \\(").str[0]))
