"""The report's summary table: one row per model with its counts, latency and top-1 (:func:`summary_table`),
a narrow version of it for a screen (:func:`compact_summary`) and the columns that hold one value for
every row, which a page states once above the table instead (:func:`constant_columns`)."""

from __future__ import annotations

import pandas as pd

from .tables import _missing, markdown_table, model_table

SHORT_WORDS = (("single centre crop", "1 crop"), ("single center crop", "1 crop"), (" at ", " "), ("reference", "ref"),
               ("measured", "meas."), ("keras.applications", "keras"))  # fmt: skip
"""Abbreviations of the narrow summary (the full table, one click away, spells them out)."""


def constant_columns(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """``table`` without the columns that hold one value on every row (of two rows or more), and those
    values as text (``""`` for a column empty everywhere)."""
    if len(table) < 2:
        return table, {}
    same = {c: "" if _missing(table[c].iloc[0]) else str(table[c].iloc[0])
            for c in table.columns if table[c].astype(str).nunique(dropna=False) == 1}  # fmt: skip
    return table.drop(columns=list(same)), same


def constant_caption(same: dict[str, str]) -> str:
    """``Every row: latency setting = ...; noisy: none`` for the columns :func:`constant_columns` took out."""
    if not same:
        return ""
    return "Every row: " + "; ".join(f"{c}: {v or 'none'}" for c, v in same.items())


def _short(text: str) -> str:
    for long, short in SHORT_WORDS:
        text = text.replace(long, short)
    return text


def compact_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The summary narrowed for a 1400-pixel screen: the display name folded away (the full table has
    it), parameters in millions, the interval beside the latency, top-1's kind, weights and protocol in
    one abbreviated column."""
    params = table["params"].str.replace(",", "", regex=False)
    ref = params.str.endswith(" (ref)")
    millions = pd.to_numeric(params.str.removesuffix(" (ref)"), errors="coerce") / 1e6
    out = pd.DataFrame({
        "model": table["model"], "family": table["family"], "year": table["year"],
        "params (M)": [("" if pd.isna(m) else f"{m:.3g}") + (" ref" if r else "") for m, r in zip(millions, ref, strict=True)],
        "G-MACs": table["G-MACs"], "depth": table["depth"],
        "latency (ms)": table["latency (ms)"], "95 % CI": table["95 % CI (ms)"], "noisy": table["noisy"],
        "latency setting": table["latency setting"],
        "top-1 (%)": table["ImageNet top-1 (%)"],
        "top-1 from": [", ".join(_short(str(v)) for v in vs if v) for vs in
                       zip(table["top-1 is"], table["top-1 weights"], table["top-1 protocol"], strict=True)],
    })  # fmt: skip
    out.attrs = dict(table.attrs)
    return out


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
            "95 % CI (ms)": t["latency_ci"],
            "noisy": t["latency_flag"],
            "latency setting": t["latency_setting"],
            "ImageNet top-1 (%)": t["top1"].map(lambda v: "" if _missing(v) else f"{v:.1f}"),
            "top-1 is": t["top1_kind"],
            "top-1 protocol": t["top1_protocol"],
            "top-1 weights": t["top1_weights"],
        }
    )
    out.attrs["notes"] = t.attrs.get("notes", [])
    return out


def summary_markdown(results: pd.DataFrame, models: pd.DataFrame | None = None) -> str:
    """The summary table as GitHub Markdown, followed by its constant columns (one line) and a line on
    what each column means."""
    table, same = constant_columns(summary_table(results, models))
    right = {"year", "params", "G-MACs", "depth", "latency (ms)", "ImageNet top-1 (%)"}
    lines = [markdown_table(table, right), ""]
    lines += [f"{constant_caption(same)}.", ""] if same else []
    lines += [
        "params: paper convention (batch-norm moving statistics excluded), counted by archbench, '(ref)' where "
        "only the reference figure is known; G-MACs: multiply-adds per image / 1e9 at the input shape measured; "
        "depth: weight layers on the longest path; latency: median per batch in the setting named, with the "
        "95 % confidence interval of the median where recorded; noisy: measured on a busy machine or with an "
        "interval wider than ±5 % ('remeasured': the row replaced a noisy first measurement); top-1: "
        "'measured' by archbench on ImageNet data, or the published 'reference' figure, with its evaluation "
        "protocol and whose weights it was measured with.",
    ]
    lines += [f"- {n}" for n in table.attrs.get("notes", [])]
    return "\n".join(lines)
