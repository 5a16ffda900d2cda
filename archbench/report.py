"""The report of a results folder: every figure as PNG and SVG, a Markdown summary, one offline HTML page.

:func:`write_report` reads ``results.csv``, ``models.csv`` and any ``layers/<model>.csv`` of a folder
written by ``archbench run`` (through :mod:`archbench.analysis`, never the registry) and writes into
``out_dir``::

    figures/<name>.png, figures/<name>.svg   one pair per figure that the data allow
    summary.md                               the summary table, the findings, the fastest way to run each
                                             model, the figures and notes (GitHub Markdown)
    summary.csv                              the summary table as CSV
    report.html                              self-contained: figures embedded as base64 PNG, tables
                                             sortable by a small inline script, no external resource

The HTML page shows the environment of every measurement: each measurement row carries an
environment id (``E1``, ``E2``, ...) defined in the page's environment table (backend, device,
versions, threads, ...). A figure that cannot be drawn from the data is listed with the reason; one
with nothing to compare (one batch size, one backend, no energy counter) names the command that
measures what it needs. "Findings on this machine" checks Canziani et al.'s findings with the rows
(:func:`archbench.analysis.findings`); "Fastest way to run each model here" lists the fastest ok row
per model among backends, runtimes and torchvision peers (:func:`archbench.analysis.fastest_runs`).
:func:`draw_figures` draws the figures without writing anything (the label test reads them).
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from . import analysis
from .analysis.tables import markdown_table
from .errors import ResultsFileError, UsageError
from .roofline import OVERHEAD_FACTOR

__all__ = ["FIGURES", "draw_figures", "write_report"]


@dataclass
class _Inputs:
    results: pd.DataFrame
    models: pd.DataFrame | None
    layers: dict[str, pd.DataFrame] = field(default_factory=dict)


FIGURES: tuple[tuple[str, str, Callable[[_Inputs], Any]], ...] = (
    ("top1_vs_operations", "Top-1 accuracy vs operations",
     lambda d: analysis.top1_vs_operations(d.results, d.models)),
    ("top1_density", "Top-1 per million parameters", lambda d: analysis.top1_density(d.results, d.models)),
    ("evolution_of_depth", "Evolution of depth (ILSVRC entries)",
     lambda d: analysis.evolution_of_depth(d.results, _need_models(d))),
    ("fc_vs_conv", "Fully connected vs convolutional parameters",
     lambda d: analysis.fc_vs_conv(d.results, d.models, d.layers)),
    ("latency_vs_macs", "Operations vs inference time", lambda d: analysis.latency_vs_macs(d.results)),
    ("time_vs_batch", "Inference time vs batch size", lambda d: analysis.time_vs_batch(d.results)),
    ("memory_vs_batch", "Memory vs batch size", lambda d: analysis.memory_vs_batch(d.results)),
    ("memory_vs_params", "Memory vs parameters", lambda d: analysis.memory_vs_params(d.results, d.models)),
    ("top1_vs_latency", "Top-1 accuracy vs inference time",
     lambda d: analysis.top1_vs_latency(d.results, d.models)),
    ("power_vs_batch", "Power vs batch size", lambda d: analysis.power_vs_batch(d.results)),
    ("top1_vs_energy", "Top-1 accuracy vs energy per image",
     lambda d: analysis.top1_vs_energy(d.results, d.models)),
    ("backend_comparison", "Ways to run each model: backends, runtimes, torchvision peers",
     lambda d: analysis.backend_comparison(d.results)),
    ("roofline", "Roofline: FLOP/s against this machine's measured limits",
     lambda d: analysis.roofline(d.results)),
    ("train_throughput", "Training throughput vs training operations",
     lambda d: analysis.train_throughput(d.results)),
    ("train_vs_inference", "Training vs inference: measured time ratio beside counted MAC ratio",
     lambda d: analysis.train_vs_inference(d.results)),
    ("train_memory_vs_batch", "Training memory vs batch size", lambda d: analysis.train_memory_vs_batch(d.results)),
)  # fmt: skip
"""``(file name, title, draw)`` of the report's figures, in page order (per-layer figures follow)."""


def _need_models(d: _Inputs) -> pd.DataFrame:
    if d.models is None:
        raise ResultsFileError(f"needs {analysis.MODELS_FILE} (written by `archbench run`), which is missing")
    return d.models


@dataclass
class _Figure:
    name: str
    title: str
    caption: str = ""
    png: bytes = b""
    skipped: str = ""


