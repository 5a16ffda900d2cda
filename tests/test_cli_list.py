"""`archbench list`: registry metadata and golden counts, no model built, a table that fits 120 columns.

``data/list_expected.csv`` is ``archbench list --format csv`` as written by the implementation that
built every model, i.e. the registry's metadata joined with ``results/golden/params.csv``; a test
below checks it against the live registry, so it cannot go stale silently.
"""

import csv
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from archbench import catalog, registry
from archbench.cli import cli

HERE = os.path.dirname(__file__)
EXPECTED = os.path.join(HERE, "data", "list_expected.csv")
MODEL_FILE = os.path.join(HERE, "data", "user_models.py")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
HEADER = ["model", "year", "family", "params", "top-1 (ref)", "protocol", "top-1 source"]
ELLIPSIS = "\u2026"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    folder = str(tmp_path / "cache")
    monkeypatch.setenv(catalog.CACHE_ENV, folder)
    return folder


def expected_records():
    """The expectation with the types the JSON output carries."""
    out = []
    for r in csv.DictReader(open(EXPECTED, encoding="utf-8", newline="")):
        r["year"] = int(r["year"])
        r["params"] = int(r["params"]) if r["params"] else None
        r["top1_ref"] = float(r["top1_ref"]) if r["top1_ref"] else None
        out.append(r)
    return out


