"""`archbench explain`: the lecture's worked examples, through the click command and the library."""

import numpy as np
import pytest
from click.testing import CliRunner

from archbench import explain as ex
from archbench._cli.explain import command
from archbench.errors import UsageError


@pytest.fixture(scope="module")
def run():
    runner = CliRunner()

    def _run(*args):
        return runner.invoke(command, list(args))

    return _run


def _ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_pooling_reproduces_the_lecture(run):
    out = _ok(run("pooling"))
    assert "input 5 x 5, window 3 x 3, stride 1 -> output 3 x 3" in out
    max_part = out.split("max pooling (keras MaxPooling2D):\n")[1]
    assert max_part.startswith("  3.00  3.00  3.00\n  3.00  3.00  3.00\n  3.00  2.00  3.00\n")
    avg_part = out.split("average pooling (keras AveragePooling2D):\n")[1]
    assert avg_part.startswith("  1.67  1.67  1.67\n  1.00  1.22  1.78\n  1.11  0.78  1.33\n")
    assert "1/9 = 0.11 to each of the 9 inputs" in out
    assert "    (2,1) = 2.00 <- (2,2)" in out  # the only window whose maximum is 2 (TF: first of the ties)
    assert "  0.33  0.67  1.00  0.67  0.33" in out  # the centre is in all 9 windows: 9 x 1/9


@pytest.mark.smoke
def test_pooling_gradients_from_autodiff():
    r = ex.pooling_example()
    np.testing.assert_array_equal(r.max, [[3, 3, 3], [3, 3, 3], [3, 2, 3]])
    np.testing.assert_allclose(
        np.round(r.avg, 2), [[1.67, 1.67, 1.67], [1.0, 1.22, 1.78], [1.11, 0.78, 1.33]]
    )
    assert r.max_grad.sum() == 9 and set(np.unique(r.max_grad)) <= {0, 1, 2, 3}
    for (i, j), (row, col) in r.max_routes:
        assert i <= row < i + 3 and j <= col < j + 3
        assert r.input[row, col] == r.max[i, j]
    if r.backend == "tensorflow":  # (1, 3) is the only maximum of 1 window, the first of tied ones in 2 of 3
        assert r.max_grad[1, 3] == 3
    counts = np.array([[1, 2, 3, 2, 1], [2, 4, 6, 4, 2], [3, 6, 9, 6, 3], [2, 4, 6, 4, 2], [1, 2, 3, 2, 1]])
    np.testing.assert_allclose(r.avg_grad, counts / 9, rtol=1e-6)


@pytest.mark.parametrize(
    "text", ["1,2,3,4;5,6,7,8;9,10,11,12;13,14,15,16", "[[1,2,3,4],[5,6,7,8],[9,10,11,12],[13,14,15,16]]"]
)
def test_pooling_user_input(run, text):
    out = _ok(run("pooling", "--input", text, "--pool", "2", "--stride", "2"))
    assert "input 4 x 4, window 2 x 2, stride 2 -> output 2 x 2" in out
    assert "   6.00   8.00\n  14.00  16.00\n" in out
    assert "   3.50   5.50\n  11.50  13.50\n" in out
    assert "    (1,1) = 16.00 <- (3,3)" in out
    assert "1/4 = 0.25" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["--input", "1,2,3;4,5"], "ragged matrix: row 2 has 2 values, row 1 has 3"),
        (["--input", "1,2;3,x"], "'x' in row 2 is not a number"),
        (["--input", "[[1,2],[3]]"], "ragged matrix: row 2 has 1 value, row 1 has 2"),
        (["--input", "[[1,2],[3,"], "the matrix is not valid JSON"),
        (["--input", "[1,2]"], "a JSON matrix must be a non-empty list of rows"),
        (["--input", "1,nan;2,3"], "is not a finite number"),
        (["--input", "1,,2;3,4,5"], "'' in row 1 is not a number"),
        (["--input", "1,2;3,4", "--pool", "3"], "a 3 x 3 window does not fit a 2 x 2 input"),
        (["--stride", "0"], "the stride (--stride) must be a positive integer, got 0"),
        (["--pool", "-1"], "the pooling window (--pool) must be a positive integer, got -1"),
        (
            ["--units", "3"],
            "option --units does not apply to topic 'pooling' (its options: --input, --pool, --stride)",
        ),
    ],
)
def test_pooling_rejects_malformed_input(run, args, message):
    result = run("pooling", *args)
    assert result.exit_code != 0
    assert isinstance(result.exception, UsageError)
    assert message in str(result.exception)
    assert "\n" not in str(result.exception)


def test_errors_are_one_line_with_exit_code_2_through_the_cli():
    cli = pytest.importorskip("archbench.cli")
    result = CliRunner().invoke(cli.cli, ["explain", "pooling", "--input", "1,2;3", "--pool", "2"])
    assert result.exit_code == 2
    assert "error: ragged matrix: row 2 has 1 value, row 1 has 2" in result.output
    result = CliRunner().invoke(cli.cli, ["explain", "bogus"])
    assert result.exit_code == 2
    assert (
        "error: unknown topic 'bogus'; choose from pooling, fc-vs-conv, conv-arithmetic, gap" in result.output
    )


def test_unknown_topic_lists_the_topics(run):
    result = run("receptive")
    assert isinstance(result.exception, UsageError)
    assert (
        str(result.exception)
        == "unknown topic 'receptive'; choose from pooling, fc-vs-conv, conv-arithmetic, gap"
    )


