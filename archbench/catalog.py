"""Plain-text views of the registry and of results files, for the command line.

Tables are laid out by rich: a header, a dashed rule, columns two spaces apart, numbers right-aligned.
``archbench list`` answers from the registry's metadata and the golden counts (``results/golden/``)
without building a model. The registry is filled by importing the zoo, which imports Keras and its
backend (seconds); so the metadata ``list`` shows is kept in a small cache (``ARCHBENCH_CACHE_DIR``,
default ``~/.cache/archbench``), keyed by a hash of archbench's sources, the Keras version and the
installed ``archbench.models`` entry points: any change to them rebuilds it from the registry.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from .registry import ENTRY_POINT_GROUP, get_spec, list_models

LIST_WIDTH = 120
PARAMS_SOURCE = "archbench (results/golden/params.csv)"
CACHE_ENV = "ARCHBENCH_CACHE_DIR"
_CACHE_FORMAT = "archbench.catalog-cache/2"
TOP1_METADATA = ("top1_protocol", "top1_weights")
_MIN_SOURCE_WIDTH = 12


def _numeric(cell: str) -> bool:
    return cell.replace(",", "").replace(".", "", 1).replace("-", "", 1).replace("%", "").isdigit()


def format_table(
    header: list[str],
    rows: Iterable[list[Any]],
    *,
    right: set[int] | None = None,
    max_widths: dict[int, int] | None = None,
) -> str:
    """A fixed-width text table: the header, a dashed rule, the rows, columns two spaces apart.

    ``right`` names the right-aligned columns (header included); without it each numeric-looking cell
    is right-aligned and every other one, the header included, left-aligned. A column with a
    ``max_widths`` entry is cut to that width with an ellipsis. ``None`` cells are empty.
    """
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    cells = [["" if c is None else str(c) for c in r] for r in rows]
    limits = max_widths or {}
    table = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False, header_style=None)
    for i, name in enumerate(header):
        table.add_column(
            Text(str(name)),
            justify="right" if right and i in right else "left",
            no_wrap=True,
            overflow="ellipsis",
            max_width=limits.get(i),
        )
    rule = [max([cell_len(str(name)), *(cell_len(r[i]) for r in cells)]) for i, name in enumerate(header)]
    table.add_row(*(Text("-" * min(w, limits.get(i, w)), overflow="crop") for i, w in enumerate(rule)))
    for r in cells:
        table.add_row(*(Text(c, justify="right" if right is None and _numeric(c) else None) for c in r))
    console = Console(
        file=io.StringIO(),
        width=sum(rule) + 2 * len(rule),
        color_system=None,
        force_terminal=False,
        force_jupyter=False,
        force_interactive=False,
        legacy_windows=False,
        markup=False,
        emoji=False,
        highlight=False,
    )
    console.print(table)
    return "\n".join(line.rstrip() for line in console.file.getvalue().rstrip("\n").split("\n"))


def _spec_entry(name: str) -> dict[str, Any]:
    """The registry's part of a catalog row (the part that is cached)."""
    spec = get_spec(name)
    ref = spec.reference_top1()
    return {
        "name": name,
        "display_name": spec.display_name,
        "year": spec.year,
        "family": spec.family,
        "input": "x".join(str(d) for d in spec.input_shape),
        "top1_ref": ref.top1 if ref else None,
        "top1_protocol": ref.protocol if ref else "",
        "top1_weights": ref.weights if ref else "",
        "top1_source": ref.source if ref else "",
        "implementation": spec.implementation,
    }


def _with_params(entry: dict[str, Any], golden: dict[str, int]) -> dict[str, Any]:
    params = golden.get(entry["name"])
    row = {k: entry[k] for k in ("name", "display_name", "year", "family", "input")}
    row["params"] = params
    row["params_source"] = PARAMS_SOURCE if params is not None else ""
    row.update({k: entry[k] for k in ("top1_ref", *TOP1_METADATA, "top1_source", "implementation")})
    return row


def catalog(pattern: str = "*") -> list[dict[str, Any]]:
    """One row per registered model: name, year, family, our parameter count, reference top-1.

    The parameter count is the golden one (``results/golden/params.csv``, paper convention), ``None``
    for a model outside it (keras.applications wrappers, models from a user's file); nothing is built.
    """
    from .golden import paper_params

    golden = paper_params()
    return [_with_params(_spec_entry(name), golden) for name in list_models(pattern)]


