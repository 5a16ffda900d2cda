"""Energy counters: a fake RAPL tree (normal, wrapping, unreadable, missing, several packages) and a fake
NVML module (normal, counter not supported, library missing); readings are measured or say why not."""

import builtins
import itertools
import sys

import pytest

from archbench import energy
from archbench.energy import EnergyMeter, measure_energy
from archbench.errors import UsageError


def rapl_tree(root, packages, *, max_range=1_000_000_000):
    """``packages``: energy_uj of each package zone; also a core subzone and an MMIO zone, never summed."""
    root.mkdir(exist_ok=True)
    for i, uj in enumerate(packages):
        zone = root / f"intel-rapl:{i}"
        zone.mkdir()
        (zone / "name").write_text(f"package-{i}\n")
        (zone / "energy_uj").write_text(f"{uj}\n")
        (zone / "max_energy_range_uj").write_text(f"{max_range}\n")
        sub = root / f"intel-rapl:{i}:0"
        sub.mkdir()
        (sub / "name").write_text("core\n")
        (sub / "energy_uj").write_text("123456789\n")
    mmio = root / "intel-rapl-mmio:0"
    mmio.mkdir()
    (mmio / "energy_uj").write_text("5\n")
    return root


def set_uj(root, i, uj):
    (root / f"intel-rapl:{i}" / "energy_uj").write_text(f"{uj}\n")


def fake_clock(*times):
    it = iter(times)
    return lambda: next(it)


def test_rapl_normal_window(tmp_path):
    root = rapl_tree(tmp_path / "powercap", [10_000_000])
    meter = EnergyMeter("cpu", rapl_root=str(root), clock=fake_clock(100.0, 102.0))
    with meter:
        set_uj(root, 0, 13_000_000)
    r = meter.reading(images=60)
    assert r.available and r.counter == "rapl: package-0" and r.reason == ""
    assert r.joules == pytest.approx(3.0)
    assert r.seconds == pytest.approx(2.0)
    assert r.watts == pytest.approx(1.5)
    assert r.joules_per_image == pytest.approx(0.05)
    row = r.as_row()
    assert (row["energy_available"], row["energy_method"], row["energy_counter"]) == (
        True,
        "rapl",
        "rapl: package-0",
    )
    assert row["energy_j"] == pytest.approx(3.0) and row["power_w"] == pytest.approx(1.5)
    assert row["energy_j_per_image"] == pytest.approx(0.05)


def test_rapl_counter_wrapping_once_is_undone(tmp_path):
    root = rapl_tree(tmp_path / "powercap", [999_000_000], max_range=1_000_000_000)
    meter = EnergyMeter("cpu", rapl_root=str(root), clock=fake_clock(0.0, 1.0))
    with meter:
        set_uj(root, 0, 500_000)
    assert meter.reading().joules == pytest.approx(1.5)


def test_rapl_packages_are_summed_and_subzones_left_out(tmp_path):
    root = rapl_tree(tmp_path / "powercap", [1_000_000, 7_000_000])
    meter = EnergyMeter("cpu", rapl_root=str(root), clock=fake_clock(0.0, 4.0))
    with meter:
        set_uj(root, 0, 3_000_000)
        set_uj(root, 1, 13_000_000)
    r = meter.reading(images=4)
    assert r.counter == "rapl: package-0, package-1"
    assert r.joules == pytest.approx(8.0)
    assert r.watts == pytest.approx(2.0) and r.joules_per_image == pytest.approx(2.0)


def test_rapl_missing_tree(tmp_path):
    r = EnergyMeter("cpu", rapl_root=str(tmp_path / "nope")).reading(images=1)
    assert not r.available and r.joules is None and r.watts is None and r.joules_per_image is None
    assert r.reason == f"RAPL not readable: {tmp_path / 'nope'} missing"
    row = r.as_row()
    assert (row["energy_available"], row["energy_method"], row["energy_j"], row["power_w"]) == (
        False,
        "",
        None,
        None,
    )
    assert row["energy_reason"] == f"RAPL not readable: {tmp_path / 'nope'} missing"


def test_rapl_tree_without_package_zones(tmp_path):
    (tmp_path / "powercap" / "dtpm").mkdir(parents=True)
    r = EnergyMeter("cpu", rapl_root=str(tmp_path / "powercap")).reading()
    assert r.reason.startswith("RAPL not readable: no intel-rapl zones under")


def test_rapl_permission_denied(tmp_path, monkeypatch):
    """As Linux >= 5.10 answers an unprivileged reader (root reads anything, so open() is refused here)."""
    root = rapl_tree(tmp_path / "powercap", [1])
    denied = str(root / "intel-rapl:0" / "energy_uj")

    def refusing_open(path, *args, **kwargs):
        if str(path) == denied:
            raise PermissionError(13, "Permission denied", path)
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(energy, "open", refusing_open, raising=False)
    meter = EnergyMeter("cpu", rapl_root=str(root))
    with meter:
        pass
    r = meter.reading(images=10)
    assert not r.available
    assert r.reason == f"RAPL not readable: permission denied on {denied}"


