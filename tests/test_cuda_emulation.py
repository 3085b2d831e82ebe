"""The CUDA kernels' index width, host-side checks and buffer sizes, on the CPU (no GPU needed).

* 64-bit ring offsets in ``kernels/bitsliced_infer.cu``: a ring of more than 2**31 words, run
  through the C++ emulation built with AddressSanitizer and UBSan (an int32 product there is a
  "signed integer overflow" report), and :func:`spikelut.engine.gpu.check_indices`, which
  accepts everything within :mod:`spikelut.limits` and refuses what the kernel cannot index;
* the sanitized emulation on both history paths (shared and global memory) and of the training
  kernels;
* :func:`spikelut.train.kernels_gpu.forward` refuses non-0/1 inputs and tables and an empty
  batch before launching anything;
* the backward kernels' tap differences take ``k * 2**k`` entries per node, not ``K_MAX * 2**k``.
"""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from spikelut import limits
from spikelut.engine import gpu
from spikelut.engine.plan import build_plan
from spikelut.errors import ShapeError
from spikelut.xp import gpu_available
from spikelut.train import bptt, kernels_gpu
from spikelut.train.surrogates import get_surrogate
from spikelut.wiring import random_network

from helpers import build_cuda_emulation, cuda_emulation_library, emulated_train_launch, run_sanitized


# ------------------------------------------------------------------ index range (launch checks)
def _stub_plan(n_in, n_nodes, depth, n_layers=1, n_recorded=1, tw=1):
    """What check_indices / launch_config read from a plan, at sizes no test could allocate."""
    return SimpleNamespace(n_in=n_in, n_nodes=n_nodes, n_signals=n_in + n_nodes, depth=depth,
                           n_layers=n_layers, n_recorded=n_recorded,
                           table_words=np.zeros((1, tw), np.uint64),
                           layer_lo=np.array([0]), layer_hi=np.array([n_nodes]))


