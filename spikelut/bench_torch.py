"""The training step written with PyTorch autograd, for the comparison in ``spikelut bench``.

DESIGN.md section 6 asks the compiled training passes to be compared with "the same model written
with PyTorch autograd, same machine, same run". This module is that model, written the way a
PyTorch user would: a loop over cycles and layers on float spike tensors, delays read from a
list of past states, the LUT as a custom ``autograd.Function`` (hard lookup forward; backward =
DESIGN.md section 3: ``g_u = g_s * surrogate'(u)``, ``g_theta[addr] += g_u``,
``g_tap_p = g_u * (tanh(theta)[addr | 1<<p] - tanh(theta)[addr & ~(1<<p)])``), the refractory gate
``s = a * (1 - recent)`` with ``recent`` detached ("block"), and ``loss.backward()`` doing BPTT.
Surrogate: fast sigmoid ``1 / (1 + |2u|)**2`` (the benchmark's). Its gradients equal
:func:`spikelut.train.bptt.backward`'s (tested in ``tests/test_bench.py`` when PyTorch is
installed). PyTorch is optional: nothing else imports this module.

Example:
    >>> from spikelut.bench_torch import torch_available
    >>> isinstance(torch_available(), bool)
    True
"""

from __future__ import annotations

import importlib
from typing import Sequence

import numpy as np

from .train.bptt import NetPlan


def torch_available() -> bool:
    """True when PyTorch imports."""
    try:
        importlib.import_module("torch")
    except Exception:
        return False
    return True


def _lut_function():
    import torch

    class LutFn(torch.autograd.Function):
        """``a = (theta[addr] > 0)`` with the surrogate/multilinear backward of DESIGN.md."""

        @staticmethod
        def forward(ctx, theta, X, node_off):  # X [n, k, B] float 0/1
            k = X.shape[1]
            shifts = torch.arange(k, dtype=torch.int64).view(1, k, 1)
            idx = node_off + (X.to(torch.int64) << shifts).sum(dim=1)  # [n, B]
            ctx.save_for_backward(theta, idx)
            ctx.k = k
            return (theta.reshape(-1)[idx] > 0).to(X.dtype)

        @staticmethod
        def backward(ctx, g_a):
            theta, idx = ctx.saved_tensors
            flat = theta.reshape(-1)
            u = flat[idx]
            g_u = g_a / (1.0 + 2.0 * u.abs()) ** 2
            g_theta = torch.zeros_like(flat).index_add_(0, idx.reshape(-1), g_u.reshape(-1))
            ft = torch.tanh(flat)
            g_X = torch.stack([g_u * (ft[idx | (1 << p)] - ft[idx & ~(1 << p)])
                               for p in range(ctx.k)], dim=1)
            return g_theta.view_as(theta), g_X, None

    return LutFn


class TorchModel:
    """The network of ``plan`` as a PyTorch autograd model (CPU, float32)."""

    def __init__(self, plan: NetPlan) -> None:
        import torch

        self.torch = torch
        self.plan = plan
        self.lut = _lut_function()
        N = plan.n_signals
        self.layers = []
        for lp in plan.layers:
            gidx = torch.as_tensor(lp.base + lp.delay * N, dtype=torch.int64)
            dly = torch.as_tensor(lp.delay, dtype=torch.int64)
            groups = [(int(d), dly == int(d), gidx[dly == int(d)]) for d in torch.unique(dly)]
            self.layers.append({"groups": groups, "node_off": torch.as_tensor(lp.node_off),
                                "R": lp.refractory, "n": lp.n, "k": lp.k, "offset": lp.offset})

    def forward(self, thetas: Sequence, x) -> list:
        """Spikes of every layer, a list over cycles of ``[n_i, B]`` tensors per layer."""
        torch, plan = self.torch, self.plan
        T, B, _ = x.shape
        xs = x.permute(0, 2, 1).to(torch.float32)  # [T, n_in, B]
        rows: list = []  # rows[t] = all signals [N, B] at cycle t
        zeros = torch.zeros(plan.n_signals, B)
        out = [[] for _ in plan.layers]
        for t in range(T):
            parts = [xs[t]]
            for i, L in enumerate(self.layers):
                cur = torch.cat(parts + [torch.zeros(plan.n_signals - sum(p.shape[0] for p in parts), B)])
                X = torch.zeros(L["n"], L["k"], B)
                for d, mask, g in L["groups"]:
                    src = cur if d == 0 else (rows[t - d] if t - d >= 0 else zeros)
                    X = X.index_put((mask,), src[g])
                a = self.lut.apply(thetas[i], X, L["node_off"])
                if L["R"]:
                    past = [rows[t - q][L["offset"]:L["offset"] + L["n"]] for q in range(1, L["R"] + 1)
                            if t - q >= 0]
                    if past:
                        recent = torch.stack(past).amax(dim=0).detach()
                        a = a * (1.0 - recent)
                parts.append(a)
                out[i].append(a)
            rows.append(torch.cat(parts))
        return out

    def step(self, thetas: Sequence, x, g_spikes: Sequence) -> list:
        """One training step: forward, ``sum(s * g)`` as the loss, ``backward``; returns grads."""
        torch = self.torch
        for th in thetas:
            th.grad = None
        out = self.forward(thetas, x)
        loss = torch.zeros(())
        for i, g in enumerate(g_spikes):
            if g is not None:
                loss = loss + (torch.stack(out[i]) * g.permute(0, 2, 1)).sum()
        loss.backward()
        return [th.grad for th in thetas]


def make_step(plan: NetPlan, thetas: Sequence[np.ndarray], x: np.ndarray,
              g_spikes: Sequence[np.ndarray | None]):
    """A zero-argument callable running one PyTorch training step (for timing), and its model."""
    import torch

    model = TorchModel(plan)
    th = [torch.tensor(t, dtype=torch.float32, requires_grad=True) for t in thetas]
    xt = torch.as_tensor(x)
    gt = [None if g is None else torch.as_tensor(g, dtype=torch.float32) for g in g_spikes]
    return (lambda: model.step(th, xt, gt)), model
