"""Latency statistics: the median's distribution-free interval, the stop rule on precision (fake clock),
load and steal stamps (fake load average and /proc/stat), and what makes a unit noisy."""

import random

import pytest

from archbench import benchmark as bm
from archbench.benchmark.config import DEFAULT
from archbench.benchmark.load import LoadMonitor, LoadStamps, read_cpu_ticks, steal_pct
from archbench.benchmark.timing import median_ci_ranks, precise_enough
from archbench.energy import EnergyMeter
from archbench.errors import UsageError


class FakeDevice:
    """A clock that only moves by the fake work: each call of ``fn`` takes the next duration."""

    def __init__(self, durations):
        self.t = 0.0
        self.durations = iter(durations)

    def clock(self):
        return self.t

    def fn(self):
        self.t += next(self.durations)
        return "out"

    def sync(self, out):
        pass


def _config(**kw):
    base = dict(warmup=0, min_iterations=10, min_time_s=1.0, max_time_s=10.0, max_iterations=10_000)
    base.update(kw)
    return bm.LatencyConfig(**base)


# -- the interval ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "ranks"),
    [(5, None), (6, (1, 6)), (10, (2, 9)), (20, (6, 15)), (50, (18, 33)), (100, (40, 61))],
)
def test_median_interval_ranks_match_the_binomial_tables(n, ranks):
    # Conover, Practical Nonparametric Statistics, table A3; n = 100: x(40) to x(61).
    assert median_ci_ranks(n) == ranks


def test_median_interval_ranks_cover_at_least_95_percent_and_are_the_narrowest():
    from math import comb

    def coverage(n, j):
        return 1 - 2 * sum(comb(n, i) for i in range(j)) / 2**n

    for n in range(6, 400):
        j, k = median_ci_ranks(n)
        assert k == n - j + 1
        assert coverage(n, j) >= 0.95 > coverage(n, j + 1)


def test_median_interval_ranks_agree_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    for n in range(6, 2000, 7):
        assert median_ci_ranks(n)[0] == int(stats.binom.ppf(0.025, n, 0.5))


def test_summary_interval_is_the_right_order_statistics():
    values = [float(v) for v in range(1, 101)]
    random.Random(0).shuffle(values)
    s = bm.summarize(values)
    assert (s["ci_low_ms"], s["ci_high_ms"]) == (40.0, 61.0)
    assert s["ci_rel"] == pytest.approx((61 - 40) / 2 / 50.5)
    assert bm.summarize([1.0, 2.0, 3.0, 4.0, 5.0])["ci_low_ms"] is None


# -- the stop rule, on a fake clock ---------------------------------------------------------------------


def test_stops_on_precision_when_the_interval_narrows():
    # Ten wide samples (five at 0.05 s, five at 0.15 s), then 0.1 s for ever. Up to n = 19 the interval
    # x(5)..x(15) still reaches from 0.05 to 0.15; from n = 20 it is x(6)..x(15) = 0.1..0.1.
    dev = FakeDevice([1.0] + [0.05, 0.15] * 5 + [0.1] * 100)
    timing = bm.time_function(dev.fn, _config(min_time_s=0.5), sync=dev.sync, clock=dev.clock)
    assert timing.stop_reason == "precision"
    assert len(timing.samples_s) == 20
    assert not precise_enough(timing.samples_s[:19], 0.02) and precise_enough(timing.samples_s, 0.02)


def test_precision_waits_for_the_minimum_time():
    dev = FakeDevice([1.0] + [0.125] * 100)
    timing = bm.time_function(
        dev.fn, _config(min_iterations=6, min_time_s=2.0), sync=dev.sync, clock=dev.clock
    )
    assert timing.stop_reason == "precision" and len(timing.samples_s) == 16  # 16 x 0.125 s = 2 s