def test_everything_within_the_limits_fits_the_inference_kernel():
    # the largest network spikelut.limits lets through, at the largest batch and cycle count: every
    # int parameter fits, and its ring offsets pass int32 (so the kernel must use 64 bits)
    depth = max(limits.MAX_DELAY, limits.MAX_REFRACTORY) + 1
    plan = _stub_plan(limits.MAX_INPUTS, limits.MAX_NODES, depth, limits.MAX_LAYERS,
                      limits.MAX_NODES, 1 << (limits.MAX_K - 6))
    w32 = -(-limits.MAX_SAMPLES // 32)
    assert depth * plan.n_signals > 2**31 - 1
    gpu.check_indices(plan, w32)
    cfg = gpu.launch_config(plan, w32, smem_limit=227 * 1024)
    assert (cfg.use_smem, cfg.ghist_words) == (False, w32 * depth * plan.n_signals)
    # T cycles of input: T * W32 * n_in words can pass 2**63 only for an array of more than
    # 2**65 bytes; the largest input the file readers allow (limits.DEFAULT_MAX_ARRAY_BYTES of
    # 0/1 bytes, packed 8 per byte into words) is far inside, with every dimension at its limit
    words = limits.DEFAULT_MAX_ARRAY_BYTES // 4
    gpu.check_indices(plan, w32, steps=max(1, min(limits.MAX_CYCLES, words // (w32 * plan.n_in))))
    gpu.check_indices(_stub_plan(limits.MAX_INPUTS, 1, 2), 1, steps=limits.MAX_CYCLES)


def test_sizes_the_kernel_cannot_index_are_refused_in_one_line():
    with pytest.raises(ShapeError) as e:
        gpu.check_indices(_stub_plan(4, 8, 3), 1, steps=2**31)
    assert str(e.value) == ("GPU engine: 2147483648 cycles (T) is more than the kernel's int "
                            "limit of 2147483647")
    with pytest.raises(ShapeError) as e:
        gpu.launch_config(_stub_plan(4, 8, 2**31), 1, smem_limit=0)
    assert str(e.value) == ("GPU engine: 2147483648 history slots (depth) is more than the "
                            "kernel's int limit of 2147483647")
    with pytest.raises(ShapeError) as e:  # each an int, the global ring not even a long long
        gpu.launch_config(_stub_plan(2**30, 2**30, 2**30), 2**30, smem_limit=0)
    assert str(e.value) == (f"GPU engine: {2**91} global history words (W32 * depth * signals) "
                            f"is more than the kernel's 64-bit index limit of {2**63 - 1}")


def test_kernel_args_refuses_before_allocating():
    plan = dataclasses.replace(build_plan(random_network(0, n_in=2, sizes=[3], k=2)), depth=2**31)
    with pytest.raises(ShapeError, match=r"^GPU engine: 2147483648 history slots \(depth\)"):
        gpu.kernel_args(plan, np.zeros((1, 1, 2), np.uint32), gpu.Launch(1, 32, 0, False, 1))


def test_training_grid_over_cuda_limit_is_refused():
    assert kernels_gpu._grid(2**24, 2**15 - 1) == 2**31 - 2**16  # the largest that fits: no error
    with pytest.raises(ShapeError) as e:
        kernels_gpu._grid(limits.MAX_NODES_PER_LAYER, limits.MAX_SAMPLES)
    assert str(e.value) == ("GPU training: a layer of 16777216 nodes x batch 16777216 needs "
                            "1099511627776 blocks of 256 threads, more than CUDA's 2147483647; "
                            "use the fused kernels or a smaller batch")


# ------------------------------------------------------------------ sanitized emulation
@pytest.fixture(scope="module")
def san_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("san")


def _sanitized(san_dir, source, spec, code):
    so = build_cuda_emulation(san_dir, source, "the CUDA kernels with sanitizers", spec,
                              sanitize=True)
    r = run_sanitized(san_dir, code.replace("LIBRARY", repr(str(so))))
    assert r.returncode == 0, r.stderr[-4000:]
    return r.stdout


_INFER_PRELUDE = """
import ctypes, dataclasses
import numpy as np
from helpers import EMULATED_SMEM, emulate_infer
from spikelut.engine import gpu, reference
from spikelut.engine.plan import build_plan
from spikelut.network import Layer, Network, Readout
from spikelut.wiring import random_network
fn = ctypes.CDLL(LIBRARY).emulate_infer
fn.restype = None
"""


def test_sanitized_ring_index_past_int32(san_dir):
    # One node reading input 0 at delay 1 (refractory 1) among 32,769 inputs, run with a ring of
    # 65,536 slots: at t = 0 the tap and the gate read slot 65,535, word 65,535 * 32,770 >= 2**31
    # of the global ring (8.6 GB of lazily zeroed pages; the kernel touches a few). An int32
    # product there overflows (UBSan) or reads before the buffer (ASan).
    out = _sanitized(san_dir, "cuda_emulation_infer.cpp", gpu.compile_spec(), _INFER_PRELUDE + """
n_in = 32769
layer = Layer(np.array([[0, 1]], np.uint8), [[-1]], [[0]], [[1]], refractory=1)
net = Network(n_in, [layer], Readout(0, [0], 1))
x = np.zeros((3, 1, n_in), np.uint8)
x[:, 0, 0] = 1
plan = dataclasses.replace(build_plan(net, steps=3), depth=65536)  # a deeper ring: same result
assert 65535 * plan.n_signals > 2**31 and not gpu.launch_config(plan, 1, 0).use_smem
_, spikes = emulate_infer(fn, net, x, plan=plan)
print(spikes[0][:, 0, 0].tolist(), reference.simulate(net, x).layer_spikes[0][:, 0, 0].tolist())
""")
    assert out.split("\n")[-2] == "[0, 1, 0] [0, 1, 0]"


def test_sanitized_inference_on_both_history_paths(san_dir):
    out = _sanitized(san_dir, "cuda_emulation_infer.cpp", gpu.compile_spec(), _INFER_PRELUDE + """
for smem in (0, EMULATED_SMEM):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        net = random_network(seed, n_in=5, sizes=[20, 7, 3], k=[6, 3, 2], max_delay=3,
                             refractory=[2, 0, 1], classes=3)
        x = (rng.random((7, 45, 5)) < 0.4).astype(np.uint8)
        plan, spikes = emulate_infer(fn, net, x, smem_limit=smem)
        assert gpu.launch_config(plan, 2, smem).use_smem == (smem > 0)
        for a, b in zip(reference.simulate(net, x).layer_spikes, spikes):
            np.testing.assert_array_equal(a, b)
        print("ok", "shared" if smem else "global", seed)
""")
    assert out.count("ok shared") == out.count("ok global") == 3


def test_sanitized_training_kernels_with_mixed_k(san_dir):
    out = _sanitized(san_dir, "cuda_emulation_train.cpp", kernels_gpu.compile_spec(), """
import ctypes
import numpy as np
from helpers import emulated_train_launch
from spikelut.train import bptt, kernels_gpu
from spikelut.train.surrogates import get_surrogate
from spikelut.wiring import random_network
launch = emulated_train_launch(ctypes.CDLL(LIBRARY))
rng = np.random.default_rng(1)
net = random_network(1, n_in=4, sizes=[6, 5, 3], k=[1, 9, 3], max_delay=2, refractory=[1, 2, 0],
                     classes=3)
plan = bptt.compile_plan(net)
x = (rng.random((5, 3, 4)) < 0.5).astype(np.uint8)
thetas = [rng.normal(0, 0.3, l.table.shape).astype(np.float32) for l in net.layers]
g = [rng.normal(0, 1, (5, 3, l.n)).astype(np.float32) for l in net.layers]
sg = get_surrogate("fast_sigmoid")
fa = bptt.forward(plan, bptt.tables_of(thetas), x)
for fused in (True, False):
    fb = kernels_gpu.forward(plan, bptt.tables_of(thetas), x, launch=launch, fused=fused)
    np.testing.assert_array_equal(fa.hist, fb.hist)
    for mode in ("block", "full"):
        ra, ia = bptt.backward(plan, thetas, fa, g, sg, mode, "tanh", 2, input_grad=True)
        rb, ib = kernels_gpu.backward(plan, thetas, fb, g, sg, mode, "tanh", 2, input_grad=True,
                                      launch=launch, fused=fused)
        for p, q in zip(ra, rb):
            np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ia, ib, rtol=1e-4, atol=1e-5)
        print("ok", fused, mode)
""")
    assert out.count("ok ") == 4


# ------------------------------------------------------------------ training: host-side checks
@pytest.fixture(scope="module")
def train_launch(tmp_path_factory):
    return emulated_train_launch(cuda_emulation_library(
        tmp_path_factory.mktemp("emu"), "cuda_emulation_train.cpp", "the CUDA training kernels",
        kernels_gpu.compile_spec()))


def _never(name, grid, block, args):
    raise AssertionError(f"{name} launched with grid {grid}")


def _small_case(seed=0, ks=(3, 2)):
    rng = np.random.default_rng(seed)
    net = random_network(seed, n_in=3, sizes=[5, 2], k=list(ks), max_delay=2, refractory=[1, 0],
                         classes=2)
    plan = bptt.compile_plan(net)
    thetas = [rng.normal(0, 0.3, layer.table.shape).astype(np.float32) for layer in net.layers]
    x = (rng.random((4, 6, 3)) < 0.5).astype(np.uint8)
    return net, plan, thetas, x


@pytest.mark.parametrize("fused", [True, False])
def test_forward_refuses_inputs_that_are_not_spikes(fused):
    _, plan, thetas, x = _small_case()
    tables = bptt.tables_of(thetas)
    bad = x.copy()
    bad[1, 2, 0] = 2
    for xx in (bad, x.astype(np.float32) * 0.5, x.astype(np.int32) - 1):
        with pytest.raises(ShapeError) as e:
            kernels_gpu.forward(plan, tables, xx, launch=_never, fused=fused)
        assert str(e.value) == "input spikes must be 0 or 1"
    with pytest.raises(ShapeError) as e:  # a batch of 0 would be a grid of 0
        kernels_gpu.forward(plan, tables, x[:, :0], launch=_never, fused=fused)
    assert str(e.value) == "input spikes need T >= 1 and B >= 1, got T=4, B=0"
    with pytest.raises(ShapeError) as e:  # the message every training backend gives
        kernels_gpu.forward(plan, tables, x[:, :, :2], launch=_never, fused=fused)
    assert str(e.value) == "input spikes must be [T, B, 3], got shape (4, 6, 2)"


@pytest.mark.parametrize("bad", [2, 256, 0.5, -1, np.nan])
def test_forward_refuses_tables_that_are_not_0_or_1(bad):
    _, plan, thetas, x = _small_case()
    tables = [t.astype(np.float64 if isinstance(bad, float) else np.int64)
              for t in bptt.tables_of(thetas)]
    tables[1][1, 3] = bad  # 256 and -1 would wrap to 0 and 255 in a uint8 cast
    with pytest.raises(ShapeError) as e:
        kernels_gpu.forward(plan, tables, x, launch=_never)
    assert str(e.value) == "tables[1] entries must be 0 or 1 (a deployed table is theta > 0)"


def test_forward_accepts_bool_and_integer_tables(train_launch):
    _, plan, thetas, x = _small_case()
    ref = bptt.forward(plan, bptt.tables_of(thetas), x)
    for tables in ([th > 0 for th in thetas], [(th > 0).astype(np.int64) for th in thetas],
                   [(th > 0).astype(np.float32) for th in thetas]):
        fwd = kernels_gpu.forward(plan, tables, x, launch=train_launch)
        np.testing.assert_array_equal(fwd.hist, ref.hist)


# ------------------------------------------------------------------ training: tap differences
@pytest.mark.parametrize("fused", [True, False])
def test_tap_differences_take_k_rows_per_layer(train_launch, fused):
    # layers of k = 1 and 9 (uint16 addresses): the buffer is sum n * k * 2**k entries, and
    # the gradients are the reference's
    net, plan, thetas, x = _small_case(4, ks=(1, 9))
    seen = {}

    def launch(name, grid, block, args):
        if name in (kernels_gpu.BACKWARD, kernels_gpu.BACKWARD_FUSED):
            spec = kernels_gpu.BACKWARD_FUSED_SPEC if fused else kernels_gpu.BACKWARD_SPEC
            seen["diffs"] = args[spec.names.index("diffs")].size
        train_launch(name, grid, block, args)

    rng = np.random.default_rng(4)
    g = [rng.normal(0, 1, (4, 6, layer.n)).astype(np.float32) for layer in net.layers]
    sg = get_surrogate("fast_sigmoid")
    fa = bptt.forward(plan, bptt.tables_of(thetas), x)
    fb = kernels_gpu.forward(plan, bptt.tables_of(thetas), x, launch=launch, fused=fused)
    ra, ia = bptt.backward(plan, thetas, fa, g, sg, "full", "identity", 0, input_grad=True)
    rb, ib = kernels_gpu.backward(plan, thetas, fb, g, sg, "full", "identity", 0, input_grad=True,
                                  launch=launch, fused=fused)
    assert seen["diffs"] == 5 * 1 * 2 + 2 * 9 * 512
    for p, q in zip(ra, rb):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ia, ib, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ the same on a real GPU
@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(),
                    reason="no usable GPU: CuPy is not installed or sees no CUDA device")
def test_gpu_ring_index_past_int32(monkeypatch):
    # test_sanitized_ring_index_past_int32 on the device: a global ring of 65,536 x 32,770 words
    # (8.6 GB, zeroed by the host's allocation); an int32 offset would read the wrong slot
    from spikelut.engine import reference
    from spikelut.network import Layer, Network, Readout

    n_in = 32769
    layer = Layer(np.array([[0, 1]], np.uint8), [[-1]], [[0]], [[1]], refractory=1)
    net = Network(n_in, [layer], Readout(0, [0], 1))
    x = np.zeros((3, 1, n_in), np.uint8)
    x[:, 0, 0] = 1
    real = gpu.build_plan
    monkeypatch.setattr(gpu, "build_plan", lambda *a, **kw: dataclasses.replace(
        real(*a, **kw), depth=65536))
    assert 65535 * (n_in + 1) > 2**31
    res = gpu.simulate(net, x).to_numpy()
    assert res.layer_spikes[0][:, 0, 0].tolist() == \
        reference.simulate(net, x).layer_spikes[0][:, 0, 0].tolist() == [0, 1, 0]
