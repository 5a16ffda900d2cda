"""Tables and figures from archbench results files: pandas loaders and pure figure functions.

Everything here reads the files ``archbench run`` writes into an output folder and nothing else (no
model is built, the registry is never consulted, Keras is not imported):

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

Modules: :mod:`~archbench.analysis.load` (files and their columns), :mod:`~archbench.analysis.tables`
(DataFrames and Markdown), :mod:`~archbench.analysis.plotting` (style, captions, point labels placed by
adjustText, legends), :mod:`~archbench.analysis.fits` (fits with their rule and 95 % interval), then one
module per figure family: :mod:`~archbench.analysis.canziani` (top-1 vs operations, top-1 density),
:mod:`~archbench.analysis.depth` (ILSVRC entries), :mod:`~archbench.analysis.fc_conv` (fully connected vs
convolutional parameters), :mod:`~archbench.analysis.latency` (operations vs time, time vs batch size,
runtimes and peers, the fastest way to run each model), :mod:`~archbench.analysis.measured` (memory,
power, energy, accuracy vs time), :mod:`~archbench.analysis.layers` (per-layer cost),
:mod:`~archbench.analysis.roofline` (FLOP/s against the measured peaks, one line per model),
:mod:`~archbench.analysis.training` (the training step: throughput vs counted operations, its time over
inference's beside the counted MAC ratio, memory vs batch size);
:mod:`~archbench.analysis.findings` (Canziani et al.'s findings checked with these rows),
:mod:`~archbench.analysis.headlines` (what a reader sees first: the fastest way per model, the Pareto
fronts), :mod:`~archbench.analysis.summary` (the summary table), :mod:`~archbench.analysis.compare`
(several machines side by side) and :mod:`~archbench.analysis.hover` (each point's model, value and
source as hover text in an inline SVG).

A figure with nothing to compare (one batch size, one backend, no energy counter) raises
:class:`~archbench.analysis.load.NotDrawn` naming the command that measures what it needs.
"""

from ..lecture import conv_params, fc_params
from .canziani import single_crop_points, top1_density, top1_vs_operations
from .compare import Comparison, compare_figure, compare_results
from .depth import ILSVRC_CLASSIFICATION, ILSVRCResult, evolution_of_depth
from .fc_conv import fc_vs_conv
from .findings import Finding, findings, findings_markdown, findings_table
from .latency import backend_comparison, fastest_runs, latency_vs_macs, time_vs_batch
from .layers import per_layer
from .load import (
    FIGURE_COLUMNS,
    LAYERS_DIR,
    MODELS_FILE,
    RESULTS_FILE,
    NotDrawn,
    find_layer_tables,
    load_layers,
    load_models,
    load_results,
)
from .measured import memory_vs_batch, memory_vs_params, power_vs_batch, top1_vs_energy, top1_vs_latency
from .plotting import STYLE, caption_of, pareto_frontier
from .roofline import roofline, roofline_findings
from .summary import compact_summary, constant_columns, summary_markdown, summary_table
from .tables import (
    IMAGENET_DATASETS,
    environments,
    failures,
    latency_table,
    markdown_table,
    measurements,
    model_table,
)
from .training import train_memory_vs_batch, train_throughput, train_vs_inference

__all__ = [
    "FIGURE_COLUMNS",
    "IMAGENET_DATASETS",
    "ILSVRC_CLASSIFICATION",
    "LAYERS_DIR",
    "MODELS_FILE",
    "RESULTS_FILE",
    "STYLE",
    "Comparison",
    "Finding",
    "ILSVRCResult",
    "NotDrawn",
    "backend_comparison",
    "caption_of",
    "compact_summary",
    "compare_figure",
    "compare_results",
    "constant_columns",
    "conv_params",
    "environments",
    "evolution_of_depth",
    "failures",
    "fastest_runs",
    "fc_params",
    "fc_vs_conv",
    "find_layer_tables",
    "findings",
    "findings_markdown",
    "findings_table",
    "latency_table",
    "roofline",
    "roofline_findings",
    "latency_vs_macs",
    "load_layers",
    "load_models",
    "load_results",
    "markdown_table",
    "measurements",
    "memory_vs_batch",
    "memory_vs_params",
    "model_table",
    "pareto_frontier",
    "per_layer",
    "power_vs_batch",
    "single_crop_points",
    "summary_markdown",
    "summary_table",
    "time_vs_batch",
    "top1_density",
    "top1_vs_energy",
    "top1_vs_latency",
    "top1_vs_operations",
    "train_memory_vs_batch",
    "train_throughput",
    "train_vs_inference",
]
