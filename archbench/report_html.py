"""The HTML of archbench's pages: one self-contained file each (no network, no external resource).

Building blocks shared by the report of a results folder (:func:`report_page`) and the comparison of
machines (:func:`compare_page`): tables that sort on a click on their header and filter by a search box
(a small inline script), the columns holding one value on every row stated once in the table's
caption, figures inlined as SVG whose points carry their hover text (:mod:`archbench.analysis.hover`).
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .analysis.summary import constant_caption, constant_columns

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1360px;padding:0 1em 3em;color:#222;overflow-wrap:anywhere}
h1{margin:.5em 0 .2em;font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
nav{font-size:.9em;margin:.3em 0}nav a{margin-right:1em}figure{margin:1.2em 0}figure svg{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.85em;color:#444}.note{color:#8a5a00}.missing{color:#a00}.lead{margin:.2em 0 .5em}
.first{display:grid;grid-template-columns:1fr 1fr;gap:10px;align-items:start}.first figure{margin:0}
.first figure svg{width:100%}.first h3{margin:.2em 0;font-size:1em}.noroof{border:1px dashed #a00;padding:1em;color:#a00}
table{border-collapse:collapse;font-size:.8em;margin:.3em 0 1em}th,td{border:1px solid #ddd;padding:.2em .4em;text-align:left;vertical-align:top}
th{background:#f3f3f3}table.sortable th[data-col]{cursor:pointer;user-select:none}table.sortable th[data-col]:after{content:" \\2195";color:#aaa}
caption{caption-side:top;text-align:left;font-size:.95em;color:#333;padding:.2em 0}
td.num{text-align:right;font-variant-numeric:tabular-nums}.scroll{overflow-x:auto;max-width:100%}tr:nth-child(even) td{background:#fafafa}
input.filter{font-size:.85em;padding:.15em .4em;margin:.2em 0;width:18em}details{margin:.4em 0}summary{cursor:pointer;color:#035}
figure svg use{pointer-events:none}figure svg g.pt,figure svg g.pt *{pointer-events:all}svg g.pt:hover path{stroke:#000;stroke-width:1}
"""

JS = """
document.querySelectorAll("table.sortable").forEach(function(table){
  table.querySelectorAll("th[data-col]").forEach(function(th){
    var col = parseInt(th.getAttribute("data-col"), 10);
    th.addEventListener("click", function(){
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute("data-dir") !== "asc";
      table.querySelectorAll("th").forEach(function(h){ h.removeAttribute("data-dir"); });
      th.setAttribute("data-dir", asc ? "asc" : "desc");
      function key(row){
        var cell = row.cells[col], t = cell ? cell.textContent.trim() : "";
        var v = cell ? cell.getAttribute("data-v") : null;
        if (v !== null) return [0, parseFloat(v)];
        return t === "" ? [2, ""] : [1, t.toLowerCase()];
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
document.querySelectorAll("input.filter").forEach(function(box){
  var table = document.getElementById(box.getAttribute("data-table"));
  box.addEventListener("input", function(){
    var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
    Array.prototype.forEach.call(table.tBodies[0].rows, function(row){
      var text = row.textContent.toLowerCase();
      row.style.display = words.every(function(w){ return text.indexOf(w) >= 0; }) ? "" : "none";
    });
  });
});
"""

_ids = itertools.count(1)


def cell_text(value: Any) -> str:
    """A table cell as text: integers with thousands separators from 10,000, floats to 4 significant
    digits, empty for a missing value."""
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


def _number(text: str) -> float | None:
    """The number a cell starts with (``12.3 [12.1–12.6]``, ``61.1 ref``, ``41 %``), None otherwise."""
    head = text.replace(",", "").split(" ")[0].removesuffix("%").removesuffix("×")
    try:
        return float(head)
    except ValueError:
        return None