def invoke(*args):
    result = CliRunner().invoke(cli, ["list", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def parse_table(text):
    """Cells by the column spans of the dashed rule; the lines after the blank line are the notes."""
    lines = text.rstrip("\n").split("\n")
    blank = lines.index("")
    table, notes = lines[:blank], lines[blank + 1 :]
    spans, start = [], None
    for i, ch in enumerate(table[1] + " "):
        if ch == "-" and start is None:
            start = i
        elif ch != "-" and start is not None:
            spans.append((start, i))
            start = None
    spans[-1] = (spans[-1][0], None)
    cells = [[line[a:b].strip() for a, b in spans] for line in table]
    return cells[0], cells[2:], notes


def test_expectation_is_what_the_registry_and_golden_counts_give():
    assert catalog.render(catalog.catalog("*"), "csv") + "\n" == open(EXPECTED, encoding="utf-8").read()


def test_csv_and_json_are_the_old_output_with_whole_sources():
    assert invoke("--format", "csv") == open(EXPECTED, encoding="utf-8").read()
    assert json.loads(invoke("--format", "json")) == expected_records()


def test_table_has_the_columns_and_rows_and_fits_120_columns():
    text = invoke()
    assert all(len(line) <= catalog.LIST_WIDTH for line in text.split("\n"))
    header, rows, notes = parse_table(text)
    assert header == HEADER
    expected = expected_records()
    assert [r[0] for r in rows] == [e["name"] for e in expected]
    shortened = 0
    for row, e in zip(rows, expected, strict=True):
        params = f"{e['params']:,}" if e["params"] is not None else "-"
        top1 = f"{e['top1_ref']:.1f}" if e["top1_ref"] is not None else "-"
        protocol = catalog.short_protocol(e["top1_protocol"]) if e["top1_ref"] is not None else "-"
        assert row[:6] == [e["name"], str(e["year"]), e["family"], params, top1, protocol]
        source = e["top1_source"]
        if row[6] != source:
            assert row[6].endswith(ELLIPSIS) and source.startswith(row[6][:-1]), (row[6], source)
            shortened += 1
    assert shortened, "some sources are longer than the table allows: the test must see one cut"
    assert notes[:2] == [catalog.LIST_NOTE, catalog.LIST_NOTE_PROTOCOL] and catalog.LIST_NOTE_SHORTENED in notes


def test_alexnet_is_listed_with_its_single_crop_figure_protocol_and_source():
    _, rows, _ = parse_table(invoke("alexnet"))
    assert rows[0][:6] == ["alexnet", "2012", "AlexNet", "60,965,224", "57.1", "1-crop 227"]
    (record,) = json.loads(invoke("alexnet", "--format", "json"))
    assert record["top1_protocol"] == "single centre crop at 227 px" and record["top1_weights"] == "BVLC"
    assert record["top1_source"].startswith("BVLC Caffe models/bvlc_alexnet/readme.md")


def test_short_protocols():
    assert catalog.short_protocol("single centre crop at 299 px") == "1-crop 299"
    assert catalog.short_protocol("read off a chart") == "chart"
    assert catalog.short_protocol("10-crop") == "10-crop"
    assert catalog.short_protocol("") == "?"


def test_keras_wrappers_fit_and_say_why_params_are_missing():
    text = invoke("keras/*")
    assert all(len(line) <= catalog.LIST_WIDTH for line in text.split("\n"))
    _, rows, notes = parse_table(text)
    assert rows and all(r[0].startswith("keras/") and r[3] == "-" for r in rows)
    assert catalog.LIST_NOTE_NO_PARAMS in notes
    records = json.loads(invoke("keras/*", "--format", "json"))
    assert [r["name"] for r in records] == registry.list_models("keras/*")


@pytest.fixture
def zoo_not_imported(monkeypatch):
    """This process seen as a fresh one, where the zoo (and with it Keras) is not imported yet."""
    registry.list_models("*")
    monkeypatch.delitem(sys.modules, "archbench.models")


@pytest.fixture
def user_models():
    yield
    for name in [n for n in registry.list_models("*") if n.startswith("tiny") or n == "broken"]:
        registry.unregister_model(name)


def test_model_file_models_are_listed_without_building_them(user_models, monkeypatch):
    monkeypatch.setattr(registry.ModelSpec, "build", lambda self, **kw: pytest.fail(f"{self.name} built"))
    text = invoke("tiny*", "--model-file", MODEL_FILE)
    _, rows, notes = parse_table(text)
    assert [r[0] for r in rows] == [f"tiny{i}" for i in range(1, 7)]
    assert all(r[3] == "-" and r[4] == "-" and r[5] == "-" for r in rows)
    assert catalog.LIST_NOTE_NO_PARAMS in notes


def test_cache_is_used_and_rebuilt_when_its_key_changes(cache_dir, zoo_not_imported, monkeypatch):
    first = catalog.cached_catalog("vgg1*")
    files = os.listdir(cache_dir)
    assert len(files) == 1 and files[0].startswith("catalog-")

    def no_registry(*args, **kwargs):
        raise AssertionError("the registry was read although the cache holds the answer")

    monkeypatch.setattr(catalog, "list_models", no_registry)
    monkeypatch.setattr(catalog, "get_spec", no_registry)
    assert catalog.cached_catalog("vgg1*") == first
    monkeypatch.setattr(catalog, "_fingerprint", lambda: "another-key")
    with pytest.raises(AssertionError, match="registry was read"):
        catalog.cached_catalog("vgg1*")


def test_damaged_cache_is_rebuilt(cache_dir, zoo_not_imported):
    expected = catalog.catalog("resnet*")
    assert catalog.cached_catalog("resnet*") == expected
    (path,) = [os.path.join(cache_dir, f) for f in os.listdir(cache_dir)]
    with open(path, "w") as f:
        f.write('{"key": ')
    assert catalog.cached_catalog("resnet*") == expected


def test_a_fresh_process_answers_from_the_cache_without_importing_keras(cache_dir, zoo_not_imported):
    catalog.cached_catalog("*")  # what a first `archbench list` leaves behind
    code = (
        "import sys\n"
        "from archbench.cli import main\n"
        "sys.argv = ['archbench', 'list', '--format', 'csv']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print('keras imported:', 'keras' in sys.modules, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env={**ENV, catalog.CACHE_ENV: cache_dir},
                          capture_output=True, text=True, timeout=300, check=True)
    assert "keras imported: False" in proc.stderr, proc.stderr
    assert proc.stdout == open(EXPECTED, encoding="utf-8").read()


def test_unwritable_cache_folder_leaves_list_correct(tmp_path, zoo_not_imported, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(catalog.CACHE_ENV, str(blocker / "cache"))
    assert catalog.render(catalog.cached_catalog("*"), "csv") + "\n" == open(EXPECTED, encoding="utf-8").read()


def test_format_table_aligns_numbers_right_and_text_left():
    text = catalog.format_table(["name", "value"], [["a", "1,234"], ["bbbb", "-"], ["c", None]])
    assert text.split("\n") == ["name  value", "----  -----", "a     1,234", "bbbb  -", "c"]
    right = catalog.format_table(["x", "count"], [["aa", "7"]], right={1})
    assert right.split("\n") == ["x   count", "--  -----", "aa      7"]
    cut = catalog.format_table(["x"], [["abcdefgh"]], max_widths={0: 4})
    assert cut.split("\n") == ["x", "----", "abc" + ELLIPSIS]
