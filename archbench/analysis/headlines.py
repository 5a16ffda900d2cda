"""What a reader of the report sees first: three to five findings of a results folder, each with its
numbers, computed from the rows (never typed in).

- the fastest way to run each model on this machine and how close it comes to the machine's measured
  peak FLOP/s (``fraction_of_peak``, where the rows carry it);
- the Pareto front of top-1 against inference time: the models no other is both faster and more
  accurate than;
- the Pareto front of top-1 against operations: the lecture's chart (top-1 vs operations, after
  Canziani et al. 2016) redrawn from this folder;
- what changed since the lecture's chart: whether operations still predict time on this machine, and
  the networks here that are younger than the chart.

Where the rows cannot give a finding, it says what is missing and the command that measures it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ResultsFileError
from .canziani import single_crop_points
from .findings import RUN_LATENCY, _operations
from .measured import accuracy_time_points
from .plotting import pareto_frontier
from .tables import latency_table, model_table, peak_source_text

LECTURE_CHART_YEAR = 2016
"""The lecture's top-1 vs operations chart is Canziani, Paszke & Culurciello's (arXiv 1605.07678, 2016)."""


@dataclass(frozen=True)
class Headline:
    """One first-screen finding: a short title, the numbers, and the command that would give what is
    missing (empty when nothing is)."""

    title: str
    text: str
    run: str = ""


def _front_text(front: pd.DataFrame, x: str, unit: str) -> str:
    return " → ".join(
        f"{r['display_name']} ({r[x]:.3g} {unit}, {r['top1']:.1f} %)" for _i, r in front.iterrows()
    )


def _fastest(results: pd.DataFrame) -> Headline:
    title = "Fastest way per model on this machine"
    try:
        lat = latency_table(results, "the headline findings")
    except ResultsFileError:
        lat = pd.DataFrame()
    if lat.empty:
        return Headline(title, "no latency measured", RUN_LATENCY)
    lat = lat[lat["batch_size"] == lat.groupby("model")["batch_size"].transform("min")]
    best = lat.sort_values("median_ms", kind="stable").drop_duplicates("model")
    ways = best["stack"].value_counts()
    text = (f"{len(best)} models, each at its smallest batch ({', '.join(sorted(set(best['device'])))}): "
            + ", ".join(f"{w} fastest for {n}" for w, n in ways.items())
            + (f" (of {lat['stack'].nunique()} ways measured)" if lat["stack"].nunique() > 1 else " (the only way measured)"))  # fmt: skip
    lo, hi = best.iloc[0], best.iloc[-1]
    text += f"; from {lo['median_ms']:.3g} ms ({lo['model']}) to {hi['median_ms']:.3g} ms ({hi['model']})"
    frac = pd.to_numeric(best["fraction_of_peak"], errors="coerce") if "fraction_of_peak" in best else None
    if frac is None or frac.isna().all():
        return Headline(title, text + "; fraction of the measured peak: not known (rows written before archbench "
                        "measured the machine's peaks)", RUN_LATENCY)  # fmt: skip
    known = best.assign(frac=frac).dropna(subset=["frac"]).sort_values("frac")
    low, high = known.iloc[0], known.iloc[-1]
    source = peak_source_text(known)
    of = f"{len(known)} of {len(best)} models' fastest rows carry it" if len(known) < len(best) else ""
    if len(known) == 1:
        text += f"; fraction of this machine's peak FLOP/s ({source}): {_share(low['frac'])} ({low['model']}{'; ' + of if of else ''})"
    else:
        text += (f"; fraction of this machine's peak FLOP/s ({source}): median {_share(known['frac'].median())}, from "
                 f"{_share(low['frac'])} ({low['model']}) to {_share(high['frac'])} ({high['model']})"
                 + (f"; {of}" if of else ""))  # fmt: skip
    return Headline(title, text)


def _share(fraction: float) -> str:
    """A fraction as a percentage: whole percents, two significant figures below 1 % (never a bare 0 %)."""
    return f"{fraction:.0%}" if fraction >= 0.01 or fraction == 0 else f"{fraction * 100:.2g}%"


def _accuracy_front(results: pd.DataFrame, models: pd.DataFrame | None) -> Headline:
    title = "Pareto front of top-1 vs latency"
    try:
        pts, front, _fit, setting, _left = accuracy_time_points(results, models)
    except ResultsFileError:
        return Headline(title, "no latency measured", RUN_LATENCY)
    if pts.empty:
        return Headline(
            title, "no model has both a latency row and a single-crop ImageNet top-1", RUN_LATENCY
        )
    text = (f"{len(front)} of {len(pts)} models ({setting}, batch {int(pts['batch_size'].min())}): "
            f"{_front_text(front, 'median_ms', 'ms')}; every other model is slower for less top-1")  # fmt: skip
    return Headline(title, text)


def _operations_front(results: pd.DataFrame, models: pd.DataFrame | None) -> Headline:
    title = "Pareto front of top-1 vs operations"
    pts, _left, _notes = single_crop_points(results, models)
    pts = pts[pts["macs"].notna()].assign(gmacs=lambda d: d["macs"] / 1e9)
    if pts.empty:
        return Headline(title, "no model has both a MAC count and a single-crop ImageNet top-1",
                        "archbench run --models all --tasks params,macs --out DIR")  # fmt: skip
    front = pareto_frontier(pts, "gmacs", "top1")
    return Headline(title, f"{len(front)} of {len(pts)} models: {_front_text(front, 'gmacs', 'G-MACs')}; "
                    "every other model costs more operations for less top-1")  # fmt: skip


def _since_lecture(results: pd.DataFrame, models: pd.DataFrame | None) -> Headline:
    title = f"Since the lecture's chart (Canziani et al. {LECTURE_CHART_YEAR}, measured on a Jetson TX1)"
    operations = _operations(results)[0]
    parts = [f"operations as an estimate of time here: {operations.verdict} — {operations.measured}"]
    table = model_table(results, models)
    years = pd.to_numeric(table["year"], errors="coerce")
    later = table[years > LECTURE_CHART_YEAR]
    if later.empty and years.notna().any():
        parts.append(f"every network here is from {int(np.nanmin(years))}–{int(np.nanmax(years))}, as on the chart; "
                     "`archbench run --models canziani2018` adds the later ones")  # fmt: skip
    elif not later.empty:
        parts.append(f"{len(later)} networks after the chart: "
                     + ", ".join(f"{r.display_name} ({int(r.year)})" for r in later.itertuples(index=False)))  # fmt: skip
    return Headline(title, "; ".join(parts), operations.run)


def headlines(results: pd.DataFrame, models: pd.DataFrame | None = None) -> list[Headline]:
    """The first-screen findings of a results folder, in page order."""
    return [_fastest(results), _accuracy_front(results, models), _operations_front(results, models),
            _since_lecture(results, models)]  # fmt: skip
