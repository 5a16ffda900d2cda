"""archbench.report and `archbench report`: files written, report.html self-contained and complete."""

import os
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner
from test_analysis import alexnet_layers, result_rows, write_folder

from archbench import registry
from archbench.analysis.hover import tagged_count
from archbench.cli import cli
from archbench.errors import ResultsFileError
from archbench.report import FIGURES, draw_figures, write_report

HERE = os.path.dirname(__file__)
CHROMIUM = "/usr/bin/chromium"


class _Page(HTMLParser):
    """Collects every URL-bearing attribute, embedded images, tables and their rows."""

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.images: list[str] = []
        self.tags: list[str] = []
        self.tables = 0
        self.rows = 0
        self.text: list[str] = []
        self.svgs: list[int] = []  # per inline SVG, its <title> elements (one per point)
        self._in_svg = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        for name in ("src", "href", "srcset", "data", "action", "poster"):
            if name in attrs:
                self.urls.append((tag, name, attrs[name] or ""))
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "table":
            self.tables += 1
        if tag == "tr":
            self.rows += 1
        if tag == "svg":
            self._in_svg += 1
            if self._in_svg == 1:
                self.svgs.append(0)
        if tag == "title" and self._in_svg:
            self.svgs[-1] += 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self._in_svg -= 1

    def handle_data(self, data):
        self.text.append(data)


def _parse(path):
    page = _Page()
    with open(path, encoding="utf-8") as f:
        page.feed(f.read())
    return page


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = write_folder(tmp_path_factory.mktemp("res"), layers={"alexnet": alexnet_layers()})
    return folder, write_report(folder, os.path.join(folder, "report"))


DRAWN = ("top1_vs_operations", "top1_density", "evolution_of_depth", "fc_vs_conv", "latency_vs_macs", "time_vs_batch",
         "top1_vs_latency", "backend_comparison", "per_layer_alexnet")  # fmt: skip
NOT_DRAWN = {"memory_vs_batch": "--profile full", "memory_vs_params": "--profile full",
             "power_vs_batch": "energy: not measured", "top1_vs_energy": "energy: not measured",
             "roofline": "fraction_of_peak", "train_throughput": "task 'train'",
             "train_vs_inference": "task 'train'", "train_memory_vs_batch": "task 'train'",
             "update_time_vs_batch": "no network after ResNet"}  # fmt: skip