def cached_catalog(pattern: str = "*", cache_dir: str | None = None) -> list[dict[str, Any]]:
    """:func:`catalog`, with the registry's part read from the cache when the zoo is not imported yet.

    Once the zoo is imported (or a user's model file loaded) the registry itself is read: it costs
    nothing more and sees every model registered in this process. The golden counts are always read
    afresh.
    """
    from .golden import paper_params

    if "archbench.models" in sys.modules:
        return catalog(pattern)
    folder = cache_dir or default_cache_dir()
    key = _fingerprint()
    path = os.path.join(folder, f"catalog-{key}.json")
    cache = _read_cache(path, key)
    if pattern not in cache["patterns"]:
        names = list_models(pattern)
        cache["entries"].update({n: _spec_entry(n) for n in names if n not in cache["entries"]})
        cache["patterns"][pattern] = names
        _write_cache(folder, path, cache)
    golden = paper_params()
    return [_with_params(cache["entries"][n], golden) for n in cache["patterns"][pattern]]


def default_cache_dir() -> str:
    """``$ARCHBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/archbench``, else ``~/.cache/archbench``."""
    if os.environ.get(CACHE_ENV):
        return os.environ[CACHE_ENV]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "archbench")


def _fingerprint() -> str:
    """A hash of what the registry's metadata derives from: archbench's sources, Keras, the entry points."""
    digest = hashlib.sha256(_CACHE_FORMAT.encode())
    root = os.path.dirname(os.path.abspath(__file__))
    sources = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        sources += [os.path.join(folder, f) for f in files if f.endswith(".py")]
    for path in sorted(sources):
        digest.update(os.path.relpath(path, root).encode() + b"\0")
        with open(path, "rb") as f:
            digest.update(f.read() + b"\0")
    try:
        keras_version = metadata.version("keras")
    except metadata.PackageNotFoundError:
        keras_version = "-"
    digest.update(f"keras {keras_version}\0".encode())
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
        dist = getattr(ep, "dist", None)
        version = f"{dist.name} {dist.version}" if dist is not None else "-"
        digest.update(f"{ep.name}={ep.value} ({version})\0".encode())
    return digest.hexdigest()[:20]


def _read_cache(path: str, key: str) -> dict[str, Any]:
    """The cache file's content, or an empty cache when it is missing, unreadable or of another key."""
    try:
        with open(path, encoding="utf-8") as f:
            cache = json.load(f)
    except (OSError, ValueError):
        cache = None
    if not isinstance(cache, dict) or cache.get("key") != key:
        return {"key": key, "entries": {}, "patterns": {}}
    return cache


def _write_cache(folder: str, path: str, cache: dict[str, Any]) -> None:
    """Replace the cache file atomically and drop caches of other keys.

    The cache only saves time: metadata that JSON cannot hold, or a folder that cannot be written,
    leaves ``list`` correct, only slower.
    """
    try:
        text = json.dumps(cache)
    except (TypeError, ValueError):
        return
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".catalog-", suffix=".json", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        for name in os.listdir(folder):
            if name.startswith("catalog-") and name.endswith(".json") and name != os.path.basename(path):
                os.unlink(os.path.join(folder, name))
    except OSError:
        return


def spec_rows(names: list[str]) -> list[dict[str, Any]]:
    """Registry metadata of models as flat rows (``models.csv``): reference figures with their sources,
    and the named sets each model belongs to (``sets``, ``;``-separated; ``everything`` left out)."""
    from .registry import MODEL_SETS, model_set

    members = {s: set(model_set(s)) for s in MODEL_SETS if s != "everything"}
    rows = []
    for name in names:
        spec = get_spec(name)
        acc = spec.reference_top1()
        params_ref = spec.params_refs[0] if spec.params_refs else None
        macs_ref = spec.macs_refs[0] if spec.macs_refs else None
        il = spec.ilsvrc
        rows.append(
            {
                "model": name,
                "display_name": spec.display_name,
                "family": spec.family,
                "year": spec.year,
                "implementation": spec.implementation,
                "default_input_shape": "x".join(str(d) for d in spec.input_shape),
                "paper_title": spec.paper.title,
                "paper_url": spec.paper.url,
                "depth_paper": spec.depth_paper,
                "top1_ref": acc.top1 if acc else None,
                "top5_ref": acc.top5 if acc else None,
                "top1_protocol": acc.protocol if acc else "",
                "top1_weights": acc.weights if acc else "",
                "accuracy_ref_source": acc.source if acc else "",
                "accuracy_ref_scope": acc.scope if acc else "",
                "params_ref": params_ref.value if params_ref else None,
                "params_ref_source": params_ref.source if params_ref else "",
                "macs_ref": macs_ref.value if macs_ref else None,
                "macs_ref_scope": macs_ref.scope if macs_ref else "",
                "macs_ref_source": macs_ref.source if macs_ref else "",
                "ilsvrc_year": il.year if il else None,
                "ilsvrc_team": il.team if il else "",
                "ilsvrc_place": il.place if il else None,
                "ilsvrc_top5_error": il.top5_error if il else None,
                "ilsvrc_source": il.source if il else "",
                "deviations": " | ".join(f"{d.what} ({d.why})" for d in spec.deviations),
                "sets": ";".join(s for s, names_in in members.items() if name in names_in),
            }
        )
    return rows