def test_a_wide_distribution_runs_into_the_time_cap():
    # Alternating 0.25 s and 0.75 s: the interval spans half the median whatever n; 10 s pass at n = 20.
    dev = FakeDevice([1.0] + [0.25, 0.75] * 100)
    timing = bm.time_function(dev.fn, _config(max_time_s=10.0), sync=dev.sync, clock=dev.clock)
    assert timing.stop_reason == "time_cap"
    assert len(timing.samples_s) == 20 and sum(timing.samples_s) == 10.0


def test_a_looser_target_stops_the_same_samples_earlier():
    # 0.09 s and 0.11 s in turn: the interval is the median +-10 %, whatever n.
    durations = [1.0] + [0.09, 0.11] * 200
    dev = FakeDevice(durations)
    loose = bm.time_function(dev.fn, _config(ci_target=0.2, min_time_s=0.0), sync=dev.sync, clock=dev.clock)
    assert loose.stop_reason == "precision" and len(loose.samples_s) == 10
    dev = FakeDevice(durations)
    strict = bm.time_function(dev.fn, _config(min_time_s=0.0, max_time_s=5.0), sync=dev.sync, clock=dev.clock)
    assert strict.stop_reason == "time_cap" and len(strict.samples_s) == 50


def test_the_iteration_cap_still_holds():
    dev = FakeDevice([1.0] + [0.25, 0.75] * 100)
    timing = bm.time_function(dev.fn, _config(max_iterations=12), sync=dev.sync, clock=dev.clock)
    assert timing.stop_reason == "max_iterations" and len(timing.samples_s) == 12


def test_the_minimum_time_asked_for_outlasts_the_iteration_cap():
    # A 61 us (2**-14 s) model under the default cap of 10,000 calls: 9 s asked for are 9 x 2**14 calls.
    dev = FakeDevice([1.0] + [2.0**-14] * 200_000)
    config = DEFAULT.replace(min_time_s=9.0, max_time_s=12.0)
    timing = bm.time_function(dev.fn, config, sync=dev.sync, clock=dev.clock)
    assert config.max_iterations == 10_000 and timing.stop_reason == "max_iterations"
    assert len(timing.samples_s) == 9 * 2**14 and sum(timing.samples_s) == 9.0


def test_the_iteration_cap_counts_once_the_minimum_time_has_passed():
    # 1/1024 s and 3/1024 s in turn never get precise; 2 s are 512 pairs, then the cap of 100 stops it.
    dev = FakeDevice([1.0] + [2.0**-10, 3 * 2.0**-10] * 2_000)
    timing = bm.time_function(dev.fn, _config(min_time_s=2.0, max_iterations=100), sync=dev.sync, clock=dev.clock)
    assert timing.stop_reason == "max_iterations" and len(timing.samples_s) == 1_024 and sum(timing.samples_s) == 2.0


def test_cap_below_minimum_time_is_refused():
    with pytest.raises(UsageError, match="max_time_s"):
        bm.LatencyConfig(min_time_s=5.0, max_time_s=2.0)
    assert bm.max_time_for(1.0) == bm.DEFAULT_MAX_TIME_S and bm.max_time_for(20.0) == 20.0
    assert bm.max_time_for(1.0, 3.0) == 3.0


# -- load average and steal -----------------------------------------------------------------------------


def test_cpu_ticks_from_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 5 50 800 10 1 2 32 7 0\ncpu0 50 2 25 400 5 0 1 16 3 0\n")
    assert read_cpu_ticks(str(stat)) == (32, 1000)
    stat.write_text("cpu  100 5 50 800\n")  # a kernel without a steal column
    assert read_cpu_ticks(str(stat)) is None
    assert read_cpu_ticks(str(tmp_path / "missing")) is None


def test_steal_is_a_share_of_cpu_time_over_each_window():
    ticks = iter([(10, 1_000), (20, 2_000), (80, 3_000)])
    loads = iter([0.5, 1.5])
    monitor = LoadMonitor(loadavg=lambda: next(loads), ticks=lambda: next(ticks), cores=2)
    monitor.before()
    stamps = monitor.after()
    assert stamps == LoadStamps(
        load_before=0.5, load_after=1.5, steal_before=1.0, steal_after=6.0, cpu_count=2
    )
    assert stamps.busy, "6 % steal is a busy machine"
    assert steal_pct((0, 0), (5, 50)) is None, "too short a window says nothing"
    assert steal_pct(None, (5, 500)) is None


