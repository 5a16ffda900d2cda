"""Every label on every scatter of the report is tied to its own point.

The check reads the drawn figure only (after ``fig.canvas.draw()``, in display pixels): the markers are
the offsets of the scatter collections of an axes, a label is an annotation with text whose ``xy`` is
the point it names. A label fails when

- its point is not one of the markers drawn;
- it has no leader line and another marker is at least as near to its text box as its own point;
- its leader line does not run from its text to its own point;
- its text box overlaps another label's or the legend, or leaves the axes.

Figures come from the committed results folder (``results/reference/cpu-intel-xeon-family6-model207-2c``) and from a synthetic crowded one
(26 models packed into a small range of operations and accuracy, with memory and energy rows, so that
every scatter of the report is drawn); a figure deliberately spoiled shows that the check fails.
"""

import csv
import itertools
import os
import shutil

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.text import Annotation, Text
from test_findings import crowded_folder

from archbench.report import draw_figures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LATEST = os.path.join(ROOT, "results", "reference", "cpu-intel-xeon-family6-model207-2c")
TOUCH_PT = 6.0  # matplotlib starts an annotation's arrow 4 pt outside its text, plus shrinkA
TIP_PX = 1.5
# markers whose centres are this close overlap almost wholly (values equal to the plot's resolution, e.g.
# vgg16 and vgg16_bn in memory vs parameters): no placement can tell them apart, so neither counts as
# "another marker" for the other's label
COINCIDENT_PX = 3.0


def point_labels(ax):
    return [t for t in ax.texts if isinstance(t, Annotation) and t.get_text() and t.xycoords == "data"]


def markers(ax):
    """Centres (display pixels) of every scatter marker drawn in ``ax``."""
    centres = [c.get_offset_transform().transform(c.get_offsets()) for c in ax.collections
               if isinstance(c, PathCollection) and c.get_visible() and len(c.get_offsets())]  # fmt: skip
    return np.unique(np.round(np.vstack(centres), 1), axis=0) if centres else np.empty((0, 2))


def box_distance(box, point):
    dx = max(box.x0 - point[0], 0.0, point[0] - box.x1)
    dy = max(box.y0 - point[1], 0.0, point[1] - box.y1)
    return float(np.hypot(dx, dy))


def overlap(a, b):
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 1 and min(a.y1, b.y1) - max(a.y0, b.y0) > 1


def leader_line(label):
    arrow = label.arrow_patch
    if arrow is None or not arrow.get_visible():
        return None
    return arrow.get_transform().transform_path(arrow.get_path()).vertices