LIST_HEADER = ["model", "year", "family", "params", "top-1 (ref)", "protocol", "top-1 source"]
LIST_NOTE = "params: counted by archbench (paper convention); top-1: reference figures, not measured here"
LIST_NOTE_PROTOCOL = (
    "protocol: '1-crop N' one centre crop of N px, 'chart' read off a chart (approximate); "
    "csv/json add whose weights"
)
LIST_NOTE_NO_PARAMS = (
    "params '-': not under golden control (keras.applications wrappers, model files); "
    "`archbench summary NAME` counts it"
)
LIST_NOTE_SHORTENED = (
    "top-1 sources ending in '…' are cut to fit the table; --format csv or json gives them whole"
)


_SHORT_PROTOCOLS = {"read off a chart": "chart"}


def short_protocol(protocol: str) -> str:
    """A protocol as the list table shows it: ``"single centre crop at 224 px"`` -> ``"1-crop 224"``."""
    found = re.fullmatch(r"single centre crop at (\d+) px", protocol or "")
    if found:
        return f"1-crop {found.group(1)}"
    return _SHORT_PROTOCOLS.get(protocol, protocol or "?")


def render(rows: list[dict[str, Any]], fmt: str, width: int = LIST_WIDTH) -> str:
    """``archbench list``'s output: JSON, CSV (whole sources) or a table that fits ``width`` columns."""
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue().rstrip("\n")
    table = [
        [
            r["name"],
            r["year"],
            r["family"],
            f"{r['params']:,}" if r["params"] is not None else "-",
            f"{r['top1_ref']:.1f}" if r["top1_ref"] is not None else "-",
            short_protocol(r["top1_protocol"]) if r["top1_ref"] is not None else "-",
            r["top1_source"],
        ]
        for r in rows
    ]
    fixed = [max(len(LIST_HEADER[i]), *(len(str(t[i])) for t in table)) for i in range(len(LIST_HEADER) - 1)]
    source_width = max(_MIN_SOURCE_WIDTH, width - sum(fixed) - 2 * len(fixed))
    notes = [LIST_NOTE, LIST_NOTE_PROTOCOL]
    if any(r["params"] is None for r in rows):
        notes.append(LIST_NOTE_NO_PARAMS)
    if any(len(t[-1]) > source_width for t in table):
        notes.append(LIST_NOTE_SHORTENED)
    text = format_table(LIST_HEADER, table, max_widths={len(LIST_HEADER) - 1: source_width})
    return text + "\n\n" + "\n".join(notes)


RUN_COLUMNS = ("model", "params", "G-MACs", "depth", "latency (ms)", "95 % CI (ms)", "noisy", "latency setting",
               "train (ms/step)", "train images/s", "train G-MACs", "train setting",
               "ImageNet top-1 (%)", "top-1 is", "top-1 protocol")
MEASURED_COLUMNS = ("measured top-1 (%)", "measured on")
NOT_APPLICABLE = "skipped"
"""The status of a row that cannot be measured here and says why (no counterpart for a peer, a GPU-only
way on a CPU, a runtime not installed): counted apart at the end of a run, never among the failures."""


def results_table(csv_path: str | None) -> str:
    """The end-of-run view of a results.csv: one row per model with what each task measured, as text.

    The report's summary table (:func:`archbench.analysis.summary_table`: counts, latency, ImageNet
    top-1), then every accuracy measured on other data (``measured top-1 (%)``, ``measured on``: the
    dataset, its held-out images, and ``untrained`` for a model neither trained nor given weights),
    baselines included, then the units that failed. With training-step rows, the step of the same kind
    of row the latency column shows (:func:`train_columns`). Rows not applicable here (status
    ``skipped``) are not failures: :func:`not_applicable` counts them.
    """
    from .analysis import failures, load_results, summary_table

    if not csv_path or not os.path.exists(csv_path):
        return "(no results)"
    results = load_results(csv_path)
    table = summary_table(results)
    train = train_columns(results, table)
    table = table.join(train, on="model")
    table[list(train.columns)] = table[list(train.columns)].fillna("")
    columns = [c for c in RUN_COLUMNS if c in table.columns and (table[c].astype(str) != "").any()]
    measured = measured_accuracy(results)
    failed = failures(results)
    failed = failed[failed["status"] != NOT_APPLICABLE]
    rows = []
    for record in table.to_dict("records"):
        mine = failed[failed["model"] == record["model"]]
        note = "; ".join(f"{t}: {st}" for t, st in zip(mine["task"], mine["status"], strict=True))
        accuracy = measured.get(record["model"], ("", ""))
        rows.append([record[c] for c in columns] + (list(accuracy) if measured else []) + [note])
    header = [*columns, *(MEASURED_COLUMNS if measured else ()), "failures"]
    return format_table(header, rows)


