"""The GPU engine: its CPU-side logic and kernel source (emulated on the CPU), then the real thing.

Tests marked ``gpu`` need CuPy and a CUDA device and are skipped with a visible reason otherwise.
The emulation tests compile ``kernels/bitsliced_infer.cu`` as C++ with one thread per block
(``tests/cuda_emulation.h``) and check it bit for bit against the reference engine, so the kernel's
indexing, ring buffer, refractory gate and argument order are tested on every machine with g++.
"""

from pathlib import Path

import numpy as np
import pytest

from spikelut.xp import gpu_available
from spikelut.engine import gpu, reference
from spikelut.engine.bitpack import pack
from spikelut.engine.plan import build_plan
from spikelut.network import Layer, Network, Readout
from spikelut.wiring import random_network

from helpers import EMULATED_SMEM, cuda_emulation_library, emulate_infer

TESTS = Path(__file__).parent
KERNELS = TESTS.parent / "kernels"

needs_gpu = pytest.mark.skipif(not gpu_available(),
                               reason="no usable GPU: CuPy is not installed or sees no CUDA device")


def _random_case(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    net = random_network(seed, n_in=int(rng.integers(1, 7)), sizes=[int(rng.integers(1, 30)), 5],
                         k=[k, int(rng.integers(2, 7))], max_delay=int(rng.integers(0, 5)),
                         refractory=[int(rng.integers(0, 4)), int(rng.integers(0, 4))], classes=3)
    B = int(rng.choice([1, 31, 33, 64, 65, 130]))
    T = int(rng.integers(1, 9))
    x = (rng.random((T, B, net.n_in)) < 0.4).astype(np.uint8)
    return net, x


# ----------------------------------------------------------------------------- CPU-side logic
def test_kernel_source_ships_in_package():
    src = gpu.kernel_source()
    assert "spikelut_infer(" in src and gpu.INFER.name == "spikelut_infer"
    assert src == (KERNELS / gpu.KERNEL_FILE).read_text()


def test_launch_config_shared_and_global():
    net = random_network(0, n_in=10, sizes=[1000, 300], k=6, max_delay=2)
    plan = build_plan(net)
    ring = plan.depth * plan.n_signals * 4
    assert ring == 3 * 1310 * 4
    cfg = gpu.launch_config(plan, w32=128, smem_limit=227 * 1024)
    assert cfg == gpu.Launch(grid=128, block=1000 // 32 * 32 + 32, smem_bytes=ring, use_smem=True,
                             ghist_words=0)
    cfg = gpu.launch_config(plan, w32=7, smem_limit=ring - 1)
    assert cfg == gpu.Launch(grid=7, block=1024, smem_bytes=0, use_smem=False,
                             ghist_words=7 * 3 * 1310)
    assert gpu.launch_config(build_plan(random_network(0, 2, [5, 1], k=2)), 1, 0).block == 32


def test_to_word_major_splits_uint64_words_in_sample_order():
    rng = np.random.default_rng(3)
    x = (rng.random((3, 100, 4)) < 0.5).astype(np.uint8)
    w = gpu.to_word_major(pack(x), 100)
    assert w.shape == (3, 4, 4) and w.dtype == np.uint32
    for b in range(100):
        np.testing.assert_array_equal((w[:, b // 32, :] >> np.uint32(b % 32)) & 1, x[:, b, :])


def test_kernel_args_order_and_types():
    net = random_network(2, n_in=3, sizes=[4, 2], k=3, max_delay=1, refractory=[0, 2])
    plan = build_plan(net, record="readout")
    inp = np.zeros((5, 2, 3), np.uint32)
    cfg = gpu.launch_config(plan, 2, 0)
    args, out = gpu.kernel_args(plan, inp, cfg)
    assert len(args) == 17 and args[1] is out and out.shape == (5, 2, 2)
    assert [a.dtype for a in args[:8]] == [np.uint32, np.uint32, np.uint32, np.int32, np.int32,
                                           np.uint64, np.int32, np.int32]
    assert args[2].size == 2 * plan.depth * plan.n_signals
    assert args[7].tolist() == [[0, 4, 3, 0], [4, 6, 3, 2]]
    assert [int(v) for v in args[8:]] == [5, 2, 3, 6, 2, plan.depth, 2, 0, 1]  # tw = 1 word


# ----------------------------------------------------------------------------- emulated kernel
@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    lib = cuda_emulation_library(tmp_path_factory.mktemp("emu"), "cuda_emulation_infer.cpp",
                                 "the CUDA kernel", gpu.compile_spec())
    lib.emulate_infer.restype = None
    return lib.emulate_infer


# both history paths: in global memory (smem_limit = 0) and in (emulated) shared memory
PATHS = {"global": 0, "shared": EMULATED_SMEM}


@pytest.fixture(params=list(PATHS))
def smem_limit(request):
    return PATHS[request.param]


def _emulate(fn, net, x, record="all", smem_limit=0):
    plan, spikes = emulate_infer(fn, net, x, record, smem_limit)
    # the path under test is the one launch_config really picked
    assert gpu.launch_config(plan, -(-x.shape[1] // 32), smem_limit).use_smem == (smem_limit > 0)
    return plan, spikes


@pytest.mark.parametrize("seed", range(12))
def test_emulated_kernel_equals_reference(emulator, seed, smem_limit):
    net, x = _random_case(seed)
    ref = reference.simulate(net, x)
    _, spikes = _emulate(emulator, net, x, smem_limit=smem_limit)
    for i, (a, b) in enumerate(zip(ref.layer_spikes, spikes)):
        np.testing.assert_array_equal(a, b, err_msg=f"layer {i}")


def test_emulated_kernel_records_only_readout(emulator, smem_limit):
    net, x = _random_case(40)
    ref = reference.simulate(net, x)
    plan, spikes = _emulate(emulator, net, x, record="readout", smem_limit=smem_limit)
    assert plan.recorded == [1] and spikes[0] is None
    np.testing.assert_array_equal(spikes[1], ref.layer_spikes[1])


def test_emulated_kernel_refractory_pulse(emulator, smem_limit):
    # copy the input, R = 2: a held-high input gives a pulse every third cycle
    layer = Layer(np.array([[0, 1, 0, 1]], np.uint8), [[-1, -1]], [[0, 0]], [[0, 1]], refractory=2)
    net = Network(1, [layer], Readout(0, [0], 1))
    _, spikes = _emulate(emulator, net, np.ones((8, 40, 1), np.uint8), smem_limit=smem_limit)
    assert spikes[0][:, 39, 0].tolist() == [1, 0, 0, 1, 0, 0, 1, 0]
    assert (spikes[0] == spikes[0][:, :1]).all()


# ----------------------------------------------------------------------------- real GPU
@pytest.mark.gpu
@needs_gpu
def test_gpu_bounds_its_working_memory_before_copying_to_the_device(monkeypatch):
    """cp.asarray copied the whole input to the device before any check; now the input and
    recorded spikes are bounded on the host first, as the bit-sliced engine bounds them."""
    import cupy as cp

    from spikelut.errors import ShapeError

    net, _ = _random_case(0)
    x = np.zeros((50, 4096, net.n_in), np.uint8)
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(1 << 16))
    before = cp.get_default_memory_pool().used_bytes()
    with pytest.raises(ShapeError, match=r"^simulate: 50 cycles x 4096 samples need "):
        gpu.simulate(net, x)
    assert cp.get_default_memory_pool().used_bytes() == before


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("seed", range(8))
def test_gpu_equals_reference(seed):
    net, x = _random_case(seed)
    ref = reference.simulate(net, x)
    res = gpu.simulate(net, x).to_numpy()
    for a, b in zip(ref.layer_spikes, res.layer_spikes):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ref.counts, res.counts)
    np.testing.assert_array_equal(ref.pred, res.pred)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("smem_limit", [None, 0])
def test_gpu_wide_network_shared_and_global_history(monkeypatch, smem_limit):
    monkeypatch.setattr(gpu, "SMEM_LIMIT", smem_limit)
    net = random_network(5, n_in=64, sizes=[3000, 2000, 40], k=6, max_delay=3, refractory=[1, 0, 2],
                         classes=4)
    x = (np.random.default_rng(5).random((12, 300, 64)) < 0.3).astype(np.uint8)
    ref = reference.simulate(net, x)
    res = gpu.simulate(net, x).to_numpy()
    for a, b in zip(ref.layer_spikes, res.layer_spikes):
        np.testing.assert_array_equal(a, b)


@pytest.mark.gpu
@needs_gpu
def test_gpu_engine_registry_and_cupy_in_cupy_out():
    import cupy as cp

    from spikelut.engine import get_engine

    net, x = _random_case(3)
    run = get_engine("auto", "gpu")
    assert (run.engine, run.device) == ("gpu", "gpu")
    res = run(net, cp.asarray(x))
    assert isinstance(res.pred, cp.ndarray)
    np.testing.assert_array_equal(res.pred.get(), reference.simulate(net, x).pred)


@pytest.mark.gpu
@needs_gpu
def test_gpu_torch_cuda_tensor_in_torch_tensor_out():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: DLPack round trip not tested")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA here")
    from spikelut.engine import get_engine

    net, x = _random_case(4)
    res = get_engine("gpu", "gpu")(net, torch.from_numpy(x).cuda())
    assert isinstance(res.pred, torch.Tensor) and res.pred.is_cuda
    np.testing.assert_array_equal(res.pred.cpu().numpy(), reference.simulate(net, x).pred)