def _save(fig: Any, folder: str, name: str) -> tuple[bytes, str, str]:
    import matplotlib

    png_path = os.path.join(folder, f"{name}.png")
    svg_path = os.path.join(folder, f"{name}.svg")
    with matplotlib.rc_context({"svg.hashsalt": "archbench", "svg.fonttype": "path"}):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=fig.dpi, metadata={"Software": None})
        png = buf.getvalue()
        with open(png_path, "wb") as f:
            f.write(png)
        fig.set_layout_engine("none")  # keep the layout just computed for the PNG
        fig.savefig(svg_path, format="svg", metadata={"Date": None, "Creator": None})
    return png, png_path, svg_path


def _safe_name(model: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model)


def _load(results_dir: str) -> tuple[_Inputs, list[str]]:
    results = analysis.load_results(results_dir)
    notes: list[str] = []
    models = None
    if os.path.exists(os.path.join(results_dir, analysis.MODELS_FILE)):
        models = analysis.load_models(results_dir)
    else:
        notes.append(
            f"{analysis.MODELS_FILE} is missing: families, reference figures and ILSVRC entries unknown"
        )
    layers = {m: analysis.load_layers(p) for m, p in analysis.find_layer_tables(results_dir).items()}
    return _Inputs(results, models, layers), notes


def draw_figures(results_dir: str | os.PathLike) -> Iterator[tuple[str, str, Any, str]]:
    """Draw the report's figures of a results folder one at a time: ``(name, title, figure, skipped)``,
    with ``figure`` None and ``skipped`` the reason where the data do not allow it."""
    inputs, _notes = _load(os.fspath(results_dir))
    yield from _draw(inputs)


def _draw(inputs: _Inputs) -> Iterator[tuple[str, str, Any, str]]:
    plan = list(FIGURES)
    for model, table in inputs.layers.items():
        plan.append((f"per_layer_{_safe_name(model)}", f"Per layer: {model}",
                     lambda d, t=table, m=model: analysis.per_layer(t, m)))  # fmt: skip
    for name, title, draw in plan:
        try:
            fig = draw(inputs)
        except ResultsFileError as exc:
            yield name, title, None, str(exc)
        else:
            yield name, title, fig, ""


