"""CUDA forward and backward passes of training (CuPy), drop-in for :mod:`.bptt` on the GPU.

:func:`forward` and :func:`backward` have the signatures and results of
:func:`spikelut.train.bptt.forward` / :func:`spikelut.train.bptt.backward` with CuPy arrays:
identical spike history and LUT addresses, gradients within float32 rounding (the kernels sum
with atomics, in no fixed order). The kernels are ``kernels/train_bptt.cu`` (installed as
``spikelut.kernels``): one launch per (cycle, layer), one thread per (node, sample); the backward
kernel scatters tap gradients into the gradient history at ``t - delay`` and the logit gradients
into a float64 accumulator with ``atomicAdd``. The surrogate derivative and the tap differences
are computed by CuPy once per table entry (``u = theta[addr]`` takes only the table's values), so
any registered surrogate works.

The launch loop and argument marshalling are plain Python over any array module: the tests run
them with numpy arrays against the same ``.cu`` source compiled as C++ (one thread per block,
``tests/cuda_emulation.h``), and compare with ``bptt.py``; the ``gpu``-marked tests do the same
on a GPU.

Example:
    >>> import cupy as cp                                            # doctest: +SKIP
    >>> from spikelut.train import bptt, kernels_gpu                 # doctest: +SKIP
    >>> fwd = kernels_gpu.forward(plan, tables, cp.asarray(x))       # doctest: +SKIP
    >>> grads, _ = kernels_gpu.backward(plan, thetas, fwd, g, sg)    # doctest: +SKIP
"""

from __future__ import annotations

import functools
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from ..xp import array_module, require_gpu, to_numpy
from ..errors import ShapeError
from ..lowering import Lowered
from ..network import K_MAX
from . import bptt
from .bptt import Forward, NetPlan, tap_differences
from .kernels_cpu import _MODES, _flat, table_span, unflatten_grads
from .surrogates import Surrogate

KERNEL_FILE = "train_bptt.cu"
FORWARD = "spikelut_train_forward"
BACKWARD = "spikelut_train_backward"
THREADS = 256

Launch = Callable[[str, int, int, list], None]


@functools.lru_cache(maxsize=None)
def _module(device_id: int):
    from ..engine.gpu import kernel_source

    cp = require_gpu()
    return cp.RawModule(code=kernel_source(KERNEL_FILE), options=("--std=c++14",))


def _cupy_launch(name: str, grid: int, block: int, args: list) -> None:
    cp = require_gpu()
    _module(cp.cuda.Device().id).get_function(name)((grid,), (block,), tuple(args))


# the per-node index arrays on each array module, per lowered network
_DEVICE: "weakref.WeakKeyDictionary[Lowered, dict]" = weakref.WeakKeyDictionary()


def _device(plan: NetPlan, xp) -> dict:
    """The per-node index arrays on ``xp`` in the kernels' dtypes (cached per lowered network)."""
    per_xp = _DEVICE.setdefault(plan.lowered, {})
    if xp not in per_xp:
        f = _flat(plan)
        per_xp[xp] = {
            "gidx": xp.asarray(f["gidx"], dtype=xp.int32), "dly": xp.asarray(f["dly"], dtype=xp.int32),
            "is_in": xp.asarray(f["is_in"], dtype=xp.uint8),
            "tab_off": xp.asarray(f["tab_off"], dtype=xp.int64),
        }
    return per_xp[xp]