def label_problems(fig):
    """Every way a label of ``fig`` is not unambiguously tied to its point, as sentences."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = []
    for ax in fig.axes:
        labels = point_labels(ax)
        if not labels:
            continue
        pts = markers(ax)
        frame = ax.get_window_extent(renderer)
        boxes = []
        for label in labels:
            name = label.get_text()
            box = Text.get_window_extent(label, renderer)
            boxes.append((name, box))
            own = ax.transData.transform(label.xy)
            gaps = np.hypot(*(pts - own).T)
            if not len(pts) or gaps.min() > 1.0:
                problems.append(f"{name!r}: its point {label.xy} is not a marker")
                continue
            others = pts[gaps > COINCIDENT_PX]
            line = leader_line(label)
            if line is None:
                d_own = box_distance(box, own)
                nearer = [p for p in others if box_distance(box, p) <= d_own]
                if nearer:
                    problems.append(
                        f"{name!r}: no leader line and {len(nearer)} other marker(s) nearer than its own"
                    )
            else:
                tip = line[np.argmin(np.hypot(*(line - own).T))]
                if np.hypot(*(tip - own)) > TIP_PX or any(
                    np.hypot(*(tip - p)) <= np.hypot(*(tip - own)) for p in others
                ):
                    problems.append(f"{name!r}: its leader line does not end at its own point")
                if min(box_distance(box, v) for v in line) > TOUCH_PT * fig.dpi / 72:
                    problems.append(f"{name!r}: its leader line does not start at its text")
            if (
                box.x0 < frame.x0 - 1
                or box.x1 > frame.x1 + 1
                or box.y0 < frame.y0 - 1
                or box.y1 > frame.y1 + 1
            ):
                problems.append(f"{name!r}: outside the axes")
            if ax.get_legend() is not None and overlap(box, ax.get_legend().get_window_extent(renderer)):
                problems.append(f"{name!r}: under the legend")
        for (a, ba), (b, bb) in itertools.combinations(boxes, 2):
            if overlap(ba, bb):
                problems.append(f"{a!r} and {b!r} overlap")
    return problems


def labelled_figures(folder):
    out = {}
    for name, _title, fig, _skipped in draw_figures(folder):
        if fig is not None and any(point_labels(ax) for ax in fig.axes):
            out[name] = fig
    return out


@pytest.fixture(scope="module")
def latest(tmp_path_factory):
    """The committed results without its per-layer tables (they add per-layer bar charts only)."""
    folder = tmp_path_factory.mktemp("latest")
    for name in ("results.csv", "models.csv"):
        shutil.copy(os.path.join(LATEST, name), folder / name)
    return str(folder), labelled_figures(str(folder))


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    folder = crowded_folder(tmp_path_factory.mktemp("crowded") / "res")
    return folder, labelled_figures(folder)


def test_every_label_of_the_committed_report_is_on_its_point(latest):
    _folder, figures = latest
    assert set(figures) >= {"top1_vs_operations", "latency_vs_macs", "top1_vs_latency"}
    for name, fig in figures.items():
        assert label_problems(fig) == [], name


def test_every_label_of_a_crowded_report_is_on_its_point(crowded):
    _folder, figures = crowded
    assert set(figures) == {"top1_vs_operations", "latency_vs_macs", "top1_vs_latency", "memory_vs_params",
                            "top1_vs_energy"}  # fmt: skip
    for name, fig in figures.items():
        assert label_problems(fig) == [], name


def _csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_labels_name_the_right_numbers(latest):
    """Each label's point is the model's own numbers as results.csv and models.csv hold them."""
    folder, figures = latest
    rows = _csv(os.path.join(folder, "results.csv"))
    meta = {m["model"]: m for m in _csv(os.path.join(folder, "models.csv"))}
    macs = {r["model"]: float(r["macs"]) / 1e9 for r in rows if r["task"] == "macs"}
    ms = {r["model"]: float(r["median_ms"]) for r in rows if r["task"] == "latency"}
    by_display = {m["display_name"]: name for name, m in meta.items()}
    expected = {
        "top1_vs_operations": lambda t: (macs[by_display[t]], float(meta[by_display[t]]["top1_ref"])),
        "latency_vs_macs": lambda t: (macs[t], ms[t]),
        "top1_vs_latency": lambda t: (ms[by_display[t]], float(meta[by_display[t]]["top1_ref"])),
    }
    for name, where in expected.items():
        labels = [lab for ax in figures[name].axes for lab in point_labels(ax)]
        assert len(labels) >= 20, name
        for lab in labels:
            assert lab.xy == pytest.approx(where(lab.get_text()), rel=1e-9), (name, lab.get_text())


def test_a_misplaced_label_is_caught(crowded):
    _folder, figures = crowded
    fig = figures["top1_vs_operations"]
    ax = next(ax for ax in fig.axes if point_labels(ax))
    labels = point_labels(ax)
    victim, other = labels[0], labels[1]
    victim.xyann = other.xy  # the text sits on another model's point
    victim.arrow_patch.set_visible(False)
    problems = label_problems(fig)
    assert any(p.startswith(f"{victim.get_text()!r}: no leader line") for p in problems), problems
    victim.xy = (other.xy[0] * 1.37, other.xy[1] + 0.77)  # a label whose point is not drawn
    assert any(p.startswith(f"{victim.get_text()!r}: its point") for p in label_problems(fig))
