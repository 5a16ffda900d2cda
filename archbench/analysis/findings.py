"""Canziani, Paszke & Culurciello's findings (arXiv 1605.07678, 2016), checked with this machine's rows.

Each :class:`Finding` states the paper's claim, this machine's numbers, a verdict and the rule that gave
it; where the rows cannot decide (one batch size, no energy counter, no latency), it says what to run.
The verdict rules:

- operations predict inference time: a power law of time on MACs (models under the fixed-overhead rule of
  :mod:`~archbench.analysis.fits` left out) with r >= :data:`R_HOLDS`;
- memory = a + b × parameters: the line's r >= :data:`R_HOLDS`;
- power is independent of batch size and architecture: the spread (max - min) / median of average power
  is at most :data:`POWER_SPREAD` across each model's batch sizes and across models at a batch size;
- accuracy and inference time are in a hyperbolic relationship: on the Pareto frontier of top-1 against
  time, top-1 = a - b / time with b > 0 and |r| >= :data:`R_HOLDS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import ResultsFileError
from . import fits
from .latency import MIN_FIT_MODELS, RUN_FULL, operations_series
from .load import NotDrawn
from .measured import RUN_ENERGY, accuracy_time_points, energy_reason, energy_rows, memory_points
from .tables import model_table

R_HOLDS = 0.9
POWER_SPREAD = 0.20
RUN_LATENCY = "archbench run --models all --tasks params,macs,latency --out DIR"

HOLDS, FAILS, UNDECIDED = "holds", "does not hold", "cannot decide"


@dataclass(frozen=True)
class Finding:
    """One of the paper's findings with this machine's numbers: ``verdict`` is ``holds``, ``does not
    hold`` or ``cannot decide``; ``run`` is the command that gives the missing data."""

    claim: str
    measured: str
    verdict: str
    rule: str
    run: str = ""


def _operations(results: pd.DataFrame) -> list[Finding]:
    claim = "The number of operations is a reliable estimate of the inference time"
    rule = f"power law of time on MACs, r ≥ {R_HOLDS}; left out of the fit: {fits.OVERHEAD_RULE}"
    try:
        series = operations_series(results) if "macs" in results.columns else []
    except ResultsFileError:
        series = []
    out = []
    for setting, bs, d in series:
        keep, excluded = d[~d["excluded"]], sorted(d[d["excluded"]]["model"])
        if len(keep) < MIN_FIT_MODELS:
            continue
        fit = fits.power_law(keep["gmacs"], keep["median_ms"])
        shape = ("linear: exponent 1 inside the interval" if fit.low <= 1 <= fit.high
                 else "sub-linear: time grows slower than operations" if fit.high < 1
                 else "super-linear: time grows faster than operations")  # fmt: skip
        measured = (
            f"log-log fit {fit.text()} over {fit.n} models ({setting}, batch {bs}"
            + (f"; excluded: {', '.join(excluded)} — fixed overhead" if excluded else "")
            + f"); {shape}"
        )
        out.append(Finding(claim, measured, HOLDS if fit.r >= R_HOLDS else FAILS, rule))
    if not out:
        out.append(Finding(claim, f"no setting has {MIN_FIT_MODELS} models with both a latency row and MACs", UNDECIDED, rule,
                           RUN_LATENCY))  # fmt: skip
    return out


def _memory(results: pd.DataFrame, models: pd.DataFrame | None) -> Finding:
    claim = "Memory is a fixed overhead plus a term proportional to the parameters"
    rule = f"least squares memory = a + b × parameters, r ≥ {R_HOLDS}"
    try:
        pts, fit, setting = memory_points(results, models)
    except NotDrawn:
        return Finding(claim, "no measured memory (mem_peak_mb) in these rows", UNDECIDED, rule, RUN_FULL)
    if fit is None:
        return Finding(claim, f"measured memory for {len(pts)} model(s) only", UNDECIDED, rule, RUN_FULL)
    measured = (
        f"memory = a + b × parameters: a = {fit.intercept:.0f} MB [{fit.intercept_low:.0f}, {fit.intercept_high:.0f}], "
        f"b = {fit.slope:.2f} [{fit.slope_low:.2f}, {fit.slope_high:.2f}] bytes per parameter, r = {fit.r:.2f} "
        f"over {fit.n} models ({setting}, batch {int(pts['batch_size'].min())}; peak above the process baseline)"
    )
    return Finding(claim, measured, HOLDS if fit.r >= R_HOLDS else FAILS, rule)


def _spread(values: pd.Series) -> float:
    return float((values.max() - values.min()) / values.median())


def _power(results: pd.DataFrame) -> Finding:
    claim = "Power is independent of batch size and architecture"
    rule = f"spread (max − min) / median of average power ≤ {POWER_SPREAD:.0%} across batch sizes and across models"
    rows = energy_rows(results, "power_w")
    if rows.empty:
        return Finding(claim, energy_reason(results), UNDECIDED, rule, RUN_ENERGY)
    parts, spreads = [], []
    per_model = [(m, _spread(g["power_w"])) for (_s, m), g in rows.groupby(["setting", "model"])
                 if g["batch_size"].nunique() >= 2]  # fmt: skip
    if per_model:
        m, worst = max(per_model, key=lambda p: p[1])
        parts.append(f"across batch sizes at most {worst:.0%} ({m})")
        spreads.append(worst)
    per_batch = [(s, b, _spread(g["power_w"]), g["model"].nunique())
                 for (s, b), g in rows.groupby(["setting", "batch_size"]) if g["model"].nunique() >= 2]  # fmt: skip
    if per_batch:
        s, b, worst, n = max(per_batch, key=lambda p: p[2])
        parts.append(f"across models at most {worst:.0%} ({n} models, batch {b}, {s})")
        spreads.append(worst)
    span = f"power {rows['power_w'].min():.1f}–{rows['power_w'].max():.1f} W over {rows['model'].nunique()} models"
    if not spreads:
        return Finding(
            claim, span + "; one model at one batch size: nothing to compare", UNDECIDED, rule, RUN_ENERGY
        )
    missing = [] if per_model else ["one batch size per model: batch dependence not checked"]
    missing += [] if per_batch else ["one model per batch size: architecture dependence not checked"]
    verdict = HOLDS if max(spreads) <= POWER_SPREAD else FAILS
    return Finding(claim, "; ".join([span, *parts, *missing]), verdict, rule, RUN_FULL if missing else "")


def _hyperbolic(results: pd.DataFrame, models: pd.DataFrame | None) -> Finding:
    claim = "Accuracy and inference time are in a hyperbolic relationship"
    rule = f"on the Pareto frontier of top-1 vs time: top-1 = a − b / time with b > 0 and |r| ≥ {R_HOLDS}"
    try:
        pts, front, fit, setting, _left = accuracy_time_points(results, models)
    except ResultsFileError:
        return Finding(claim, "no latency rows", UNDECIDED, rule, RUN_LATENCY)
    if fit is None:
        return Finding(claim, f"{len(front)} model(s) on the frontier of {len(pts)} with a single-crop top-1",
                       UNDECIDED, rule, RUN_LATENCY)  # fmt: skip
    last, before = front.iloc[-1], front.iloc[-2]
    measured = (
        f"top-1 = {fit.a:.1f} − {fit.b:.3g} / ms on the {fit.n}-model frontier, r = {fit.r:.2f} ({setting}, "
        f"batch {int(pts['batch_size'].min())}); the last {last['top1'] - before['top1']:.1f} points of top-1 "
        f"({before['model']} → {last['model']}) cost {last['median_ms'] / before['median_ms']:.1f}× the time; "
        + _top1_kinds(pts, results, models)
    )
    verdict = HOLDS if fit.b > 0 and abs(fit.r) >= R_HOLDS else FAILS
    return Finding(claim, measured, verdict, rule)


def _top1_kinds(pts: pd.DataFrame, results: pd.DataFrame, models: pd.DataFrame | None) -> str:
    kinds = model_table(results, models).set_index("model")["top1_kind"].reindex(pts["model"])
    measured = int((kinds == "measured").sum())
    return f"top-1: {len(pts) - measured} published single-crop figures, {measured} measured here"


def findings(results: pd.DataFrame, models: pd.DataFrame | None = None) -> list[Finding]:
    """Canziani et al.'s findings, each with this machine's numbers and a verdict."""
    return [*_operations(results), _memory(results, models), _power(results), _hyperbolic(results, models)]


def findings_table(items: list[Finding]) -> pd.DataFrame:
    """The findings as a table: finding, on this machine, verdict, rule, what to run."""
    return pd.DataFrame(
        [
            {
                "finding (Canziani et al. 2016)": f.claim,
                "on this machine": f.measured,
                "verdict": f.verdict,
                "rule": f.rule,
                "to decide, run": f"`{f.run}`" if f.run else "",
            }
            for f in items
        ]  # fmt: skip
    )


def findings_markdown(items: list[Finding]) -> str:
    """The findings as Markdown, one line each: claim, verdict, numbers, rule, what to run."""
    lines = []
    for f in items:
        line = f"- **{f.claim}** — {f.verdict}: {f.measured}. Rule: {f.rule}."
        if f.run:
            line += f" To decide: `{f.run}`."
        lines.append(line)
    return "\n".join(lines)