def write_report(results_dir: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, str]:
    """Write the figures, ``summary.md``, ``summary.csv`` and ``report.html`` of a results folder.

    Returns ``{what: path}``: ``"html"``, ``"markdown"``, ``"summary_csv"`` and ``"<figure>.png"`` /
    ``"<figure>.svg"`` for every figure drawn. Raises :class:`ResultsFileError` when ``results.csv`` is
    missing or malformed; a missing ``models.csv`` only costs the figures that need it.
    """
    results_dir, out_dir = os.fspath(results_dir), os.fspath(out_dir)
    inputs, notes = _load(results_dir)
    fig_dir = os.path.join(out_dir, "figures")
    try:
        os.makedirs(fig_dir, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create report folder {fig_dir}: {exc.strerror}") from exc

    paths: dict[str, str] = {}
    figures: list[_Figure] = []
    for name, title, fig, skipped in _draw(inputs):
        entry = _Figure(name, title, skipped=skipped)
        if fig is not None:
            entry.caption = analysis.caption_of(fig)
            entry.png, paths[f"{name}.png"], paths[f"{name}.svg"] = _save(fig, fig_dir, name)
        figures.append(entry)

    page = _Page.of(inputs)
    page.references = _reference_comparison(results_dir, inputs.results)
    paths["summary_csv"] = os.path.join(out_dir, "summary.csv")
    page.summary.to_csv(paths["summary_csv"], index=False)
    paths["markdown"] = os.path.join(out_dir, "summary.md")
    with open(paths["markdown"], "w", encoding="utf-8") as f:
        f.write(_markdown(results_dir, inputs.results, inputs.models, page, figures, notes))
    paths["html"] = os.path.join(out_dir, "report.html")
    with open(paths["html"], "w", encoding="utf-8") as f:
        f.write(_html(results_dir, inputs.results, inputs.models, page, figures, notes))
    return paths


@dataclass
class _Page:
    """The tables both pages show: summary, findings, fastest way to run each model."""

    summary: pd.DataFrame
    findings: list[analysis.Finding]
    fastest: pd.DataFrame
    references: pd.DataFrame = field(default_factory=pd.DataFrame)
    limits: list[str] = field(default_factory=list)
    limits_missing: str = ""

    @classmethod
    def of(cls, d: _Inputs) -> _Page:
        page = cls(analysis.summary_table(d.results, d.models), analysis.findings(d.results, d.models),
                   analysis.fastest_runs(d.results))  # fmt: skip
        try:
            page.limits = analysis.roofline_findings(d.results)
        except ResultsFileError as exc:
            page.limits_missing = str(exc)
        return page

    def compared(self) -> bool:
        """Whether any model ran more than one way (so the fastest-way table compares something)."""
        return not self.fastest.empty and bool((self.fastest["ways measured"] > 1).any())


REFERENCE_INTRO = (
    "This folder's median latency beside the committed measurements of the reference machines "
    "(results/reference/<machine>/, next to the default output folder), for the settings measured in both; "
    "ratio = here / reference (below 1: faster here). Different machines: a ratio compares hardware and "
    "load, not code."
)


def _reference_comparison(results_dir: str, results: pd.DataFrame) -> pd.DataFrame:
    """Latency against every ``reference/<machine>/results.csv`` beside ``results_dir`` (for a folder
    that is itself in ``reference/``, the other machines there)."""
    parent = os.path.dirname(os.path.abspath(results_dir))
    root = parent if os.path.basename(parent) == "reference" else os.path.join(parent, "reference")
    refs = {}
    for label in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        folder = os.path.join(root, label)
        if os.path.isfile(os.path.join(folder, "results.csv")) and not os.path.samefile(folder, results_dir):
            try:
                refs[label] = analysis.load_results(folder)
            except ResultsFileError:
                continue
    return analysis.reference_comparison(results, refs) if refs else pd.DataFrame()


FASTEST_INTRO = (
    "Per model, device and batch size, the fastest way it ran here (ok rows only: a row that failed or whose "
    "outputs differ from the Keras model beyond the tolerance is not a candidate), with its precision, its "
    "largest difference to the Keras model's outputs, archbench's default (Keras runtime) and the best "
    "torchvision peer."
)


def _fastest_missing() -> str:
    from .analysis.latency import RUN_RUNTIMES

    return f"Every model ran one way only: `{RUN_RUNTIMES}` compares runtimes and torchvision peers."


# --------------------------------------------------------------------------------------------------
# Markdown.


def _markdown(
    results_dir: str,
    results: pd.DataFrame,
    models: pd.DataFrame | None,
    page: _Page,
    figures: list[_Figure],
    notes: list[str],
) -> str:
    lines = ["# archbench results", "", _overview(results_dir, results), ""]
    lines += [f"> {n}" for n in notes]
    lines += ["## Summary", "", analysis.summary_markdown(results, models), ""]
    lines += [
        "## Findings on this machine",
        "",
        FINDINGS_INTRO,
        "",
        analysis.findings_markdown(page.findings),
        "",
    ]
    lines += ["## How close to the machine's limit", "", LIMITS_INTRO, ""]
    lines += [f"- {x}" for x in page.limits] if page.limits else [f"Not known: {page.limits_missing}"]
    lines += ["", "## Fastest way to run each model here", ""]
    if page.compared():
        lines += [FASTEST_INTRO, "", markdown_table(page.fastest.map(_cell)), ""]
    else:
        lines += [_fastest_missing(), ""]
    if not page.references.empty:
        lines += ["## Beside the reference machines", "", REFERENCE_INTRO, "",
                  markdown_table(page.references.map(_cell)), ""]  # fmt: skip
    lines += ["## Figures", ""]
    for fig in figures:
        if fig.skipped:
            lines.append(f"- **{fig.title}**: not drawn: {fig.skipped}")
        else:
            lines += [f"### {fig.title}", "", f"![{fig.title}](figures/{fig.name}.png)", "",
                      f"{fig.caption} ([SVG](figures/{fig.name}.svg))", ""]  # fmt: skip
    lines += ["", "## Environments", ""]
    envs = analysis.environments(results)
    show = [c for c in ("env_id", "env_backend", "env_device", "env_keras_version", "env_tensorflow_version",
                        "env_jax_version", "env_torch_version", "rows", "tasks") if c in envs.columns]  # fmt: skip
    shown = envs[show].map(_cell).rename(columns=lambda c: c.removeprefix("env_"))
    lines.append(markdown_table(shown))
    fails = analysis.failures(results)
    lines += [
        "",
        f"Failed measurements: {len(fails)}" + (" (listed in report.html)" if len(fails) else ""),
        "",
    ]
    return "\n".join(lines)


LIMITS_INTRO = (
    "Each model's effective FLOP/s (2 × MACs × batch / median time) against the measured peaks of the device it "
    "ran on (`archbench doctor --peaks`): its bound (compute, memory, or overhead when the time is over "
    f"{OVERHEAD_FACTOR:g} × what the roof allows), its fraction of the peak FLOP/s and of the roof at its "
    "arithmetic intensity."
)

FINDINGS_INTRO = (
    "Canziani, Paszke & Culurciello (arXiv 1605.07678, 2016) measured these on one Jetson TX1; here each is "
    "checked with this folder's rows, with the numbers, a verdict and the rule that gave it."
)


def _overview(results_dir: str, results: pd.DataFrame) -> str:
    ok = int((results["status"] == "ok").sum())
    runs = results["run_id"].nunique() if "run_id" in results.columns else 0
    latest = (
        str(results["timestamp"].dropna().max())
        if "timestamp" in results.columns and results["timestamp"].notna().any()
        else "?"
    )
    return (
        f"From `{os.path.basename(os.path.abspath(results_dir))}/results.csv`: {len(results)} measurements "
        f"({ok} ok, {len(results) - ok} failed) of {results['model'].nunique()} models in {runs} run(s), "
        f"latest {latest}."
    )


# --------------------------------------------------------------------------------------------------
# HTML.

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:0 1.2em 3em;color:#222}
h1{margin-top:1em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
nav a{margin-right:1em}figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#444;max-width:1000px}.note{color:#8a5a00}.missing{color:#a00}
table{border-collapse:collapse;font-size:.82em;margin:.5em 0 1em}th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}table.sortable th{cursor:pointer;user-select:none}table.sortable th:after{content:" \\2195";color:#aaa}
td.num{text-align:right;font-variant-numeric:tabular-nums}.scroll{overflow-x:auto}tr:nth-child(even) td{background:#fafafa}
"""

_SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function(table){
  table.querySelectorAll("th").forEach(function(th, col){
    th.addEventListener("click", function(){
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute("data-dir") !== "asc";
      table.querySelectorAll("th").forEach(function(h){ h.removeAttribute("data-dir"); });
      th.setAttribute("data-dir", asc ? "asc" : "desc");
      function key(row){
        var t = row.cells[col] ? row.cells[col].textContent.trim() : "";
        var n = parseFloat(t.replace(/,/g, "").replace(/%$/, ""));
        return (t !== "" && !isNaN(n) && /^[-+0-9.,eE%\\s]+(\\(ref\\))?$/.test(t)) ? [0, n] : [1, t.toLowerCase()];
      }
      rows.sort(function(a, b){
        var x = key(a), y = key(b);
        if (x[0] !== y[0]) return x[0] - y[0];
        var c = x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0;
        return asc ? c : -c;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
"""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if pd.isna(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}" if abs(value) >= 10000 else str(int(value))
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _is_num(text: str) -> bool:
    try:
        float(text.replace(",", "").removesuffix(" (ref)"))
    except ValueError:
        return False
    return True


def _table(df: pd.DataFrame, *, sortable: bool = True, table_id: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            text = _cell(v)
            cls = ' class="num"' if text and _is_num(text) else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    attrs = (' class="sortable"' if sortable else "") + (f' id="{table_id}"' if table_id else "")
    return (f'<div class="scroll"><table{attrs}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")  # fmt: skip


def _html(
    results_dir: str,
    results: pd.DataFrame,
    models: pd.DataFrame | None,
    page: _Page,
    figures: list[_Figure],
    notes: list[str],
) -> str:
    esc = html.escape
    summary = page.summary
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>archbench report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>archbench report</h1>",
        f"<p>{esc(_overview(results_dir, results).replace('`', ''))}</p>",
        '<nav><a href="#summary">Summary</a><a href="#findings">Findings</a><a href="#limits">Limits</a><a href="#fastest">Fastest way</a>'
        '<a href="#figures">Figures</a><a href="#measurements">Measurements</a>'
        '<a href="#failures">Failures</a><a href="#environments">Environments</a><a href="#models">Models</a></nav>',
    ]
    parts += [f'<p class="note">{esc(n)}</p>' for n in notes]
    parts += ['<h2 id="summary">Summary</h2>', _table(summary, table_id="summary-table")]
    parts.append(
        "<p>params: paper convention (batch-norm moving statistics excluded), counted by archbench; '(ref)': "
        "only the published figure is known. G-MACs: multiply-adds per image / 1e9. depth: weight layers on "
        "the longest path. latency: median per batch in the setting named, with the 95 % confidence interval "
        "of the median where recorded; noisy: measured on a busy machine or with an interval wider than ±5 % "
        "('remeasured': the row replaced a noisy first measurement). top-1: 'measured' by archbench on "
        "ImageNet data, or the published 'reference' figure, with its protocol and whose weights. Click a "
        "column header to sort.</p>"
    )
    parts += [f'<p class="note">{esc(n)}</p>' for n in summary.attrs.get("notes", [])]
    parts += ['<h2 id="findings">Findings on this machine</h2>', f"<p>{esc(FINDINGS_INTRO)}</p>", "<ul>"]
    for f in page.findings:
        run = f" To decide: <code>{esc(f.run)}</code>." if f.run else ""
        parts.append(f"<li><b>{esc(f.claim)}</b> — <i>{esc(f.verdict)}</i>: {esc(f.measured)}.{run} "
                     f'<span class="note">Rule: {esc(f.rule)}.</span></li>')  # fmt: skip
    parts.append("</ul>")
    parts += ['<h2 id="limits">How close to the machine\'s limit</h2>', f"<p>{_code(LIMITS_INTRO)}</p>"]
    if page.limits:
        parts += ["<ul>", *(f"<li>{esc(x)}</li>" for x in page.limits), "</ul>"]
    else:
        parts.append(f"<p>Not known: {_code(page.limits_missing)}</p>")
    parts.append('<h2 id="fastest">Fastest way to run each model here</h2>')
    if page.compared():
        parts += [f"<p>{esc(FASTEST_INTRO)}</p>", _table(page.fastest)]
    else:
        parts.append(f"<p>{_code(_fastest_missing())}</p>")
    if not page.references.empty:
        parts += ['<h2 id="references">Beside the reference machines</h2>', f"<p>{esc(REFERENCE_INTRO)}</p>",
                  _table(page.references)]  # fmt: skip
    parts.append('<h2 id="figures">Figures</h2>')
    for fig in figures:
        if fig.skipped:
            parts.append(f'<p class="missing" id="fig-{esc(fig.name)}"><b>{esc(fig.title)}</b>: not drawn: '
                         f"{_code(fig.skipped)}</p>")  # fmt: skip
            continue
        data = base64.b64encode(fig.png).decode("ascii")
        parts.append(
            f'<figure id="fig-{esc(fig.name)}"><h3>{esc(fig.title)}</h3>'
            f'<img src="data:image/png;base64,{data}" alt="{esc(fig.title)}">'
            f"<figcaption>{esc(fig.caption)} (files: figures/{esc(fig.name)}.png, .svg)</figcaption></figure>"
        )
    parts.append('<h2 id="measurements">Measurements</h2>')
    parts.append("<p>Every row of results.csv, one table per task; <i>env</i> names the environment "
                 'the row was measured in (see <a href="#environments">Environments</a>).</p>')  # fmt: skip
    for task in dict.fromkeys(results["task"]):
        table = analysis.measurements(results, task).drop(columns=["task"], errors="ignore")
        parts += [f"<h3>{esc(task)}</h3>", _table(table.rename(columns={"env_id": "env"}))]
    fails = analysis.failures(results)
    parts.append('<h2 id="failures">Failures</h2>')
    parts.append(_table(fails) if len(fails) else "<p>None: every measurement succeeded.</p>")
    envs = analysis.environments(results)
    parts.append('<h2 id="environments">Environments</h2>')
    if envs.empty or len(envs.columns) <= 5:
        parts.append("<p>results.csv has no env_* columns: the environment was not recorded.</p>")
    else:
        transposed = envs.set_index("env_id").T.reset_index().rename(columns={"index": "setting"})
        transposed["setting"] = transposed["setting"].str.removeprefix("env_")
        parts.append(_table(transposed, sortable=False))
    parts.append('<h2 id="models">Models and reference figures</h2>')
    if models is not None:
        parts.append(
            "<p>From models.csv (the registry's metadata; every reference figure with its source).</p>"
        )
        parts.append(_table(models))
    else:
        parts.append("<p>models.csv is missing.</p>")
    parts += [f"<script>{_SORT_JS}</script>", "</body></html>", ""]
    return "\n".join(parts)


def _code(text: str) -> str:
    """Escape ``text`` for HTML, showing its `backquoted` commands as code."""
    pieces = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))
