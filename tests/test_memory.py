"""Measured memory: a real 200 MB allocation moves the probe's peak, stamps are ordered, the method is
named, the ru_maxrss fallback (in a fresh process) and GPU allocators (a fake one) behave as documented."""

import json
import os
import subprocess
import sys

import pytest

from archbench.errors import UsageError
from archbench.memory import MemoryProbe

MB = 1_000_000
CLEAR_REFS = os.access("/proc/self/clear_refs", os.W_OK) and os.path.exists("/proc/self/status")


_WINDOWS = """
import dataclasses, json
import numpy as np
from archbench.memory import MemoryProbe

MB = 1_000_000
probe = MemoryProbe()
probe.mark_baseline()
weights = np.ones(50 * MB // 8)  # ones, not empty: the pages must be touched to be resident
probe.mark_built()
with probe.inference():
    activations = np.ones(200 * MB // 8)
    del activations
first = probe.record()
del weights
with probe.inference():
    small = np.ones(20 * MB // 8)
    del small
second = probe.record()
print(json.dumps({"method": probe.method, "first": dataclasses.asdict(first), "row": first.as_row(),
                  "second": dataclasses.asdict(second)}))
"""


@pytest.fixture(scope="module")
def windows():
    """The probe's records of a 50 MB model and a 200 MB then 20 MB inference window, taken in a fresh
    interpreter: in this (large, multi-threaded) test process other threads free and touch pages between
    the stamps, so a 50 MB allocation can move the resident set by less than 50 MB."""
    from archbench.memory import MemoryRecord

    run = subprocess.run([sys.executable, "-c", _WINDOWS], capture_output=True, text=True, check=True)
    out = json.loads(run.stdout.strip().splitlines()[-1])
    return out["method"], MemoryRecord(**out["first"]), out["row"], MemoryRecord(**out["second"])


@pytest.mark.skipif(not CLEAR_REFS, reason="needs Linux /proc/self/clear_refs")
def test_a_200_mb_array_raises_the_peak_and_stamps_are_ordered(windows):
    method, rec, row, _ = windows
    assert method == "rss-hwm (clear_refs)"
    assert rec.device == "cpu" and rec.method == "rss-hwm (clear_refs)" and rec.peak_exact
    assert rec.baseline_bytes <= rec.built_bytes <= rec.peak_bytes
    assert rec.build_peak_bytes >= rec.built_bytes
    assert rec.model_bytes >= 45 * MB
    assert rec.peak_bytes - rec.built_bytes >= 190 * MB
    assert rec.peak_above_baseline_bytes >= 235 * MB
    assert (row["mem_method"], row["mem_peak_exact"]) == ("rss-hwm (clear_refs)", True)
    assert row["mem_peak_mb"] == (rec.peak_bytes - rec.baseline_bytes) / 1e6
    assert row["mem_model_mb"] == (rec.built_bytes - rec.baseline_bytes) / 1e6


@pytest.mark.skipif(not CLEAR_REFS, reason="needs Linux /proc/self/clear_refs")
def test_each_inference_window_has_its_own_peak(windows):
    _, first, _, second = windows
    assert first.peak_bytes - second.peak_bytes >= 150 * MB
    assert second.peak_exact


_FALLBACK = """
import json, os, sys
import numpy as np
from archbench.memory import MemoryProbe

if os.fork():  # Linux keeps ru_maxrss across exec: this process carries the parent's (pytest's) peak
    sys.exit(os.waitstatus_to_exitcode(os.wait()[1]))
probe = MemoryProbe(proc=sys.argv[1])
probe.mark_baseline()
probe.mark_built()
with probe.inference():
    a = np.ones(200_000_000 // 8); del a
first = probe.record()
with probe.inference():
    b = np.ones(20_000_000 // 8); del b
second = probe.record()
print(json.dumps([first.method, first.peak_above_baseline_bytes, first.peak_exact, second.peak_exact,
                  second.peak_bytes == first.peak_bytes]), flush=True)
os._exit(0)
"""


@pytest.mark.skipif(not CLEAR_REFS, reason="needs Linux /proc/self/status")
def test_without_clear_refs_the_lifetime_peak_is_used_and_said_so(tmp_path):
    """A freshly forked process (its lifetime peak is low) whose clear_refs cannot be written (a folder)."""
    (tmp_path / "status").symlink_to("/proc/self/status")  # resolved by the reading process: the child's
    (tmp_path / "clear_refs").mkdir()
    out = subprocess.run(
        [sys.executable, "-c", _FALLBACK, str(tmp_path)], capture_output=True, text=True, check=True
    )
    method, above, exact1, exact2, same = json.loads(out.stdout)
    assert method == "ru_maxrss (lifetime peak, not reset)"
    assert above >= 190 * MB
    assert exact1 is True  # the peak rose in the window: it is the window's own
    assert exact2 is False and same  # a smaller window cannot be seen under the earlier peak


class FakeAllocator:
    method = "fake allocator peak"

    def __init__(self, resettable=True):
        self.resettable = resettable
        self.in_use = 0
        self.high = 0

    def alloc(self, n):
        self.in_use += n
        self.high = max(self.high, self.in_use)

    def free(self, n):
        self.in_use -= n

    def current(self):
        return self.in_use

    def peak(self):
        return self.high

    def reset_peak(self):
        if self.resettable:
            self.high = self.in_use


@pytest.mark.parametrize("resettable", [True, False])
def test_gpu_stamps_come_from_the_allocator(resettable):
    gpu = FakeAllocator(resettable)
    gpu.alloc(1000)  # the framework's own buffers, before the model
    probe = MemoryProbe("gpu", allocator=gpu)
    probe.mark_baseline()
    gpu.alloc(5000)  # weights
    gpu.alloc(700)  # a temporary while building
    gpu.free(700)
    probe.mark_built()
    with probe.inference():
        gpu.alloc(3000)
        gpu.free(3000)
    rec = probe.record()
    assert (rec.device, rec.method) == ("gpu", "fake allocator peak")
    assert (rec.baseline_bytes, rec.built_bytes, rec.build_peak_bytes, rec.peak_bytes) == (
        1000,
        6000,
        6700,
        9000,
    )
    assert (rec.model_bytes, rec.peak_above_baseline_bytes) == (5000, 8000)
    assert rec.peak_exact


def test_unresettable_gpu_peak_is_marked_inexact_when_an_earlier_peak_hides_it():
    gpu = FakeAllocator(resettable=False)
    probe = MemoryProbe("gpu", allocator=gpu)
    probe.mark_baseline()
    gpu.alloc(9000)
    gpu.free(8000)
    probe.mark_built()
    with probe.inference():
        gpu.alloc(2000)
        gpu.free(2000)
    rec = probe.record()
    assert rec.peak_bytes == 9000 and not rec.peak_exact


def test_bad_use_is_a_usage_error():
    with pytest.raises(UsageError, match="cpu or gpu"):
        MemoryProbe("tpu")
    with pytest.raises(UsageError, match="framework"):
        MemoryProbe("gpu")
    with pytest.raises(UsageError, match="not 'mxnet'"):
        MemoryProbe("gpu", framework="mxnet")
    with pytest.raises(UsageError, match="mark_baseline"):
        MemoryProbe().mark_built()