def test_fc_vs_conv_lecture_numbers(run):
    out = _ok(run("fc-vs-conv"))
    assert "(512^2 + 1) * 64 = 16,777,280  (keras Dense: 16,777,280)" in out
    assert "(7^2 + 1) * 64   = 3,200  (keras Conv2D: 3,200)" in out


@pytest.mark.parametrize(
    "size,units,kernel,channels,fc,conv",
    [
        (512, 64, 7, 1, 16_777_280, 3_200),
        (32, 10, 3, 3, 30_730, 280),
        (224, 4096, 11, 3, 616_566_784, 1_490_944),
    ],
)
def test_fc_vs_conv_any_sizes(size, units, kernel, channels, fc, conv):
    r = ex.fc_vs_conv(size, units, kernel, channels)
    assert (r.fc_formula, r.conv_formula, r.conv_built) == (fc, conv, conv)
    assert r.fc_built == (fc if fc <= ex.MAX_BUILD_PARAMS else None)


def test_fc_vs_conv_options_and_errors(run):
    out = _ok(run("fc-vs-conv", "--image-size", "32", "--units", "10", "--kernel", "3", "--channels", "3"))
    assert "(32^2 * 3 + 1) * 10 = 30,730  (keras Dense: 30,730)" in out
    assert "(3^2 * 3 + 1) * 10  = 280  (keras Conv2D: 280)" in out
    result = run("fc-vs-conv", "--kernel", "9", "--image-size", "8")
    assert "a 9 x 9 kernel does not fit a 8 x 8 image" in str(result.exception)


def test_conv_arithmetic_default_table(run):
    out = _ok(run("conv-arithmetic"))
    rows = {
        line.split("  ")[1].strip(): line
        for line in out.splitlines()
        if line.startswith("  ") and "x 64" in line
    }
    expected = {
        "standard": ("36,928", "33,177,600"),
        "depthwise-separable": ("4,736", "4,204,800"),
        "grouped": ("9,280", "8,294,400"),
        "spatially separable": ("24,640", "22,855,680"),
        "1x1 bottleneck": ("10,320", "9,342,976"),
        "dilated": ("36,928", "28,901,376"),
        "sparse": ("36,928 (18,496 non-zero)", "16,588,800"),
        "deformable": ("47,314", "42,508,800"),
    }
    for name, (params, macs) in expected.items():
        line = next(v for k, v in rows.items() if k == name)
        assert f"  {params}  " in line and f"  {macs}  " in line, line
    assert "      3  26 x 26  7 x 7               1" in out


def test_conv_arithmetic_receptive_field_and_sizes():
    r = ex.conv_arithmetic(input_size=32, kernel=3, stride=2, padding=1, layers=3)
    assert [(s.output_size, s.receptive_field, s.jump) for s in r.steps] == [
        (16, 3, 2),
        (8, 7, 4),
        (4, 15, 8),
    ]
    r = ex.conv_arithmetic(
        input_size=15,
        kernel=3,
        dilation=2,
        padding="same",
        layers=2,
        in_channels=8,
        out_channels=16,
        groups=2,
    )
    assert [(s.output_size, s.receptive_field) for s in r.steps] == [(15, 5), (15, 9)]
    by_name = {v.name: v for v in r.variants}
    assert by_name["standard"].macs == 15 * 15 * 9 * 8 * 16
    assert by_name["grouped"].macs == 15 * 15 * 9 * 4 * 16
    assert by_name["depthwise-separable"].params == 9 * 8 + 8 * 16 + 16
    assert by_name["1x1 bottleneck"].macs == 15 * 15 * (8 * 2 + 9 * 2 * 16)
    assert by_name["dilated"].receptive_field == 5


@pytest.mark.parametrize(
    "args,message",
    [
        (["--stride", "2", "--dilation", "2"], "stride > 1 together with a dilation > 1"),
        (["--groups", "3"], "--groups 3 must divide both"),
        (["--padding", "wide"], "padding must be 'valid', 'same' or a number of pixels"),
        (["--kernel", "40"], "does not fit an input of 32"),
        (["--kernel", "5", "--layers", "8"], "layer 8 of 8: a 5 x 5 window no longer fits the 4 x 4 map"),
        (["--sparsity", "1.5"], "--sparsity must be in [0, 1)"),
    ],
)
def test_conv_arithmetic_errors(run, args, message):
    result = run("conv-arithmetic", *args)
    assert isinstance(result.exception, UsageError), result.output
    assert message in str(result.exception)


def test_gap_head(run):
    out = _ok(run("gap"))
    assert "Flatten + Dense head (built for 32 x 32): 25,578 params, head 20,490 = (2,048 + 1) * 10" in out
    assert "on a 64 x 64 input it fails in layer 'fc_dense'" in out
    assert "Flatten gives 16 x 16 x 32 = 8,192 features instead of 2,048" in out
    assert "global-average-pooling head: 5,418 params, head 330 = (32 + 1) * 10" in out
    assert "64 x 64 input -> output (1, 10)" in out
    assert "parameter saving: 20,160 (78.8 % of the Flatten + Dense network)" in out


def test_gap_library_record():
    r = ex.gap_example(input_size=16, larger=24, classes=5)
    assert r.fc_error is not None and r.fc_error_layer == "fc_dense"
    assert r.fc_head_params == (4 * 4 * 32 + 1) * 5 and r.gap_head_params == (32 + 1) * 5
    assert r.gap_outputs == {16: (1, 5), 24: (1, 5)}
    with pytest.raises(UsageError):
        ex.gap_example(input_size=32, larger=32)