def test_files_written(report):
    _, paths = report
    for key in ("html", "markdown", "summary_csv"):
        assert os.path.getsize(paths[key]) > 0
    assert sorted(k[:-4] for k in paths if k.endswith(".png")) == sorted(DRAWN)
    assert set(DRAWN) | set(NOT_DRAWN) == {name for name, _t, _d in FIGURES} | {"per_layer_alexnet"}
    for name in DRAWN:
        for ext in ("png", "svg"):
            path = paths[f"{name}.{ext}"]
            assert path.endswith(os.path.join("figures", f"{name}.{ext}")) and os.path.getsize(path) > 1000
    with open(paths["top1_vs_operations.png"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_figures_with_nothing_to_compare_name_their_command(report):
    _, paths = report
    md = open(paths["markdown"], encoding="utf-8").read()
    titles = {name: title for name, title, _d in FIGURES}
    for name, words in NOT_DRAWN.items():
        line = next(x for x in md.splitlines() if x.startswith(f"- **{titles[name]}**: not drawn:"))
        assert words in line and "`archbench run " in line, line


def test_findings_and_fastest_sections(report):
    _, paths = report
    md = open(paths["markdown"], encoding="utf-8").read()
    findings = md.split("## Findings on this machine")[1].split("## Fastest way")[0]
    assert findings.count("\n- **") == 4  # operations, memory, power, accuracy vs time
    assert (
        "inference time** — cannot decide: no setting has 5 models with both a latency row and MACs"
        in findings
    )
    assert (
        "Memory is a fixed overhead plus a term proportional to the parameters** — cannot decide" in findings
    )
    assert (
        "To decide: `archbench run --models 'alexnet,googlenet,resnet18,resnet50,vgg16' --profile full"
        in findings
    )
    fastest = md.split("## Fastest way to run each model here")[1].split("## Figures")[0]
    assert "Every model ran one way only" in fastest and "--peers torchvision" in fastest
    html_text = open(paths["html"], encoding="utf-8").read()
    assert '<h2 id="findings">Findings on this machine</h2>' in html_text


def test_html_is_self_contained(report):
    _, paths = report
    page = _parse(paths["html"])
    assert "link" not in page.tags, "no external stylesheet"
    for tag, attr, url in page.urls:
        if tag == "a" and attr == "href":
            assert url.startswith("#"), f"link leaves the page: {url}"
        else:
            assert url.startswith("data:"), f"<{tag} {attr}> is not embedded: {url[:60]}"
        assert "http" not in url[:8] and not url.startswith("//")
    assert "<script src" not in open(paths["html"], encoding="utf-8").read()


def test_html_embeds_every_figure_and_table(report):
    folder, paths = report
    page = _parse(paths["html"])
    drawn = [k for k in paths if k.endswith(".png")]
    assert len(page.svgs) == len(drawn) == len(DRAWN) and not page.images
    # every point of every chart has its hover text: as many <title>s as points tagged when drawn
    tagged = [tagged_count(fig) for _n, _t, fig, _s in draw_figures(folder) if fig is not None]
    assert page.svgs == tagged and min(tagged) > 0
    text = "".join(page.text)
    # summary (narrow and full), one measurement table per task, failures, environments, models
    assert page.tables == 2 + 4 + 1 + 1 + 1
    for expected in ("cpu:0 (Test CPU)", "gpu:0 (Test GPU)", "E1", "E2", "3.15.0", "ResourceExhaustedError",
                     "VGG-19", "measured", "reference", "Russakovsky"):  # fmt: skip
        assert expected in text, expected
    html_text = open(paths["html"], encoding="utf-8").read()
    assert 'class="sortable"' in html_text and "addEventListener" in html_text


def test_every_measurement_shows_its_environment(report):
    _, paths = report
    html_text = open(paths["html"], encoding="utf-8").read()
    measurements = html_text.split('id="measurements"')[1].split('id="failures"')[0]
    body_rows = measurements.count("<tr>") - measurements.count("<thead><tr>")
    assert body_rows == len(result_rows())
    shown = 0
    for table in measurements.split("<table")[1:]:
        caption = table.split("<caption>")[1].split("</caption>")[0] if "<caption>" in table else ""
        rows = table.count("<tr>") - 1
        # a column with one value on every row is in the table's caption
        shown += rows if "env: E" in caption else table.count("<td>E1</td>") + table.count("<td>E2</td>")
    assert shown == len(result_rows())


def test_markdown_summary(report):
    _, paths = report
    md = open(paths["markdown"], encoding="utf-8").read()
    assert "| vgg16 | VGG-16 | VGG | 2014 | 138,357,544 | 15.470 | 16 |" in md
    assert "![Top-1 accuracy vs operations](figures/top1_vs_operations.png)" in md
    assert "| E2 | jax | gpu:0 (Test GPU) |" in md


def test_missing_inputs(tmp_path):
    with pytest.raises(ResultsFileError, match="results.csv: no such file"):
        write_report(tmp_path, tmp_path / "report")
    folder = write_folder(tmp_path / "nomodels", models=False,
                          results=result_rows(with_latency=False, with_accuracy=False))  # fmt: skip
    paths = write_report(folder, os.path.join(folder, "report"))
    text = open(paths["html"], encoding="utf-8").read()
    assert "models.csv is missing" in text
    assert "Evolution of depth (ILSVRC entries)</b>: not drawn: needs models.csv" in text
    assert (
        "Operations vs inference time</b>: not drawn: latency_vs_macs (latency task) needs column &#x27;median_ms&#x27; "
        "in results.csv; it has no values"
    ) in text
    assert "evolution_of_depth.png" not in paths and "fc_vs_conv.png" in paths


def test_cli(tmp_path):
    folder = write_folder(tmp_path / "res", results=result_rows(with_latency=False))
    result = CliRunner().invoke(cli, ["report", "--results", folder, "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert f"report: {tmp_path / 'r' / 'report.html'}" in result.output
    assert "figures: 4 (PNG + SVG)" in result.output
    result = CliRunner().invoke(cli, ["report", folder, "--out", str(tmp_path / "r2")])
    assert result.exit_code == 0 and f"report: {tmp_path / 'r2' / 'report.html'}" in result.output
    result = CliRunner().invoke(cli, ["report", folder, "--results", str(tmp_path / "other")])
    assert result.exit_code == 2 and "error: two results folders given" in result.output
    result = CliRunner().invoke(cli, ["report", "--results", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "error:" in result.output and "results.csv: no such file" in result.output


def test_report_from_a_real_run(tmp_path):
    """The runner's own output folder (tiny user models, params task) gives a report without error."""
    names = registry.load_model_file(os.path.join(HERE, "data", "user_models.py"))
    try:
        out = str(tmp_path / "run")
        r = CliRunner().invoke(cli, ["run", "--models", "tiny1,tiny2,broken", "--tasks", "params", "--out", out],
                               catch_exceptions=False)  # fmt: skip
        assert "report: " in r.output, r.output
        html_path = os.path.join(out, "report", "report.html")
        page = _parse(html_path)
        text = "".join(page.text)
        assert "tiny2" in text and "broken on purpose" in text
        assert (
            "Top-1 accuracy vs operations: not drawn: top1_vs_operations (x = MACs, macs task) needs column 'macs'"
            in text
        )
    finally:
        for n in names:
            registry.unregister_model(n)


def test_first_screen_answers_then_tables(report):
    """The page opens with top-1 vs operations and the roofline (or why there is none), then the
    findings with their numbers, then the tables."""
    folder, paths = report
    text = open(paths["html"], encoding="utf-8").read()
    first = text.split('<section class="first">')[1].split("</section>")[0]
    assert '<figure id="fig-top1_vs_operations">' in first
    assert "No roofline for this folder</b>:" in first and "fraction_of_peak" in first
    assert text.index('class="first"') < text.index('id="answer"') < text.index('id="summary"')
    answer = text.split('id="answer"')[1].split("</ul>")[0]
    assert answer.count("<li>") == 4
    for title in ("Fastest way per model on this machine", "Pareto front of top-1 vs latency",
                  "Pareto front of top-1 vs operations", "Since the lecture"):  # fmt: skip
        assert title in answer
    assert text.count('id="fig-top1_vs_operations"') == 1  # not repeated under Figures


def test_summary_is_narrow_filterable_with_constants_in_its_caption(tmp_path):
    """Columns holding one value on every row leave the summary for its caption; a filter box and
    the full table (in a <details>) come with it."""
    timed = ("lenet5", "alexnet", "vgg16", "resnet50", "googlenet")
    rows = [r for r in result_rows() if r["model"] in timed and r["settings"].get("backend", "tensorflow") == "tensorflow"]
    folder = write_folder(tmp_path / "res", results=rows, models=False)
    paths = write_report(folder, tmp_path / "out")
    text = open(paths["html"], encoding="utf-8").read()
    summary = text.split('id="summary"')[1].split('id="findings"')[0]
    narrow = summary.split('id="summary-table"')[1].split("</table>")[0]
    caption = narrow.split("<caption>")[1].split("</caption>")[0]
    assert caption.startswith("Every row: ") and "latency setting: tensorflow, cpu:0 (Test CPU), batch 1, float32" in caption
    header = narrow.split("<thead>")[1].split("</thead>")[0]
    assert "latency setting" not in header and "model" in header and "G-MACs" in header
    assert '<input type="search" class="filter" data-table="summary-table"' in summary
    assert "<details><summary>Full summary table" in summary and 'id="summary-full"' in summary
    assert 'document.querySelectorAll("input.filter")' in text


HIT_TEST = """<script>
window.addEventListener("load", function(){
  var pts = document.querySelectorAll("g.pt"), hit = 0;
  pts.forEach(function(g){
    var svg = g.closest("svg"), ok = false;
    svg.scrollIntoView({block: "center"});
    var r = g.getBoundingClientRect(), s = svg.getBoundingClientRect();
    var x = (Math.max(r.left, s.left) + Math.min(r.right, s.right)) / 2;
    var y0 = Math.max(r.top, s.top, 0), y1 = Math.min(r.bottom, s.bottom, window.innerHeight);
    [y0 + 0.5 * (y1 - y0), y0 + 0.2 * (y1 - y0), y0 + 0.8 * (y1 - y0), y0 + 2].forEach(function(y){
      var el = document.elementFromPoint(x, y);
      if (el && el.closest && el.closest("g.pt") === g) ok = true;
    });
    if (ok) hit++;
  });
  var out = document.createElement("pre");
  out.textContent = "HOVER points=" + pts.length + " hit=" + hit;
  document.body.appendChild(out);
});
</script></body>"""


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no headless browser at /usr/bin/chromium")
def test_every_point_is_under_the_pointer_in_a_browser(report, tmp_path):
    """In Chromium, the element under the centre of each point (or bar) is that point's titled group: the
    browser shows its model, value and source on hover (nothing drawn over it takes the pointer)."""
    _, paths = report
    page = tmp_path / "probe.html"
    page.write_text(open(paths["html"], encoding="utf-8").read().replace("</body>", HIT_TEST), encoding="utf-8")
    dom = subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--window-size=1400,900",
                          "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
                          "--dump-dom", "file://" + str(page)], check=True, timeout=180, capture_output=True, text=True).stdout  # fmt: skip
    points = open(paths["html"], encoding="utf-8").read().count('<g class="pt"')
    assert f"HOVER points={points} hit={points}" in dom and points > 50


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no headless browser at /usr/bin/chromium")
def test_headless_browser_renders_offline(report, tmp_path):
    _, paths = report
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--window-size=1400,900",
                    "--disable-background-networking", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                    f"--screenshot={shot}", "file://" + os.path.abspath(paths["html"])],
                   check=True, timeout=120, capture_output=True)  # fmt: skip
    assert shot.exists() and shot.stat().st_size > 10_000
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_report_sets_this_machine_beside_the_reference_machines(tmp_path):
    """A folder with a sibling ``reference/<machine>/`` gets a comparison table (latency here / there)."""
    import pandas as pd

    from archbench import analysis

    ref = tmp_path / "reference" / "machine-a"
    ref.mkdir(parents=True)
    here = tmp_path / "latest"
    here.mkdir()
    rows = [
        {"model": "vgg16", "task": "latency", "status": "ok", "run_id": "r", "key": "k1", "backend": "tensorflow",
         "device": "cpu:0", "dtype": "float32", "batch_size": 1, "median_ms": 200.0},
        {"model": "resnet18", "task": "latency", "status": "ok", "run_id": "r", "key": "k2", "backend": "tensorflow",
         "device": "cpu:0", "dtype": "float32", "batch_size": 1, "median_ms": 40.0},
    ]
    pd.DataFrame(rows).to_csv(ref / "results.csv", index=False)
    rows[0]["median_ms"] = 100.0
    pd.DataFrame(rows[:1]).to_csv(here / "results.csv", index=False)
    comp = analysis.compare_results({"latest": analysis.load_results(here), "machine-a": analysis.load_results(ref)})
    assert comp.table[["model", "latest: median (ms)", "machine-a: median (ms)", "machine-a: speed-up"]].values.tolist() == [
        ["vgg16", 100.0, 200.0, 0.5]
    ]
    paths = write_report(here, tmp_path / "out")
    text = open(paths["markdown"], encoding="utf-8").read()
    assert "## Beside the reference machines" in text and "machine-a" in text
    assert "| machine-a | resnet18 | 1 | float32 | tensorflow | only machine-a measured this model |" in text
    html_text = open(paths["html"], encoding="utf-8").read()
    beside = html_text.split('id="references"')[1].split('id="figures"')[0]
    assert '<th colspan="2">machine-a</th>' in beside and '<figure id="fig-compare">' in beside