def _grid(n: int, B: int) -> int:
    return -(-(n * B) // THREADS)


def forward(plan: NetPlan, tables: Sequence[Any], x: Any, save: bool = True,
            launch: Launch | None = None) -> Forward:
    """GPU :func:`spikelut.train.bptt.forward`; ``x`` and the results are CuPy arrays.

    ``launch(kernel_name, grid, block, args)`` replaces the CUDA launch (tests emulate it).
    """
    if launch is None:
        cp = require_gpu()
        x = cp.asarray(x)
        launch = _cupy_launch
    xp = array_module(x)
    if x.ndim != 3 or x.shape[2] != plan.n_in:
        raise ShapeError(f"input spikes must be [T, B, {plan.n_in}], got shape {x.shape}")
    bptt._check_tables(plan, tables, "tables")
    T, B, _ = x.shape
    f, dv = _flat(plan), _device(plan, xp)
    Nn = f["n_nodes"]
    hist = bptt._input_history(plan, x.astype(xp.uint8, copy=False), xp.uint8)
    tabs = xp.concatenate([xp.asarray(t, dtype=xp.uint8).ravel() for t in tables])
    addr = xp.zeros((T, Nn, B) if save else (1, 1, 1), xp.uint8)
    i32 = np.int32
    for t in range(T):
        for li, lp in enumerate(plan.layers):
            lo, hi = int(f["lo"][li]), int(f["hi"][li])
            launch(FORWARD, _grid(lp.n, B), THREADS,
                   [hist, addr, dv["gidx"], dv["dly"], tabs, dv["tab_off"],
                    i32(t), i32(plan.D), i32(plan.n_signals), i32(B), i32(Nn), i32(lo), i32(hi),
                    i32(lp.k), i32(lp.refractory), i32(lp.offset), i32(save)])
    addrs = [xp.ascontiguousarray(addr[:, lo:hi]) for lo, hi in zip(f["lo"], f["hi"])] if save else []
    return Forward(plan, hist, T, B, addrs)


def backward(plan: NetPlan, thetas: Sequence[Any], fwd: Forward, g_spikes: Sequence[Any | None],
             surrogate: Surrogate, refractory_grad: str = "block", tap_grad: str = "tanh",
             tbptt: int = 0, input_grad: bool = False,
             launch: Launch | None = None) -> tuple[list[Any], Any | None]:
    """GPU :func:`spikelut.train.bptt.backward`: same arguments, same results (float32, CuPy)."""
    if fwd.soft:
        return bptt.backward(plan, thetas, fwd, g_spikes, surrogate, refractory_grad, tap_grad,
                             tbptt, input_grad)
    bptt.check_backward_args(plan, thetas, g_spikes, refractory_grad, tbptt)
    if launch is None:
        require_gpu()
        launch = _cupy_launch
    xp = array_module(fwd.hist)
    T, B, D, N = fwd.T, fwd.B, plan.D, plan.n_signals
    f, dv = _flat(plan), _device(plan, xp)
    Nn, total = f["n_nodes"], int(f["tab_off"][-1])
    thetas = [xp.asarray(th, dtype=xp.float32) for th in thetas]
    G = bptt.spike_grad_history(plan, T, B, g_spikes, xp)
    diffs = xp.zeros((K_MAX, total), xp.float32)
    sg = xp.empty(total, xp.float32)  # surrogate'(u) per table entry: u = theta[addr]
    tabs = xp.empty(total, xp.uint8)
    for i, (lp, th) in enumerate(zip(plan.layers, thetas)):
        o0, o1 = table_span(f, i)
        # small ([k, n * 2**k]); computed on the host so it does not depend on CuPy fancy indexing
        diffs[:lp.k, o0:o1] = xp.asarray(tap_differences(to_numpy(th), tap_grad))
        flat = th.ravel()
        sg[o0:o1] = surrogate.grad(flat)
        tabs[o0:o1] = flat > 0
    acc = xp.zeros(total, xp.float64)
    addr = xp.ascontiguousarray(xp.concatenate(fwd.addr, axis=1))
    i32 = np.int32
    for t in range(T - 1, -1, -1):
        for li in range(len(plan.layers) - 1, -1, -1):
            lp = plan.layers[li]
            lo, hi = int(f["lo"][li]), int(f["hi"][li])
            launch(BACKWARD, _grid(lp.n, B), THREADS,
                   [G, fwd.hist, addr, sg, diffs, tabs, dv["tab_off"], dv["gidx"], dv["dly"],
                    dv["is_in"], acc, np.int64(total), i32(t), i32(T), i32(D), i32(N), i32(B),
                    i32(Nn), i32(lo), i32(hi), i32(lp.k), i32(lp.refractory), i32(lp.offset),
                    i32(_MODES[refractory_grad]), i32(tbptt), i32(bool(input_grad))])
    return unflatten_grads(plan, f, acc, G, input_grad)