def test_rapl_file_unreadable_midway(tmp_path):
    root = rapl_tree(tmp_path / "powercap", [1_000])
    meter = EnergyMeter("cpu", rapl_root=str(root), clock=fake_clock(0.0, 1.0))
    with meter:
        set_uj(root, 0, "garbage")
    r = meter.reading(images=1)
    assert not r.available and r.joules is None
    assert r.reason.startswith(f"RAPL not readable: {root / 'intel-rapl:0' / 'energy_uj'}:")


class FakeNVML:
    """The few pynvml calls archbench makes; the counter advances ``step_mj`` per read."""

    class NVMLError(Exception):
        pass

    def __init__(self, start_mj=50_000, step_mj=2_500, supported=True, init_error=None):
        self.counter = itertools.count(start_mj, step_mj)
        self.supported = supported
        self.init_error = init_error
        self.open = 0

    def nvmlInit(self):
        if self.init_error:
            raise self.NVMLError(self.init_error)
        self.open += 1

    def nvmlShutdown(self):
        self.open -= 1

    def nvmlDeviceGetHandleByIndex(self, index):
        if index != 0:
            raise self.NVMLError("Invalid Argument")
        return "handle0"

    def nvmlDeviceGetName(self, handle):
        return "NVIDIA H200"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.supported:
            raise self.NVMLError("Not Supported")
        return next(self.counter)


def test_nvml_normal_window():
    nvml = FakeNVML()
    meter = EnergyMeter("gpu", nvml=nvml, clock=fake_clock(0.0, 0.5))
    with meter:
        pass
    r = meter.reading(images=256)
    assert r.available and r.counter == "nvml: gpu0 (NVIDIA H200)" and r.method == "nvml total energy"
    assert r.joules == pytest.approx(2.5)
    assert r.watts == pytest.approx(5.0)
    assert r.joules_per_image == pytest.approx(2.5 / 256)
    assert nvml.open == 0


def test_nvml_counter_not_supported():
    nvml = FakeNVML(supported=False)
    r = EnergyMeter("gpu", nvml=nvml).reading(images=1)
    assert not r.available
    assert r.reason == "NVML energy counter not readable on gpu0 (NVIDIA H200): Not Supported"
    assert nvml.open == 0


def test_nvml_library_missing_or_no_such_gpu(monkeypatch):
    r = EnergyMeter("gpu", nvml=FakeNVML(init_error="NVML Shared Library Not Found")).reading()
    assert r.reason == "NVML not usable: NVML Shared Library Not Found"
    assert (
        EnergyMeter("gpu", gpu_index=3, nvml=FakeNVML()).reading().reason
        == "NVML has no GPU 3: Invalid Argument"
    )
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert EnergyMeter("gpu").reading().reason == "no NVML (nvidia-ml-py not installed)"


def test_measure_energy_runs_a_window_and_counts_images(tmp_path):
    root = rapl_tree(tmp_path / "powercap", [0])
    calls = []

    def fn():
        calls.append(1)
        set_uj(root, 0, 400_000 * len(calls))  # 0.4 J per call

    clock = itertools.count(0.0, 0.25).__next__  # every reading of the clock advances 0.25 s
    r = measure_energy(
        fn, lambda out: None, images_per_call=8, rapl_root=str(root), min_time_s=1.0, clock=clock
    )
    assert r.available
    # clock reads: enter 0.0, start 0.25, after the calls 0.5 0.75 1.0 1.25 (1.25 - 0.25 >= 1: stop), exit 1.5
    assert len(calls) == 4 and r.images == 32
    assert r.joules == pytest.approx(1.6) and r.joules_per_image == pytest.approx(0.05)
    assert r.seconds == pytest.approx(1.5)


def test_measure_energy_without_a_counter_runs_nothing(tmp_path):
    calls = []
    r = measure_energy(
        lambda: calls.append(1), lambda out: None, images_per_call=1, rapl_root=str(tmp_path / "x")
    )
    assert not r.available and calls == []


def test_bad_device_is_a_usage_error():
    with pytest.raises(UsageError, match="cpu or gpu"):
        EnergyMeter("tpu")


def test_this_machine_gives_a_reading_or_a_reason():
    meter = EnergyMeter("cpu")
    with meter:
        sum(range(100_000))
    r = meter.reading(images=1)
    if r.available:
        assert r.joules >= 0 and r.seconds > 0
    else:
        assert r.reason.startswith("RAPL not readable: ") and r.joules is None