def train_columns(results, table) -> Any:
    """Per model, its training step as the terminal shows it: ``train (ms/step)`` (the median step),
    ``train images/s``, ``train G-MACs`` (:func:`archbench.count_training`'s multiply-adds per image /
    1e9) and, where it is not the latency column's, ``train setting``; the row is archbench's own, picked
    as the latency column's is (smallest batch, float32 first, the fastest setting). Empty without
    ok training-step rows."""
    import pandas as pd

    from .analysis.load import NotDrawn
    from .analysis.tables import _latency_pick
    from .analysis.training import train_table

    try:
        picked = _latency_pick(train_table(results))
    except NotDrawn:
        return pd.DataFrame(index=pd.Index([], name="model"))
    out = pd.DataFrame(index=picked.index)
    out["train (ms/step)"] = picked["median_ms"].map(lambda v: f"{v:.2f}")
    out["train images/s"] = picked["images_per_s"].map(lambda v: f"{v:,.2f}" if v < 100 else f"{v:,.0f}")
    out["train G-MACs"] = picked["train_macs"].map(lambda v: f"{v / 1e9:.3f}" if _present(v) else "")
    out["train setting"] = [f"{r['stack']}, {r['device']}, batch {int(r['batch_size'])}, {r['precision']}"
                            for r in picked.to_dict("records")]  # fmt: skip
    latency = table.set_index("model")["latency setting"].reindex(out.index)
    if (out["train setting"] == latency).all():
        out["train setting"] = ""
    return out


def not_applicable(csv_path: str | None) -> str:
    """One line counting the rows of a results.csv that cannot be measured here, by their ``reason`` (else
    their message): ``4 not applicable: no torchvision counterpart (nin latency x2, nin train x2); ...``;
    ``""`` without any."""
    from .analysis import load_results

    if not csv_path or not os.path.exists(csv_path):
        return ""
    results = load_results(csv_path)
    rows = results[results["status"] == NOT_APPLICABLE]
    if rows.empty:
        return ""
    reasons: dict[str, dict[str, int]] = {}
    for r in rows.to_dict("records"):
        reason = next((str(v) for v in (r.get("reason"), r.get("error")) if _present(v)), "no reason recorded")
        units = reasons.setdefault(reason, {})
        units[f"{r['model']} {r['task']}"] = units.get(f"{r['model']} {r['task']}", 0) + 1
    parts = [f"{reason} ({', '.join(u + (f' x{n}' if n > 1 else '') for u, n in units.items())})"
             for reason, units in reasons.items()]  # fmt: skip
    return f"{len(rows)} not applicable: " + "; ".join(parts)


def measured_accuracy(results) -> dict[str, tuple[str, str]]:
    """Per model, its measured held-out top-1 and what it was measured on, from the accuracy rows.

    ``{"lenet5": ("99.2", "digits, 359 held out")}``; several datasets are joined with ``"; "``.
    """
    if "top1" not in results.columns:
        return {}
    acc = results[(results["task"] == "accuracy") & (results["status"] == "ok") & results["top1"].notna()]
    if "timestamp" in acc.columns:
        acc = acc.sort_values("timestamp", kind="stable")
    found: dict[str, dict[str, tuple[str, str]]] = {}
    for r in acc.to_dict("records"):
        dataset = str(r.get("dataset") or "?")
        where = dataset + (f", {int(r['n']):,} held out" if _present(r.get("n")) else "")
        if str(r.get("trained")).strip().lower() in ("false", "0", "0.0"):
            where += ", untrained"
        found.setdefault(r["model"], {})[dataset] = (f"{float(r['top1']):.1f}", where)
    return {
        model: ("; ".join(v[0] for v in by_data.values()), "; ".join(v[1] for v in by_data.values()))
        for model, by_data in found.items()
    }


def _present(value: Any) -> bool:
    return value is not None and value == value and str(value) != ""