@pytest.mark.parametrize(
    ("load_before", "load_after", "steal", "busy"),
    [(1.0, 2.0, 0.0, False), (2.9, 1.0, 0.0, False), (3.5, 1.0, 0.0, True), (0.5, 3.01, None, True),
     (None, None, 4.9, False)],
)
def test_busy_means_more_load_than_cores_plus_one_or_steal_over_5_percent(load_before, load_after, steal, busy):
    assert LoadStamps(load_before, load_after, steal, steal, cpu_count=2).busy is busy


# -- noisy units --------------------------------------------------------------------------------------


def _measured(durations, load, **config):
    dev = FakeDevice(durations)
    monitor = LoadMonitor(loadavg=lambda: load, ticks=lambda: None, cores=2)
    return bm.measure_function(
        dev.fn, _config(**config), sync=dev.sync, clock=dev.clock, model="m", load=monitor
    )


@pytest.mark.parametrize(
    ("durations", "load", "noisy", "reason"),
    [
        ([1.0] + [0.1] * 200, 1.0, False, "precision"),  # quiet and precise
        ([1.0] + [0.1] * 200, 3.5, True, "precision"),  # precise, but another job beside the measurement
        ([1.0] + [0.05, 0.15] * 200, 1.0, True, "time_cap"),  # quiet, but the median is +-50 %
    ],
)
def test_a_busy_machine_or_a_wide_interval_makes_a_unit_noisy(durations, load, noisy, reason):
    row = _measured(durations, load).as_row()
    assert row["noisy"] is noisy and row["stop_reason"] == reason
    assert row["load_before"] == row["load_after"] == load and row["cpu_count"] == 2
    assert row["steal_before"] is None and row["steal_after"] is None
    assert row["ci_low_ms"] <= row["median_ms"] <= row["ci_high_ms"]
    assert row["iterations"] == len(_measured(durations, load).samples_ms)


# -- energy over the timed window ----------------------------------------------------------------------


def _rapl_tree(root, energy_uj=0):
    zone = root / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "max_energy_range_uj").write_text("262143328850\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    return zone / "energy_uj"


def test_energy_is_read_over_the_timed_window_only(tmp_path):
    counter = _rapl_tree(tmp_path)
    dev = FakeDevice([1.0] + [0.1] * 200)

    def fn():
        # each call spends 0.1 s and 2 J (20 W) on the fake counter
        counter.write_text(str(int(counter.read_text()) + 2_000_000))
        return dev.fn()

    def meter(kind, index, clock):
        return EnergyMeter(kind, rapl_root=str(tmp_path), clock=clock)

    r = bm.measure_function(fn, _config(batch_size=4), sync=dev.sync, clock=dev.clock, energy=meter)
    n = len(r.samples_ms)
    row = r.as_row()
    assert row["energy_available"] is True and row["energy_method"] == "rapl" and row["energy_reason"] == ""
    assert row["energy_j"] == pytest.approx(2.0 * n), "the first call is outside the window"
    assert row["power_w"] == pytest.approx(20.0)
    assert row["energy_j_per_image"] == pytest.approx(0.5)


def test_energy_not_available_says_why(tmp_path):
    dev = FakeDevice([1.0] + [0.1] * 200)

    def meter(kind, index, clock):
        return EnergyMeter(kind, rapl_root=str(tmp_path / "nothing"), clock=clock)

    row = bm.measure_function(dev.fn, _config(), sync=dev.sync, clock=dev.clock, energy=meter).as_row()
    assert row["energy_available"] is False and "missing" in row["energy_reason"]
    assert row["energy_j"] is None and row["power_w"] is None and row["energy_j_per_image"] is None
