"""Evolution of depth: the ILSVRC classification entries 2010-2017 (the challenge's last year), each with
its own source and the entry named (a team's submission is often an ensemble), each CNN with the depth measured on the zoo
builder that stands for it, the pre-CNN winners marked shallow."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .hover import tag_points
from .load import MODELS_FILE, _require
from .plotting import _family_colours, _figure, _finish, _styled
from .tables import _missing, _num, model_table

RUSSAKOVSKY_2015 = (
    'Russakovsky et al., "ImageNet Large Scale Visual Recognition Challenge", IJCV 2015 (arXiv 1409.0575): '
    "the ILSVRC 2010-2014 results"
)
HE_2016 = (
    'He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016 (arXiv 1512.03385), '
    "table 5, and the ILSVRC 2015 results (image-net.org/challenges/LSVRC/2015/results)"
)

ILSVRC_2016 = "ILSVRC 2016 results, classification (image-net.org/challenges/LSVRC/2016/results)"
XIE_2017 = (
    'Xie, Girshick, Dollar, Tu, He, "Aggregated Residual Transformations for Deep Neural Networks", CVPR 2017 '
    "(arXiv 1611.05431): 2nd place in ILSVRC 2016 classification"
)
HU_2018 = (
    'Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018 (arXiv 1709.01507): SENets won ILSVRC 2017 '
    "classification with 2.251 % top-5 error; ILSVRC 2017 results (image-net.org/challenges/LSVRC/2017/results)"
)


@dataclass(frozen=True)
class ILSVRCResult:
    """One ILSVRC classification entry: the team, its place, the published top-5 test error of the entry
    named in ``entry`` (what was submitted: one network or an ensemble) and the sources of that figure."""

    year: int
    team: str
    place: int
    top5_error: float
    entry: str
    sources: tuple[str, ...]
    cnn: bool = True
    unbuilt: str = ""
    """What the bar says instead of a depth when no zoo builder stands for the entry."""


ILSVRC_CLASSIFICATION: tuple[ILSVRCResult, ...] = (
    ILSVRCResult(2010, "NEC-UIUC", 1, 28.2, "SIFT/LBP features, coding, linear SVM", (RUSSAKOVSKY_2015,), cnn=False),
    ILSVRCResult(2011, "XRCE", 1, 25.8, "Fisher vectors, linear SVM", (RUSSAKOVSKY_2015,), cnn=False),
    ILSVRCResult(2012, "SuperVision", 1, 16.4, "5 CNNs",
                 ("Krizhevsky, Sutskever, Hinton, NIPS 2012, table 2: 5 CNNs 16.4 %; the winning submission, "
                  "7 CNNs of which 2 pre-trained on ImageNet Fall 2011, scored 15.3 % with that extra data",
                  RUSSAKOVSKY_2015)),
    ILSVRCResult(2013, "Clarifai", 1, 11.7, "challenge entry", (RUSSAKOVSKY_2015,)),
    ILSVRCResult(2014, "GoogLeNet", 1, 6.67, "7 CNNs, 144 crops",
                 ("Szegedy et al., CVPR 2015 (arXiv 1409.4842), tables 2 and 3", RUSSAKOVSKY_2015)),
    ILSVRCResult(2014, "VGG", 2, 7.3, "7 ConvNets",
                 ("Simonyan & Zisserman, ICLR 2015 (arXiv 1409.1556), table 7 (ILSVRC submission)",
                  RUSSAKOVSKY_2015)),
    ILSVRCResult(2015, "MSRA", 1, 3.57, "6 ResNets", (HE_2016,)),
    ILSVRCResult(2016, "Trimps-Soushen", 1, 2.99, "ensemble of existing networks", (ILSVRC_2016,),
                 unbuilt="ensemble"),
    ILSVRCResult(2016, "ResNeXt", 2, 3.03, "ResNeXt ensemble", (XIE_2017, ILSVRC_2016)),
    ILSVRCResult(2017, "WMW", 1, 2.251, "SENet ensemble", (HU_2018,)),
)  # fmt: skip
"""The classification entries of the depth chart, each with the sources of its own year's figure
(Russakovsky et al. 2015 covers 2010-2014 only; 2015 is He et al. 2016 and the ILSVRC 2015 results; 2016
and 2017, the challenge's last two years, their results pages and the papers of the networks)."""

_SAME_ERROR = 0.05


def _ilsvrc_entries(results: pd.DataFrame, models: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    _require(models, ["ilsvrc_year", "ilsvrc_team", "ilsvrc_top5_error"], MODELS_FILE, "evolution_of_depth")
    notes: list[str] = []
    t = model_table(results, models).set_index("model")
    cnn = models[models["ilsvrc_year"].notna()].copy()
    depth_paper = cnn["depth_paper"] if "depth_paper" in cnn.columns else pd.Series(np.nan, index=cnn.index)
    cnn["_depth_paper"] = pd.to_numeric(depth_paper, errors="coerce").fillna(-1)
    cnn = cnn.sort_values("_depth_paper", ascending=False, kind="stable")
    cnn = cnn.drop_duplicates(["ilsvrc_year", "ilsvrc_team"])
    builders = {(int(m["ilsvrc_year"]), str(m["ilsvrc_team"])): m for _, m in cnn.iterrows()}
    known = {(e.year, e.team) for e in ILSVRC_CLASSIFICATION}
    rows = []
    for e in ILSVRC_CLASSIFICATION:
        rows.append({"year": e.year, "team": e.team, "place": e.place, "top5_error": e.top5_error,
                     "entry": e.entry, "sources": e.sources, "model": "", "label": "", "depth": None,
                     "depth_kind": "shallow" if not e.cnn else "not measured", "family": "shallow" if not e.cnn else "other",
                     "unbuilt": e.unbuilt})  # fmt: skip
    for (year, team), m in builders.items():
        if (year, team) not in known:
            rows.append({"year": year, "team": team,
                         "place": int(m["ilsvrc_place"]) if not _missing(m.get("ilsvrc_place")) else 1,
                         "top5_error": float(m["ilsvrc_top5_error"]), "entry": "",
                         "sources": tuple(str(m.get("ilsvrc_source") or "models.csv").split("; ")),
                         "model": "", "label": "", "depth": None, "depth_kind": "not measured", "family": "other",
                         "unbuilt": ""})  # fmt: skip
    entries = pd.DataFrame(rows)
    for i, e in entries.iterrows():
        m = builders.get((int(e["year"]), str(e["team"])))
        if m is None:
            continue
        name = m["model"]
        given = _num(m.get("ilsvrc_top5_error"))
        if given is not None and abs(given - e["top5_error"]) > _SAME_ERROR:
            notes.append(
                f"models.csv gives {given:g} % for {e['team']} {e['year']} ({name}); drawn: {e['top5_error']:g} %"
            )
        depth = t.at[name, "depth"] if name in t.index else None
        kind = "measured"
        if _missing(depth):
            depth, kind = _num(m.get("depth_paper")), "paper"
            notes.append(f"{name}: depth from the paper (no 'depth' in results.csv, macs task)")
        entries.loc[i, ["model", "label", "depth_kind", "family"]] = [
            name, str(m.get("display_name") or name), kind, str(m.get("family") or "unknown")]  # fmt: skip
        entries.at[i, "depth"] = depth
        entries.at[i, "depth_paper"] = _num(m.get("depth_paper"))
    unmatched = [f"{e.team} {e.year}" for e in ILSVRC_CLASSIFICATION
                 if e.cnn and not e.unbuilt and (e.year, e.team) not in builders]  # fmt: skip
    if unmatched:
        notes.append(
            "no model of this results folder stands for " + ", ".join(unmatched) + " (depth not measured)"
        )
    entries = entries.sort_values(["year", "place"], kind="stable").reset_index(drop=True)
    return entries, notes


def _depth_label(e: pd.Series) -> str:
    if e["depth_kind"] == "shallow":
        return "shallow"
    if e["depth_kind"] == "not measured" or _missing(e["depth"]):
        return e["unbuilt"] or "depth ?"
    paper = e.get("depth_paper")
    differs = e["depth_kind"] == "measured" and not _missing(paper) and int(paper) != int(e["depth"])
    return (f"{int(e['depth'])} layers" + (" (paper)" if e["depth_kind"] == "paper" else "")
            + (f"\n(paper: {int(paper)})" if differs else ""))  # fmt: skip


@_styled
def evolution_of_depth(results: pd.DataFrame, models: pd.DataFrame) -> Any:
    """ILSVRC classification entries 2010-2017 as bars of top-5 test error, each named (team, what was
    submitted, error) with a numbered source, each CNN annotated with the depth (weight layers)
    archbench measured on the zoo builder standing for it; pre-CNN entries marked shallow."""
    entries, notes = _ilsvrc_entries(results, models)
    fig = _figure(max(10.5, 1.25 * len(entries) + 1.5), 6.4)
    ax = fig.add_subplot()
    colours = _family_colours(models["family"] if "family" in models.columns else entries["family"])
    colours["shallow"] = colours["other"] = (0.7, 0.7, 0.7, 1.0)
    sources = list(dict.fromkeys(s for group in entries["sources"] for s in group))
    x = np.arange(len(entries))
    bars = ax.bar(x, entries["top5_error"], color=[colours.get(f, colours["other"]) for f in entries["family"]],
                  width=0.7, edgecolor="0.2", linewidth=0.6, zorder=3)  # fmt: skip
    tag_points(ax, x, entries["top5_error"], [f"{e.team} {e.year}" for e in entries.itertuples()],
               [f"top-5 error {e.top5_error:g} %, {_depth_label(pd.Series(e._asdict()))}" for e in entries.itertuples()],
               ["; ".join(e.sources) for e in entries.itertuples()], bars=bars.patches)  # fmt: skip
    for bar, (_, e) in zip(bars, entries.iterrows(), strict=True):
        top = bar.get_height()
        cnn = e["depth_kind"] not in ("shallow", "not measured")
        ax.text(bar.get_x() + bar.get_width() / 2, top + 0.4, _depth_label(e), ha="center", va="bottom",
                fontsize=9, fontweight="bold" if cnn else "normal")  # fmt: skip
        ax.text(bar.get_x() + bar.get_width() / 2, top / 2, f"{e['top5_error']:g} %", ha="center", va="center",
                fontsize=8.5, color="white" if cnn else "black", zorder=4)  # fmt: skip
    ticks = []
    for _, e in entries.iterrows():
        place = "" if e["place"] == 1 else f", {int(e['place'])}{'nd' if e['place'] == 2 else 'th'}"
        entry = ", ".join(b for b in (f"{e['team']}{place}", e["entry"], f"{e['top5_error']:g} %") if b)
        refs = ",".join(str(sources.index(s) + 1) for s in e["sources"])
        zoo = f"\nzoo: {textwrap.fill(e['label'], 18)}" if e["label"] else ""
        ticks.append(f"ILSVRC {e['year']} [{refs}]\n{textwrap.fill(entry, 20)}{zoo}")
    ax.set_xticks(x, ticks, fontsize=7.5)
    ax.grid(axis="x", visible=False)
    ax.set_ylabel("top-5 classification error on the test set (%)")
    ax.set_ylim(0, entries["top5_error"].max() * 1.15)
    years = f"{int(entries['year'].min())}-{int(entries['year'].max())}"
    ax.set_title(f"Evolution of depth: ILSVRC classification {years}, top-5 test error of each year's leading entries")
    caption = (
        "Bars: the published top-5 test error of the entry named under each bar (team, place when not 1st, "
        "what was submitted: an ensemble is not one network). Depth = weight layers (conv + dense) on the longest "
        "path of one network, measured by archbench on the zoo builder named 'zoo' (results.csv, macs task, "
        "'depth'; a gating branch's dense layers, as in SENet's squeeze-and-excitation, count where they lie on "
        "that path: the paper's depth is given beside it where it differs); shallow = pre-CNN entries. Sources: "
        + " ".join(f"[{i + 1}] {s}." for i, s in enumerate(sources))
    )
    return _finish(fig, caption, notes)
