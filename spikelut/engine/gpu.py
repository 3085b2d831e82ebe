"""The CuPy GPU engine: bit-sliced inference with the whole time loop fused into one kernel.

The CUDA source is ``kernels/bitsliced_infer.cu`` (installed as ``spikelut.kernels``), compiled
at first use by ``cupy.RawModule`` (NVRTC) and cached by CuPy. Each block owns one 32-sample
word and runs every cycle and every layer for it, threads splitting each layer's nodes,
``__syncthreads()`` between layers; the history ring sits in shared memory when it fits (see
:func:`launch_config`). This module only packs, marshals and launches: the numpy-side pieces
(:func:`launch_config`, :func:`kernel_args`, :func:`to_word_major`) are plain functions so they
are tested without a GPU, and ``tests/test_gpu.py`` also runs the kernel source itself on the
CPU through a C++ emulation of one-thread blocks.

Example:
    >>> import numpy as np                                   # doctest: +SKIP
    >>> from spikelut.wiring import random_network           # doctest: +SKIP
    >>> from spikelut.engine import gpu                      # doctest: +SKIP
    >>> net = random_network(0, n_in=8, sizes=[64, 4], k=6)  # doctest: +SKIP
    >>> res = gpu.simulate(net, np.ones((10, 100, 8), np.uint8))  # doctest: +SKIP
    >>> res.pred.get().shape                                 # doctest: +SKIP
    (100,)
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ShapeError
from ..lowering import Lowered, lower
from ..network import K_MAX, Network
from ..xp import require_gpu
from .bitpack import n_words, pack
from .kernel_spec import CompileSpec, KernelSpec, cupy_module, defines
from .plan import Plan, build_plan, recorded_layers, split_recorded
from .result import SimResult, check_spikes, readout

KERNEL_FILE = "bitsliced_infer.cu"
KERNEL_NAME = "spikelut_infer"
MAX_THREADS = 1024
#: the parameters of ``spikelut_infer`` in signature order (checked against the source by a test)
INFER = KernelSpec(KERNEL_NAME, (
    ("const unsigned int*", "inp"), ("unsigned int*", "out"), ("unsigned int*", "ghist"),
    ("const int*", "tap_sig"), ("const int*", "tap_dly"), ("const unsigned long long*", "table"),
    ("const int*", "rec_row"), ("const int*", "layer"),
    ("int", "T"), ("int", "W32"), ("int", "n_in"), ("int", "N"), ("int", "m"), ("int", "depth"),
    ("int", "n_rec"), ("int", "use_smem"), ("int", "tw"),
))
# shared memory per block without opting in (CUDA's default limit)
DEFAULT_SMEM = 48 * 1024
# tests set this to force the global-memory history path; None = the device's opt-in maximum
SMEM_LIMIT: int | None = None
# the kernel's int parameters and its grid (gridDim.x) are at most this
INT32_MAX = 2**31 - 1
# its array offsets are long long / unsigned long long products (bitsliced_infer.cu)
INT64_MAX = 2**63 - 1


def kernel_source(name: str = KERNEL_FILE) -> str:
    """Text of a CUDA source shipped in the ``spikelut.kernels`` package.

    In a source checkout the repository's ``kernels/`` wins, so the sources next to this code are
    the ones compiled even when another checkout is the installed (editable) one.
    """
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file() and (repo / "kernels" / name).is_file():
        return (repo / "kernels" / name).read_text()
    return resources.files("spikelut.kernels").joinpath(name).read_text()


def compile_spec() -> CompileSpec:
    """Source, NVRTC options and kernels of ``kernels/bitsliced_infer.cu`` as :func:`simulate`
    compiles it (``tests/test_nvrtc.py`` compiles exactly this for sm_80 and sm_90).

    Example:
        >>> compile_spec().options
        ('--std=c++14', '-DSPIKELUT_K_MAX=12', '-DSPIKELUT_MAX_THREADS=1024')
    """
    return CompileSpec(KERNEL_FILE, kernel_source(KERNEL_FILE),
                       ("--std=c++14",) + defines({"SPIKELUT_K_MAX": K_MAX,
                                                   "SPIKELUT_MAX_THREADS": MAX_THREADS}),
                       (), (INFER,))


@dataclass(frozen=True)
class Launch:
    """Grid, block and shared-memory size of one kernel launch."""

    grid: int
    block: int
    smem_bytes: int
    use_smem: bool
    ghist_words: int  # uint32 words of global history needed when not in shared memory


def check_indices(plan: Plan, w32: int, steps: int | None = None) -> None:
    """Refuse a run whose sizes the kernel cannot index: an ``int`` parameter (``T``, ``W32``,
    ``n_in``, ``N``, ``m``, ``depth``, ``n_rec``, ``tw``) over ``2**31 - 1``, or a 64-bit offset
    (``W32 * depth * n_signals`` into the global ring, ``T * W32 * n`` into the input and the
    output) over ``2**63 - 1``. Everything within :mod:`spikelut.limits` passes (tested); ring
    offsets of such networks pass ``2**31``, which the kernel computes in 64 bits.

    Args:
        plan: the run's plan (``steps`` cycles).
        w32: 32-sample words (the grid).
        steps: cycles ``T``; ``None`` leaves out the checks that need it.

    Raises:
        ShapeError: one line naming the size that does not fit and its limit.

    Example:
        >>> from spikelut.wiring import random_network
        >>> check_indices(build_plan(random_network(0, n_in=4, sizes=[8], k=2)), 2**31)
        Traceback (most recent call last):
        ...
        spikelut.errors.ShapeError: GPU engine: 2147483648 sample words (W32 = ceil(batch / 32)) is more than the kernel's int limit of 2147483647
    """
    ints = {"sample words (W32 = ceil(batch / 32))": w32, "input channels": plan.n_in,
            "nodes": plan.n_nodes, "layers": plan.n_layers, "history slots (depth)": plan.depth,
            "recorded nodes": plan.n_recorded, "table words per node": plan.table_words.shape[1]}
    if steps is not None:
        ints = {"cycles (T)": steps, **ints}
    for what, v in ints.items():
        if int(v) > INT32_MAX:
            raise ShapeError(f"GPU engine: {int(v)} {what} is more than the kernel's int limit "
                             f"of {INT32_MAX}")
    offsets = {"global history words (W32 * depth * signals)":
               int(w32) * int(plan.depth) * int(plan.n_signals)}
    if steps is not None:
        widest = max(int(plan.n_in), int(plan.n_recorded))
        offsets["input/output words (T * W32 * channels)"] = int(steps) * int(w32) * widest
    for what, v in offsets.items():
        if v > INT64_MAX:
            raise ShapeError(f"GPU engine: {v} {what} is more than the kernel's 64-bit index "
                             f"limit of {INT64_MAX}")


def launch_config(plan: Plan, w32: int, smem_limit: int, max_threads: int = MAX_THREADS,
                  warp: int = 32) -> Launch:
    """Geometry for ``w32`` sample words: one block per word, threads over the widest layer.

    The ring (``depth * n_signals`` words of 4 bytes) goes to shared memory when it fits in
    ``smem_limit`` bytes (the device's opt-in maximum), else to global memory.

    Raises:
        ShapeError: the kernel cannot index this many words or signals (:func:`check_indices`).

    Example:
        >>> from spikelut.wiring import random_network
        >>> p = build_plan(random_network(0, n_in=4, sizes=[100, 3], k=3, max_delay=1))
        >>> launch_config(p, w32=5, smem_limit=48 * 1024)
        Launch(grid=5, block=128, smem_bytes=856, use_smem=True, ghist_words=0)
    """
    check_indices(plan, w32)
    widest = int((plan.layer_hi - plan.layer_lo).max())
    block = min(max_threads, max(warp, -(-widest // warp) * warp))
    ring_bytes = plan.depth * plan.n_signals * 4
    if ring_bytes <= smem_limit:
        return Launch(w32, block, ring_bytes, True, 0)
    return Launch(w32, block, 0, False, w32 * plan.depth * plan.n_signals)


def to_word_major(words64: Any, batch: int) -> Any:
    """``[T, n, W64]`` uint64 words -> ``[T, ceil(batch/32), n]`` uint32 (the kernel's layout).

    Example:
        >>> w = np.array([[[0x0000000500000003]]], np.uint64)
        >>> to_word_major(w, 40)[0, :, 0].tolist()
        [3, 5]
    """
    T, n, _ = words64.shape
    w32 = n_words(batch, 32)
    v = words64.view(np.uint32).reshape(T, n, -1)[:, :, :w32]  # little-endian: low half first
    return v.transpose(0, 2, 1).copy()


# device copies of each lowered network's kernel inputs, per array module
_ON_DEVICE: "weakref.WeakKeyDictionary[Lowered, dict]" = weakref.WeakKeyDictionary()


def plan_inputs(plan: Plan, xp=np) -> dict:
    """The plan's arrays as ``spikelut_infer`` takes them (``tap_sig``, ``tap_dly``, ``table``
    (uint64 ``[N, tw]``, :attr:`~spikelut.lowering.Lowered.table_words`),
    ``rec_row`` and the ``[m, 4]`` int32 ``layer`` rows ``lo, hi, k, R``), on ``xp``; on a GPU
    those of the lowered network are copied once per network, not per call."""
    low = plan.lowered
    layer = np.stack([plan.layer_lo, plan.layer_hi, plan.layer_k, plan.layer_r], axis=1)
    arrays = {  # name: (host array, dtype, the same for every call on this network)
        "tap_sig": (plan.tap_sig, xp.int32, True), "table": (plan.table_words, xp.uint64, True),
        "tap_dly": (plan.tap_dly, xp.int32, plan.tap_dly is low.tap_dly),
        "layer": (layer, xp.int32, plan.layer_r is low.layer_r),
        "rec_row": (plan.rec_row, xp.int32, False)}
    cached = None if xp is np else _ON_DEVICE.setdefault(low, {}).setdefault(xp, {})
    out = {}
    for name, (host, dtype, static) in arrays.items():
        if static and cached is not None:
            if name not in cached:
                cached[name] = xp.ascontiguousarray(xp.asarray(host), dtype=dtype)
            out[name] = cached[name]
        else:
            out[name] = xp.ascontiguousarray(xp.asarray(host), dtype=dtype)
    return out


def kernel_args(plan: Plan, inp32: Any, launch: Launch, xp=np) -> tuple[list, Any]:
    """Arguments of ``spikelut_infer`` in order, with arrays on ``xp``; returns ``(args, out)``.

    ``inp32`` is the word-major input ``[T, W32, n_in]`` (uint32). ``out`` is the zeroed output
    ``[T, W32, n_recorded]`` the kernel fills.

    Raises:
        ShapeError: the kernel cannot index ``T`` cycles of this plan (:func:`check_indices`),
            before anything is allocated.
    """
    T, w32, _ = inp32.shape
    check_indices(plan, w32, T)
    out = xp.zeros((T, w32, max(plan.n_recorded, 1)), xp.uint32)
    # zeroed here, not in the kernel (which zeroes only shared memory): see bitsliced_infer.cu
    ghist = xp.zeros(max(launch.ghist_words, 1), xp.uint32)
    args = INFER.marshal({
        "inp": xp.ascontiguousarray(inp32, dtype=xp.uint32), "out": out, "ghist": ghist,
        **plan_inputs(plan, xp),
        "T": T, "W32": w32, "n_in": plan.n_in, "N": plan.n_nodes, "m": plan.n_layers,
        "depth": plan.depth, "n_rec": plan.n_recorded, "use_smem": int(launch.use_smem),
        "tw": int(plan.table_words.shape[1])})
    return list(args), out


def unpack_recorded(plan: Plan, net: Network | Lowered, out_word_major: Any, batch: int) -> list:
    """Per-layer spikes ``[T, batch, n_i]`` (``None`` for layers not recorded) from kernel output."""
    return split_recorded(plan, net, out_word_major.transpose(0, 2, 1), batch)  # [T, n_rec, W32]


@functools.lru_cache(maxsize=None)
def _kernel(device_id: int):
    return cupy_module(compile_spec()).get_function(KERNEL_NAME)


def simulate(net: Network | Lowered, spikes: Any, record: str | int | Sequence[int] = "all") -> SimResult:
    """Simulate ``net`` on input spikes ``[T, B, n_in]`` on the GPU; results are CuPy arrays.

    Bit-exact with the reference engine. ``record`` as in
    :func:`spikelut.engine.bitsliced.simulate`.

    Raises:
        ToolError: no GPU is usable.
        ShapeError: spikes that are not ``[T, B, n_in]`` of 0/1, or more input and recorded
            spikes (uint8, plus their packed words) than the array limit
            (:func:`spikelut.limits.max_array_bytes`), refused before any is copied to the GPU.
    """
    cp = require_gpu()
    low = net if isinstance(net, Lowered) else lower(net)
    kept = sum(low.sizes[i] for i in recorded_layers(low, record))
    # the uint8 input and recorded spikes [T, B, n] plus their packed words (1/8 of that), as
    # the bit-sliced engine bounds them: checked on the host array before any device copy (a
    # CuPy array is checked where it is)
    n = low.n_in + kept
    host = spikes if isinstance(spikes, cp.ndarray) else np.asarray(spikes)
    spikes = cp.asarray(check_spikes(low, host, work=(0, n + -(-n // 8))))
    T, B, _ = spikes.shape
    plan = build_plan(net, record, steps=T)
    inp32 = to_word_major(pack(spikes), B)
    dev = cp.cuda.Device()
    kernel = _kernel(dev.id)
    optin = SMEM_LIMIT if SMEM_LIMIT is not None else \
        int(dev.attributes.get("MaxSharedMemoryPerBlockOptin", DEFAULT_SMEM))
    cfg = launch_config(plan, inp32.shape[1], optin)
    args, out = kernel_args(plan, inp32, cfg, cp)
    if cfg.smem_bytes > DEFAULT_SMEM:
        kernel.max_dynamic_shared_size_bytes = cfg.smem_bytes
    kernel((cfg.grid,), (cfg.block,), tuple(args), shared_mem=cfg.smem_bytes)
    layer_spikes = unpack_recorded(plan, net, out, B)
    counts, pred = readout(net, layer_spikes[net.readout.layer])
    return SimResult(layer_spikes, counts, pred)
