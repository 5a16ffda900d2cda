"""Machines side by side: the latency of several results folders, one column group per machine.

:func:`compare_results` takes each folder's ``results.csv`` (keyed by a label, the folder's name) and
returns a :class:`Comparison`: one row per model, way of running it (the ``stack``: ``tensorflow xla``,
``jax jit``, ``torchvision compile`` ...), batch size and precision; per machine its median latency, the
95 % interval of the median, the fraction of that machine's measured peak FLOP/s (``fraction_of_peak``,
where the rows carry it) and the energy per image (where a counter was read); per machine after the first,
the speed-up against the first (first's median / its median, above 1: faster than the first).

Rows are compared only at the same batch size and precision: a model, batch size and precision that
fewer than two machines measured is left out, and :attr:`Comparison.left_out` says which and why
(settings that differ, or a model only one machine measured). Where two machines ran a model at the same
settings in different ways (a GPU machine's JAX beside a CPU machine's TensorFlow), a row
``fastest: <way> / <way>`` compares each machine's fastest way, named in machine order (``–`` for a
machine that did not measure it). :func:`compare_figure` draws the latency per model
across machines; :func:`compare_markdown` writes the tables as Markdown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ResultsFileError
from .hover import tag_points
from .plotting import _figure, _finish, _plain_log_labels, _styled
from .tables import ci_text, describe_run, latency_table, markdown_table, peak_source_text

KEYS = ["model", "way", "batch", "precision"]
SETTING = ["model", "batch", "precision"]
FASTEST = "fastest"
MEASURES = ("median (ms)", "95 % CI (ms)", "fraction of peak", "energy (mJ/image)", "speed-up")


@dataclass
class Comparison:
    """``table``: one row per model, way, batch and precision measured by two machines or more, columns
    ``model, way, batch, precision`` then ``<machine>: <measure>`` for each machine (measures in
    :data:`MEASURES`; a measure no row of a machine has is left out, see ``notes``); ``left_out``: the
    rows not compared, ``machine, model, batch, precision, ways, reason``; ``devices``: each machine's
    device and settings as the rows record them."""

    machines: list[str]
    table: pd.DataFrame
    left_out: pd.DataFrame
    devices: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rows: dict[str, pd.DataFrame] = field(default_factory=dict)


def _rows(results: pd.DataFrame) -> pd.DataFrame:
    """One row per model, way, batch and precision of one folder: the fastest, with its measures."""
    lat = latency_table(results, "compare")
    lat = lat.rename(columns={"stack": "way", "batch_size": "batch"})
    for col in ("fraction_of_peak", "energy_j_per_image"):
        lat[col] = pd.to_numeric(lat[col], errors="coerce") if col in lat.columns else np.nan
    return lat.sort_values("median_ms", kind="stable").drop_duplicates(KEYS).reset_index(drop=True)


def _settings_text(df: pd.DataFrame) -> str:
    pairs = sorted({(int(b), str(p)) for b, p in zip(df["batch"], df["precision"], strict=True)})
    return "; ".join(f"batch {b}, {p}" for b, p in pairs)


def compare_results(results: Mapping[str, pd.DataFrame]) -> Comparison:
    """Compare the latency rows of several results folders (``{label: results.csv}``, the first the
    baseline of the speed-ups). Raises :class:`ResultsFileError` when fewer than two folders have
    latency rows."""
    per: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    for label, res in results.items():
        try:
            rows = _rows(res)
        except ResultsFileError:
            rows = pd.DataFrame()
        if rows.empty:
            notes.append(f"{label}: no ok latency rows, nothing to compare")
            continue
        per[label] = rows
    if len(per) < 2:
        raise ResultsFileError("compare needs two folders or more with ok latency rows; " + "; ".join(notes))
    machines = list(per)
    measured_by: dict[tuple, list[str]] = {}
    for label, rows in per.items():
        for key in dict.fromkeys(map(tuple, rows[SETTING].itertuples(index=False))):
            measured_by.setdefault(key, []).append(label)
    kept = {k for k, who in measured_by.items() if len(who) >= 2}
    table = _table(per, machines, kept)
    left = _left_out(per, kept)
    for label, rows in per.items():
        for col, what in (
            ("fraction_of_peak", "fraction of peak"),
            ("energy_j_per_image", "energy (mJ/image)"),
        ):
            if rows[col].isna().all():
                reason = ("rows written before archbench measured the machine's peaks" if col == "fraction_of_peak"
                          else _energy_reason(results[label]))  # fmt: skip
                notes.append(f"{label}: no {what} ({reason})")
            elif col == "fraction_of_peak":
                source = peak_source_text(rows[rows[col].notna()])
                if not source.startswith("measured"):
                    notes.append(f"{label}: fraction of peak against a peak not measured here ({source})")
    devices = {label: describe_run(rows) for label, rows in per.items()}
    return Comparison(machines, table, left, devices, notes, per)


def _energy_reason(results: pd.DataFrame) -> str:
    if "energy_reason" in results.columns and results["energy_reason"].notna().any():
        return str(results["energy_reason"].dropna().astype(str).iloc[0])
    return "no energy counter read"


def _cells(row: pd.Series | None, base: pd.Series | None, first: bool) -> dict[str, Any]:
    if row is None:
        return dict.fromkeys(MEASURES[:4] if first else MEASURES, np.nan)
    out: dict[str, Any] = {
        "median (ms)": round(float(row["median_ms"]), 4),
        "95 % CI (ms)": ci_text(row["ci_low_ms"], row["ci_high_ms"]),
        "fraction of peak": row["fraction_of_peak"],
        "energy (mJ/image)": row["energy_j_per_image"] * 1e3
        if pd.notna(row["energy_j_per_image"])
        else np.nan,
    }
    if not first:
        out["speed-up"] = (
            round(float(base["median_ms"]) / float(row["median_ms"]), 3) if base is not None else np.nan
        )
    return out


def _first(rows: pd.DataFrame) -> pd.Series | None:
    return None if rows.empty else rows.iloc[0]


def _table(per: dict[str, pd.DataFrame], machines: list[str], kept: set[tuple]) -> pd.DataFrame:
    records = []
    for key in sorted(kept, key=lambda k: (k[0], k[1], k[2])):
        model, batch, precision = key
        group = {m: per[m][(per[m]["model"] == model) & (per[m]["batch"] == batch) & (per[m]["precision"] == precision)]
                 for m in machines}  # fmt: skip
        ways = sorted({w for g in group.values() for w in g["way"]})
        lines = [(way, {m: _first(g[g["way"] == way]) for m, g in group.items()}) for way in ways]
        shared = [w for w in ways if all((g["way"] == w).any() for g in group.values() if not g.empty)]
        if len(ways) > 1 or not shared:
            best = {m: _first(g) for m, g in group.items()}
            named = " / ".join("–" if r is None else r["way"] for r in best.values())
            lines.append((f"{FASTEST}: {named}", best))
        for way, cells in lines:
            record: dict[str, Any] = {"model": model, "way": way, "batch": int(batch), "precision": precision}
            base = cells[machines[0]]
            for i, m in enumerate(machines):
                for measure, value in _cells(cells[m], base, i == 0).items():
                    record[f"{m}: {measure}"] = value
            records.append(record)
    table = pd.DataFrame(records)
    if table.empty:
        return pd.DataFrame(columns=KEYS)
    empty = [c for c in table.columns if c not in KEYS and table[c].replace("", np.nan).isna().all()]
    return table.drop(columns=empty)


def _left_out(per: dict[str, pd.DataFrame], kept: set[tuple]) -> pd.DataFrame:
    records = []
    for label, rows in per.items():
        for key, g in rows.groupby(SETTING, sort=True):
            if key in kept:
                continue
            model = key[0]
            others = {m: r[r["model"] == model] for m, r in per.items() if m != label}
            others = {m: r for m, r in others.items() if not r.empty}
            if others:
                reason = "settings differ: " + "; ".join(
                    f"{m} measured it at {_settings_text(r)}" for m, r in others.items()
                )
            else:
                reason = f"only {label} measured this model"
            records.append({"machine": label, "model": model, "batch": int(key[1]), "precision": key[2],
                            "ways": ", ".join(sorted(g["way"])), "reason": reason})  # fmt: skip
    return pd.DataFrame(records, columns=["machine", "model", "batch", "precision", "ways", "reason"])


def speedups(comp: Comparison) -> pd.Series:
    """Per model (its ``fastest`` row where there is one, else its only way), the speed-up of the last
    machine against the first."""
    col = f"{comp.machines[-1]}: speed-up"
    if comp.table.empty or col not in comp.table.columns:
        return pd.Series(dtype=float)
    best = comp.table.assign(_f=~comp.table["way"].str.startswith(FASTEST)).sort_values("_f", kind="stable")
    return best.drop_duplicates(["model", "batch", "precision"]).set_index("model")[col].dropna()


@_styled
def compare_figure(comp: Comparison) -> Any:
    """Median latency per model (log scale), one marker per machine at its fastest way, with the 95 %
    interval of the median as error bars."""
    if comp.table.empty:
        raise ResultsFileError(
            "compare: no model was measured by two machines at the same batch size and precision"
        )
    settings = sorted({(r.model, r.batch, r.precision) for r in comp.table.itertuples(index=False)})
    several = len({(b, p) for _m, b, p in settings}) > 1
    fig = _figure(9.5, max(3.2, 0.34 * len(settings) + 1.8))
    ax = fig.add_subplot()
    from matplotlib import colormaps

    for i, m in enumerate(comp.machines):
        fastest = comp.rows[m].drop_duplicates(SETTING)
        place = {k: y for y, k in enumerate(settings)}
        best = [r for _i, r in fastest.iterrows() if (r["model"], r["batch"], r["precision"]) in place]
        if not best:
            continue
        ys = np.array([place[(r["model"], r["batch"], r["precision"])] for r in best], dtype=float)
        ys += (i - (len(comp.machines) - 1) / 2) * 0.18
        med = np.array([float(r["median_ms"]) for r in best])
        low = np.array([float(r["ci_low_ms"]) for r in best])
        high = np.array([float(r["ci_high_ms"]) for r in best])
        err = np.vstack(
            [np.nan_to_num(med - low, nan=0.0).clip(min=0), np.nan_to_num(high - med, nan=0.0).clip(min=0)]
        )
        colour = colormaps["tab10"](i % 10)
        ax.errorbar(
            med, ys, xerr=err, fmt="o", color=colour, ms=5, capsize=2, elinewidth=0.8, label=m, zorder=3
        )
        tag_points(ax, med, ys, [r["model"] for r in best],
                   [f"{v} per batch" for v in _ms_texts(best)],
                   [f"{m}: {r['way']}, batch {int(r['batch'])}, {r['precision']} (results.csv)" for r in best])  # fmt: skip
    ax.set_xscale("log")
    _plain_log_labels(ax.xaxis)
    ax.set_yticks(
        range(len(settings)), [f"{m} (batch {b}, {p})" if several else m for m, b, p in settings], fontsize=8
    )
    ax.invert_yaxis()
    ax.set_xlabel("median inference time per batch (ms, log scale), each machine's fastest way")
    ax.set_title("Latency per model across machines")
    ax.legend(loc="lower right", fontsize=7.5)
    caption = ("Median time per batch of compiled inference (results.csv, latency task) of each machine at its "
               "fastest way for the model, batch size and precision; bars: 95 % interval of the median. Machines: "
               + "; ".join(f"{m}: {d}" for m, d in comp.devices.items()) + ".")  # fmt: skip
    return _finish(fig, caption)


def _ms_texts(rows: list[pd.Series]) -> list[str]:
    from .hover import ms_values

    return ms_values(pd.DataFrame(rows))


def formatted(comp: Comparison) -> pd.DataFrame:
    """The comparison table with its cells as text: medians to 4 significant digits, fractions of peak
    in percent, energy in mJ per image, speed-ups as ``12.3×``; empty where not measured."""

    def fmt(column: str, value: Any) -> str:
        if isinstance(value, str) or column in KEYS:
            return str(value)
        if pd.isna(value):
            return ""
        if column.endswith("fraction of peak"):
            return f"{value:.1%}"
        if column.endswith("speed-up"):
            return f"{value:.3g}×"
        return f"{value:.4g}"

    return pd.DataFrame({c: [fmt(c, v) for v in comp.table[c]] for c in comp.table.columns})


def compare_markdown(comp: Comparison, formatted: pd.DataFrame) -> str:
    """The comparison as Markdown: the machines, the table (``formatted``: cells as text) and the rows
    left out with their reasons."""
    lines = ["# Machines side by side", "", COMPARE_INTRO, "", "## Machines", ""]
    lines += [f"- **{m}**{' (baseline of the speed-ups)' if i == 0 else ''}: {comp.devices[m]}"
              for i, m in enumerate(comp.machines)]  # fmt: skip
    lines += [f"- {n}" for n in comp.notes]
    lines += [
        "",
        "## Latency",
        "",
        markdown_table(formatted) if not formatted.empty else "Nothing compared.",
        "",
    ]
    lines += ["## Left out", ""]
    lines += [LEFT_OUT_INTRO, "", markdown_table(comp.left_out)] if not comp.left_out.empty else ["Nothing."]
    return "\n".join(lines) + "\n"


COMPARE_INTRO = (
    "One row per model, way of running it, batch size and precision measured by two machines or more; per machine "
    "the median latency per batch (ms), the 95 % interval of the median, the fraction of that machine's measured "
    "peak FLOP/s and the energy per image where measured; speed-up = the first machine's median / this machine's "
    "(above 1: faster than the first). 'fastest: a / b' compares each machine's fastest way, named in machine order. Different "
    "machines: a speed-up compares hardware, software and load, not code."
)
LEFT_OUT_INTRO = "Rows compared only at the same batch size and precision; these were not:"
