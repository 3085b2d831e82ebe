"""demos/bench_pass_threads.py --demo: the demo's passes on one and two threads, the same bits."""

import os
import subprocess
import sys

import numba
import pytest


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has one thread here")
def test_demo_passes_on_one_and_two_threads_give_the_same_bits(demos_dir):
    out = subprocess.run([sys.executable, os.path.join(demos_dir, "bench_pass_threads.py"), "--demo",
                          "mnist1d", "--rounds", "1", "--batch-size", "9"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("mnist1d demo, 4296 LUTs, batch 9, 40 cycles")
    assert lines[1].startswith("forward : 1 thread") and lines[2].startswith("backward: 1 thread")
    assert lines[3].endswith("the same bits")