def table(df: pd.DataFrame, *, table_id: str = "", caption: str = "", sortable: bool = True,
          constants: bool = True, grouped: bool = False) -> str:  # fmt: skip
    """``df`` as a sortable HTML table with a filter box; with ``constants``, the columns that hold one
    value on every row are stated in the caption instead; with ``grouped``, columns named ``group: what``
    are put under one header per group."""
    same: dict[str, str] = {}
    if constants:
        df, same = constant_columns(df)
    table_id = table_id or f"t{next(_ids)}"
    text = " ".join(x for x in (caption, constant_caption(same) + "." if same else "") if x)
    head = _header(list(map(str, df.columns)), grouped)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            t = cell_text(v)
            n = _number(t) if t else None
            attrs = f' class="num" data-v="{n!r}"' if n is not None else ""
            cells.append(f"<td{attrs}>{html.escape(t)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls = ' class="sortable"' if sortable else ""
    box = (f'<input type="search" class="filter" data-table="{table_id}" placeholder="filter rows ({len(df)})" '
           f'aria-label="filter rows">' if sortable and len(df) > 1 else "")  # fmt: skip
    cap = f"<caption>{code(text)}</caption>" if text else ""
    return (f'{box}<div class="scroll"><table{cls} id="{table_id}">{cap}<thead>{head}</thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")  # fmt: skip


def _header(columns: Sequence[str], grouped: bool) -> str:
    split = [c.split(": ", 1) if grouped and ": " in c else [c] for c in columns]
    if not any(len(s) == 2 for s in split):
        return (
            "<tr>"
            + "".join(f'<th data-col="{i}">{html.escape(c)}</th>' for i, c in enumerate(columns))
            + "</tr>"
        )
    top, sub = [], []
    for group, members in itertools.groupby(
        enumerate(split), key=lambda p: p[1][0] if len(p[1]) == 2 else None
    ):
        members = list(members)
        if group is None:
            top += [f'<th rowspan="2" data-col="{i}">{html.escape(s[0])}</th>' for i, s in members]
        else:
            top.append(f'<th colspan="{len(members)}">{html.escape(group)}</th>')
            sub += [f'<th data-col="{i}">{html.escape(s[1])}</th>' for i, s in members]
    return f"<tr>{''.join(top)}</tr><tr>{''.join(sub)}</tr>"


def details(summary: str, body: str, *, open_: bool = False) -> str:
    """A part of the page one click away."""
    return f"<details{' open' if open_ else ''}><summary>{html.escape(summary)}</summary>{body}</details>"


def figure(name: str, title: str, svg: str, caption: str = "") -> str:
    """An inline SVG figure with its title (points carry their hover text)."""
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure id="fig-{html.escape(name)}"><h3>{html.escape(title)}</h3>{svg}{cap}</figure>'


def code(text: str) -> str:
    """Escape ``text`` for HTML, showing its `backquoted` commands as code."""
    pieces = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def page(title: str, parts: Sequence[str]) -> str:
    """A whole self-contained page: the style, ``parts`` and the table script."""
    return "\n".join(["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style></head><body>", *parts,
                      f"<script>{JS}</script>", "</body></html>", ""])  # fmt: skip


def comparison(comp: Any, cells: pd.DataFrame, svg: str) -> list[str]:
    """The parts of a page that set machines side by side (:class:`archbench.analysis.Comparison`):
    the machines, the table with one column group per machine, the chart, the rows left out and why."""
    from .analysis.compare import COMPARE_INTRO, LEFT_OUT_INTRO

    parts = [f"<p>{html.escape(COMPARE_INTRO)}</p>", "<ul>"]
    parts += [f"<li><b>{html.escape(m)}</b>{' (baseline of the speed-ups)' if i == 0 else ''}: "
              f"{html.escape(comp.devices[m])}</li>" for i, m in enumerate(comp.machines)]  # fmt: skip
    parts += [f'<li class="note">{html.escape(n)}</li>' for n in comp.notes]
    parts.append("</ul>")
    parts.append(table(cells, grouped=True) if not cells.empty else "<p>Nothing compared.</p>")
    if svg:
        parts.append(figure("compare", "Latency per model across machines", svg))
    if comp.left_out.empty:
        parts.append("<p>Left out: nothing.</p>")
    else:
        parts.append(details(f"Left out: {len(comp.left_out)} rows, with the reason",
                             f"<p>{html.escape(LEFT_OUT_INTRO)}</p>" + table(comp.left_out, constants=False),
                             open_=len(comp.left_out) <= 10))  # fmt: skip
    return parts
