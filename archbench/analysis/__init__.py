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
(DataFrames and Markdown), :mod:`~archbench.analysis.plotting` (style, captions, labels, legends), then
one module per figure family: :mod:`~archbench.analysis.canziani` (top-1 vs operations),
:mod:`~archbench.analysis.depth` (ILSVRC winners), :mod:`~archbench.analysis.fc_conv` (fully connected vs
convolutional parameters), :mod:`~archbench.analysis.latency` (latency, throughput, backends) and
:mod:`~archbench.analysis.layers` (per-layer cost).
"""

from ..lecture import conv_params, fc_params
from .canziani import top1_vs_operations
from .depth import ILSVRC_CLASSIFICATION, ILSVRCResult, evolution_of_depth
from .fc_conv import fc_vs_conv
from .latency import backend_comparison, fastest_runs, latency_vs_macs, time_vs_batch
from .layers import per_layer
from .load import (
    FIGURE_COLUMNS,
    LAYERS_DIR,
    MODELS_FILE,
    RESULTS_FILE,
    find_layer_tables,
    load_layers,
    load_models,
    load_results,
)
from .plotting import STYLE, caption_of, pareto_frontier
from .tables import (
    IMAGENET_DATASETS,
    environments,
    failures,
    latency_table,
    measurements,
    model_table,
    summary_markdown,
    summary_table,
)

__all__ = [
    "FIGURE_COLUMNS",
    "IMAGENET_DATASETS",
    "LAYERS_DIR",
    "MODELS_FILE",
    "RESULTS_FILE",
    "ILSVRC_CLASSIFICATION",
    "STYLE",
    "ILSVRCResult",
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
    "time_vs_batch",
    "top1_vs_operations",
]
