"""The report of a results folder: every figure as PNG and SVG, a Markdown summary, one offline HTML page;
and the comparison of several folders (machines side by side).

:func:`write_report` reads ``results.csv``, ``models.csv`` and any ``layers/<model>.csv`` of a folder
written by ``archbench run`` (through :mod:`archbench.analysis`, never the registry) and writes into
``out_dir``::

    figures/<name>.png, figures/<name>.svg   one pair per figure that the data allow (for papers, slides)
    summary.md                               the first findings, the summary table, Canziani's findings,
                                             the fastest way to run each model, the figures (GitHub Markdown)
    summary.csv                              the summary table as CSV
    report.html                              self-contained: the answer first (top-1 vs operations and the
                                             roofline side by side, then the findings with their numbers),
                                             then the tables (sortable, filterable, constant columns in a
                                             caption), figures inlined as SVG whose points show their
                                             model, value and source on hover; no external resource

Each measurement row of the page carries an environment id (``E1``, ``E2``, ...) defined in its
environment table. A figure that cannot be drawn from the data is listed with the reason; one with
nothing to compare names the command that measures what it needs. A folder beside committed reference
machines (``reference/<machine>/``) is compared with them (:func:`archbench.analysis.compare_results`).
:func:`write_compare` writes ``compare.csv``, ``compare.md`` and ``compare.html`` for several folders.
:func:`draw_figures` draws the figures without writing anything (the label test reads them).
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from . import analysis, report_html
from .analysis.after_resnet import after_resnet_findings, update_time_vs_batch
from .analysis.compare import compare_markdown
from .analysis.headlines import Headline, headlines
from .analysis.hover import inline_svg
from .analysis.tables import markdown_table
from .errors import ResultsFileError, UsageError
from .report_compare import REFERENCE_INTRO, Beside, reference_comparison, write_compare
from .roofline import OVERHEAD_FACTOR

__all__ = ["FIGURES", "FIRST_SCREEN", "draw_figures", "write_compare", "write_report"]


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
    ("update_time_vs_batch", "After ResNet: inference time vs batch size",
     lambda d: update_time_vs_batch(d.results, d.models)),
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

FIRST_SCREEN = ("top1_vs_operations", "roofline")
"""The figures the HTML page opens with, side by side: the answer before the tables."""


def _need_models(d: _Inputs) -> pd.DataFrame:
    if d.models is None:
        raise ResultsFileError(f"needs {analysis.MODELS_FILE} (written by `archbench run`), which is missing")
    return d.models


@dataclass
class _Figure:
    name: str
    title: str
    caption: str = ""
    svg: str = ""
    skipped: str = ""


def _save(fig: Any, folder: str, name: str) -> tuple[str, str]:
    """Write ``<name>.png`` and ``<name>.svg`` (without hover text: files for papers and slides)."""
    import matplotlib

    png_path = os.path.join(folder, f"{name}.png")
    svg_path = os.path.join(folder, f"{name}.svg")
    with matplotlib.rc_context({"svg.hashsalt": "archbench", "svg.fonttype": "path"}):
        fig.savefig(png_path, format="png", dpi=fig.dpi, metadata={"Software": None})
        fig.set_layout_engine("none")  # keep the layout just computed for the PNG
        fig.savefig(svg_path, format="svg", metadata={"Date": None, "Creator": None})
    return png_path, svg_path


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
            paths[f"{name}.png"], paths[f"{name}.svg"] = _save(fig, fig_dir, name)
            entry.svg = inline_svg(fig, f"{name}-")
        figures.append(entry)

    page = _Page.of(inputs)
    page.references = reference_comparison(results_dir, inputs.results)
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
    """What both pages show: the first findings, summary, Canziani's findings, fastest way to run each
    model, the reference machines beside this one."""

    summary: pd.DataFrame
    findings: list[analysis.Finding]
    fastest: pd.DataFrame
    headlines: list[Headline] = field(default_factory=list)
    references: Beside | None = None
    limits: list[str] = field(default_factory=list)
    limits_missing: str = ""

    @classmethod
    def of(cls, d: _Inputs) -> _Page:
        found = analysis.findings(d.results, d.models) + after_resnet_findings(d.results, d.models)
        page = cls(analysis.summary_table(d.results, d.models), found,
                   analysis.fastest_runs(d.results), headlines(d.results, d.models))  # fmt: skip
        try:
            page.limits = analysis.roofline_findings(d.results)
        except ResultsFileError as exc:
            page.limits_missing = str(exc)
        return page

    def compared(self) -> bool:
        """Whether any model ran more than one way (so the fastest-way table compares something)."""
        return not self.fastest.empty and bool((self.fastest["ways measured"] > 1).any())


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
    lines += ["## What these measurements say", ""]
    lines += [
        f"- **{h.title}**: {h.text}." + (f" To decide: `{h.run}`." if h.run else "") for h in page.headlines
    ]
    lines += ["", "## Summary", "", analysis.summary_markdown(results, models), ""]
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
        lines += [FASTEST_INTRO, "", markdown_table(page.fastest.map(report_html.cell_text)), ""]
    else:
        lines += [_fastest_missing(), ""]
    if page.references is not None:
        text = compare_markdown(page.references.comparison, page.references.cells)
        lines += ["## Beside the reference machines", "", REFERENCE_INTRO, "",
                  text.split("\n", 2)[2].replace("\n## ", "\n### "), ""]  # fmt: skip
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
    shown = envs[show].map(report_html.cell_text).rename(columns=lambda c: c.removeprefix("env_"))
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
    "checked with this folder's rows, with the numbers, a verdict and the rule that gave it; where the folder "
    "has networks after ResNet (set canziani2018), the 2018 updates' questions follow (Culurciello 2018; Bianco "
    "et al., IEEE Access 6, 2018)."
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

SUMMARY_NOTE = (
    "params: paper convention (batch-norm moving statistics excluded), counted by archbench, in millions; 'ref': "
    "only the published figure is known. G-MACs: multiply-adds per image / 1e9. depth: weight layers on the "
    "longest path. latency: median per batch, with the 95 % confidence interval of the median where recorded; "
    "noisy: measured on a busy machine or with an interval wider than ±5 % ('remeasured': the row replaced a "
    "noisy first measurement). top-1 from: 'meas.' by archbench on ImageNet data or the published 'ref' figure, "
    "whose weights, and its protocol ('1 crop': single centre crop). Click a header to sort."
)


def _first_screen(figures: list[_Figure]) -> list[str]:
    """The top-1 vs operations chart and the roofline side by side, or why one is missing."""
    cells = []
    for name in FIRST_SCREEN:
        fig = next((f for f in figures if f.name == name), None)
        if fig is None:
            continue
        if fig.skipped:
            what = "No roofline for this folder" if name == "roofline" else f"{fig.title}: not drawn"
            cells.append(f'<div class="noroof" id="fig-{name}"><b>{html.escape(what)}</b>: '
                         f"{report_html.code(fig.skipped)}</div>")  # fmt: skip
        else:
            cells.append(report_html.figure(fig.name, fig.title, fig.svg))
    return ['<section class="first">', *cells, "</section>"]


def _html(
    results_dir: str,
    results: pd.DataFrame,
    models: pd.DataFrame | None,
    page: _Page,
    figures: list[_Figure],
    notes: list[str],
) -> str:
    esc, code, table = html.escape, report_html.code, report_html.table
    parts = ["<h1>archbench report</h1>", f'<p class="lead">{esc(_overview(results_dir, results).replace("`", ""))} '
             "Hover a point of a chart for its model, value and source.</p>"]  # fmt: skip
    parts += _first_screen(figures)
    parts += ['<h2 id="answer">What these measurements say</h2>', "<ul>"]
    for h in page.headlines:
        run = f" To decide: <code>{esc(h.run)}</code>." if h.run else ""
        parts.append(f"<li><b>{esc(h.title)}</b>: {code(h.text)}.{run}</li>")
    parts.append("</ul>")
    parts.append('<nav><a href="#summary">Summary</a><a href="#findings">Canziani\'s findings</a><a href="#limits">Limits</a>'
                 '<a href="#fastest">Fastest way</a><a href="#references">Other machines</a><a href="#figures">Figures</a>'
                 '<a href="#measurements">Measurements</a><a href="#failures">Failures</a>'
                 '<a href="#environments">Environments</a><a href="#models">Models</a></nav>')  # fmt: skip
    parts += [f'<p class="note">{esc(n)}</p>' for n in notes]
    summary = page.summary
    parts += ['<h2 id="summary">Summary</h2>', table(analysis.compact_summary(summary), table_id="summary-table"),
              f"<p>{esc(SUMMARY_NOTE)}</p>",
              report_html.details("Full summary table (every column, unabbreviated)", table(summary, table_id="summary-full"))]  # fmt: skip
    parts += [f'<p class="note">{esc(n)}</p>' for n in summary.attrs.get("notes", [])]
    parts += ['<h2 id="findings">Findings on this machine</h2>', f"<p>{esc(FINDINGS_INTRO)}</p>", "<ul>"]
    for f in page.findings:
        run = f" To decide: <code>{esc(f.run)}</code>." if f.run else ""
        parts.append(f"<li><b>{esc(f.claim)}</b> — <i>{esc(f.verdict)}</i>: {esc(f.measured)}.{run} "
                     f'<span class="note">Rule: {esc(f.rule)}.</span></li>')  # fmt: skip
    parts.append("</ul>")
    parts += ['<h2 id="limits">How close to the machine\'s limit</h2>', f"<p>{code(LIMITS_INTRO)}</p>"]
    if page.limits:
        parts += ["<ul>", *(f"<li>{esc(x)}</li>" for x in page.limits), "</ul>"]
    else:
        parts.append(f"<p>Not known: {code(page.limits_missing)}</p>")
    parts.append('<h2 id="fastest">Fastest way to run each model here</h2>')
    if page.compared():
        parts += [f"<p>{esc(FASTEST_INTRO)}</p>", table(page.fastest)]
    else:
        parts.append(f"<p>{code(_fastest_missing())}</p>")
    parts.append('<h2 id="references">Beside the reference machines</h2>')
    if page.references is not None:
        parts += [f"<p>{code(REFERENCE_INTRO)}</p>",
                  *report_html.comparison(page.references.comparison, page.references.cells, page.references.svg)]  # fmt: skip
    else:
        parts.append("<p>No reference machine beside this folder measured the same models at the same settings "
                     "(results/reference/&lt;machine&gt;/); <code>archbench compare FOLDER FOLDER</code> sets any "
                     "folders side by side.</p>")  # fmt: skip
    parts += ['<h2 id="figures">Figures</h2>',
              "<p>Top-1 vs operations and the roofline open the page. Files: figures/&lt;name&gt;.png and .svg.</p>"]  # fmt: skip
    for fig in figures:
        if fig.name in FIRST_SCREEN:
            continue
        if fig.skipped:
            parts.append(f'<p class="missing" id="fig-{esc(fig.name)}"><b>{esc(fig.title)}</b>: not drawn: '
                         f"{code(fig.skipped)}</p>")  # fmt: skip
        else:
            parts.append(report_html.figure(fig.name, fig.title, fig.svg, fig.caption))
    parts.append('<h2 id="measurements">Measurements</h2>')
    parts.append("<p>Every row of results.csv, one table per task; <i>env</i> names the environment "
                 'the row was measured in (see <a href="#environments">Environments</a>).</p>')  # fmt: skip
    for task in dict.fromkeys(results["task"]):
        rows = analysis.measurements(results, task).drop(columns=["task"], errors="ignore")
        parts.append(
            report_html.details(f"{task}: {len(rows)} rows", table(rows.rename(columns={"env_id": "env"})))
        )
    fails = analysis.failures(results)
    parts.append('<h2 id="failures">Failures</h2>')
    parts.append(table(fails, constants=False) if len(fails) else "<p>None: every measurement succeeded.</p>")
    envs = analysis.environments(results)
    parts.append('<h2 id="environments">Environments</h2>')
    if envs.empty or len(envs.columns) <= 5:
        parts.append("<p>results.csv has no env_* columns: the environment was not recorded.</p>")
    else:
        transposed = envs.set_index("env_id").T.reset_index().rename(columns={"index": "setting"})
        transposed["setting"] = transposed["setting"].str.removeprefix("env_")
        parts.append(table(transposed, sortable=False, constants=False))
    parts.append('<h2 id="models">Models and reference figures</h2>')
    if models is not None:
        parts.append(report_html.details(
            f"models.csv: {len(models)} models (the registry's metadata; every reference figure with its source)",
            table(models)))  # fmt: skip
    else:
        parts.append("<p>models.csv is missing.</p>")
    return report_html.page("archbench report", parts)
