"""The bit-sliced engine's thread count: the default rule, and bit-exact results for 1, 2, 3 threads."""

import hashlib
import os
import subprocess
import sys
import threading

import numba
import numpy as np
import pytest

from spikelut.engine import bitsliced, reference
from spikelut.threads import ThreadTuner, others_running, spare_cpus, usable_cpus
from spikelut.wiring import random_network

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# three slices of MIN_CHUNK_WORDS words and a ragged end: 3 threads get 33, 33 and 32 words
SAMPLES = 3 * bitsliced.MIN_CHUNK_WORDS * 64 + 5

SCRIPT = f"""
import hashlib, numpy as np
from spikelut.engine import bitsliced
from spikelut.wiring import random_network
net = random_network(4, n_in=6, sizes=[30, 20, 10], k=6, max_delay=3, refractory=[1, 2, 0],
                     recurrent=True)
x = (np.random.default_rng(4).random((12, {SAMPLES}, 6)) < 0.4).astype(np.uint8)
for th in (1, 2, 3):
    spikes = bitsliced.simulate(net, x, threads=th).layer_spikes
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(s).tobytes() for s in spikes)).hexdigest()
    print(th, bitsliced.choose_threads(60, 12, -(-{SAMPLES} // 64), th), digest)
"""


def _digest(layer_spikes) -> str:
    return hashlib.sha256(b"".join(np.ascontiguousarray(s).tobytes() for s in layer_spikes)).hexdigest()


def test_one_two_three_threads_give_identical_spikes():
    # numba runs at most NUMBA_NUM_THREADS threads (the CPU count), so 3 threads need a process
    # started with NUMBA_NUM_THREADS=3; the reference engine gives the expected spikes
    env = dict(os.environ, NUMBA_NUM_THREADS="3",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    net = random_network(4, n_in=6, sizes=[30, 20, 10], k=6, max_delay=3, refractory=[1, 2, 0],
                         recurrent=True)
    x = (np.random.default_rng(4).random((12, SAMPLES, 6)) < 0.4).astype(np.uint8)
    want = _digest(reference.simulate(net, x).layer_spikes)
    # 97 words: one thread runs two slices (at most MAX_CHUNK_WORDS each), 2 and 3 threads one each
    assert out.stdout.splitlines() == [f"1 (1, 2) {want}", f"2 (2, 2) {want}", f"3 (3, 3) {want}"]


def test_default_rule():
    words = 2 * bitsliced.MIN_CHUNK_WORDS
    big = int(bitsliced.MIN_PARALLEL_EVALS) // (32 * 64 * words) + 1   # nodes just above the work limit
    top = numba.get_num_threads()
    assert bitsliced.choose_threads(big, 32, words, spare=8) == (min(2, top), min(2, top))
    assert bitsliced.choose_threads(big, 32, words, spare=1) == (1, 1)         # machine busy
    assert bitsliced.choose_threads(big - 1, 32, words, spare=8) == (1, 1)     # too little work
    assert bitsliced.choose_threads(10 * big, 32, words - 1, spare=8) == (1, 1)  # slices too narrow
    # wide batches: slices of at most MAX_CHUNK_WORDS words, shared by the threads
    assert bitsliced.choose_threads(big, 32, 5 * bitsliced.MAX_CHUNK_WORDS, threads=1) == (1, 5)
    # an explicit count is kept (up to numba's maximum), whatever the load
    assert bitsliced.choose_threads(1, 1, words, threads=2, spare=1) == \
        (min(2, numba.config.NUMBA_NUM_THREADS),) * 2


@pytest.mark.parametrize("text, others", [("0.5 0.6 0.7 1/300 99", 0), ("9.1 4.0 2.0 5/412 7", 4),
                                          ("", None), ("1 2 3 x/9 4", None)])
def test_others_running_reads_the_instant_count(text, others):
    assert others_running(text) == others


def test_spare_cpus():
    n = usable_cpus()
    assert spare_cpus("1 1 1 1/100 5") == n
    assert spare_cpus(f"1 1 1 {n}/100 5") == 1
    assert spare_cpus(f"1 1 1 {n + 7}/100 5") == 1
    assert spare_cpus("unreadable") == n


def test_the_tuner_gives_a_thread_count_while_another_thread_measures_again():
    """Two Python threads training the same network share kernels_cpu.TUNER. Thread A is past
    its check that a count is chosen and has counted its pass; before it reads the count back,
    thread B (the pass that reaches ``reprobe``) starts a new measurement. A must still get 1 or
    the rule's count, not None (which numba_team(None) turns into a TypeError). The interleaving
    is forced: a hook on the tuner's state runs B inside A's ``choose``."""
    tuner = ThreadTuner(trials=1, reprobe=1)
    for _ in range(2):  # measured: one thread faster
        q = tuner.choose("k", 2)
        tuner.record("k", q, 2, 1.0 if q == 1 else 2.0)
    other = []
    b = threading.Thread(target=lambda: other.append(tuner.choose("k", 2)))

    class Interleave(dict):
        def __setitem__(self, name, value):
            super().__setitem__(name, value)
            if name == "runs" and value == 1 and b.ident is None:
                b.start()     # A has counted its pass: B's choose runs now
                b.join(0.5)   # (while A holds a lock, B waits for it)

    tuner._state[("k", 2)] = Interleave(tuner._state[("k", 2)])
    got = tuner.choose("k", 2)
    b.join(5)
    assert got == 1
    assert other == [1]  # B measures again, starting with one thread


def test_the_tuner_needs_a_trial():
    """trials = 0 chose the faster count from an empty list (statistics.median raised at the
    first recorded pass)."""
    with pytest.raises(ValueError, match="trials"):
        ThreadTuner(trials=0)
    with pytest.raises(ValueError, match="reprobe"):
        ThreadTuner(reprobe=-1)


def test_our_own_runnable_threads_are_not_others():
    # a thread of this process that runs without the GIL (a numba worker finishing a region)
    # is runnable: the caller's count of others subtracts it
    import threading
    import time

    from numba import njit

    from spikelut import threads

    @njit(nogil=True)
    def spin(n):
        x = 0
        for i in range(n):
            x = (x * 1103515245 + i) & 0xFFFFFFF
        return x

    spin(10)
    started = threading.Event()

    def busy():
        started.set()
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            spin(2_000_000)  # ~milliseconds without the GIL

    t = threading.Thread(target=busy)
    t.start()
    started.wait()
    try:
        counts = [threads._own_running() for _ in range(50)]
    finally:
        t.join()
    assert max(counts) >= 2  # the caller and the busy thread
    assert threads._own_running() >= 1
    # with the file's text given, only the caller is ours
    assert others_running("0.1 0.1 0.1 2/99 1") == 1
