"""Using a spikelut network from PyTorch: an ``nn.Module`` whose forward is the circuit.

:class:`SpikeLUT` wraps a :class:`~spikelut.network.Network`. Its parameters are the table logits
(one ``nn.Parameter`` ``[n, 2**k]`` float32 per layer; the deployed table is ``logits > 0``), so any
PyTorch optimizer, scheduler, training loop, ``DistributedDataParallel`` or larger model can
hold it. Its forward pass is exactly the circuit (the training forward pass of
:mod:`spikelut.train`, bit-equal with the engine and the RTL); its backward pass is the project's
surrogate gradient (:func:`spikelut.train.bptt.backward`, DESIGN.md section 3) through a
``torch.autograd.Function``. Gradients equal the native trainer's within float rounding.

Where it runs: the device of the input. CPU tensors use the ``numba`` training backend (``numpy``
when numba is missing), CUDA tensors the ``cuda`` backend (CuPy). Tensors cross to the backend
and back by DLPack, sharing memory: nothing is copied through numpy.

Input: spikes ``[T, B, n_in]`` of 0/1 (any dtype; a float tensor that requires grad, e.g. from
:func:`spike_threshold`, receives the input gradient, so a float front end trains jointly).
Output: class counts ``[B, classes]`` float32 (``output="counts"``, the default; feed
``counts * module.logit_scale(T)`` to ``F.cross_entropy`` to get the native ``ce`` loss) or the
readout layer's spikes ``[T, B, n_out]`` float32 (``output="spikes"``).

PyTorch is an optional dependency (``pip install 'spikelut[torch]'``); nothing else in spikelut
imports this module.

Example:
    >>> import torch
    >>> from spikelut.wiring import random_network
    >>> from spikelut.torch import SpikeLUT
    >>> net = random_network(0, n_in=4, sizes=[8, 4], k=3, classes=2)
    >>> m = SpikeLUT.from_network(net, backend="numpy")
    >>> x = (torch.rand(6, 5, 4) < 0.5).float()
    >>> counts = m(x)
    >>> counts.shape, [tuple(p.shape) for p in m.parameters()]
    (torch.Size([5, 2]), [(8, 8), (4, 8)])
    >>> torch.nn.functional.cross_entropy(counts * m.logit_scale(6), torch.tensor([0, 1, 0, 1, 1])).backward()
    >>> m.to_network().sizes
    [8, 4]
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch  # the real PyTorch: absolute imports, this module is spikelut.torch
from torch import nn
from torch.nn import functional as F

from .analog import require_binary
from .errors import ConfigError, ShapeError
from .xp import from_dlpack
from .network import Layer, Network, Readout
from .train.bptt import REFRACTORY_GRAD, TAP_GRAD, NetPlan, compile_plan, tables_of
from .train.losses import default_logit_scale
from .train.passes import TrainBackend, resolve_backend, why_unavailable
from .train.surrogates import Surrogate, get_surrogate

OUTPUTS = ("counts", "spikes")


def _to_torch(a: Any) -> torch.Tensor:
    """A numpy / CuPy array as a tensor sharing its memory (DLPack)."""
    if isinstance(a, np.ndarray) and not a.flags.writeable:
        a = a.copy()  # numpy refuses to export read-only buffers
    return torch.from_dlpack(a)


def _to_backend(t: torch.Tensor) -> Any:
    """A tensor as a numpy (CPU) or CuPy (CUDA) array sharing its memory (DLPack)."""
    return from_dlpack(t.detach().contiguous())


def _device_context(device: torch.device) -> contextlib.AbstractContextManager:
    """On a CUDA tensor's device, CuPy works on PyTorch's current stream of that device, so the
    kernels are ordered with PyTorch's own work without a synchronisation; a no-op on the CPU."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    import cupy

    stack = contextlib.ExitStack()
    stack.enter_context(cupy.cuda.Device(device.index if device.index is not None else 0))
    stack.enter_context(cupy.cuda.ExternalStream(torch.cuda.current_stream(device).cuda_stream))
    return stack


class _Circuit(torch.autograd.Function):
    """Hard forward pass of the circuit; surrogate-gradient BPTT backward pass."""

    @staticmethod
    def forward(ctx: Any, mod: "SpikeLUT", x: torch.Tensor, *thetas: torch.Tensor) -> torch.Tensor:
        be = mod._backend_for(x.device)
        need_grad = any(ctx.needs_input_grad[1:])
        ctx.device = x.device
        with _device_context(x.device):
            return _Circuit._forward(ctx, mod, be, need_grad, x, thetas)

    @staticmethod
    def _forward(ctx: Any, mod: "SpikeLUT", be: TrainBackend, need_grad: bool, x: torch.Tensor,
                 thetas: tuple[torch.Tensor, ...]) -> torch.Tensor:
        xs = _to_backend(x.to(torch.uint8))
        # the circuit's parameters are float32 (the native trainer's); a module moved to another
        # dtype (m.double(), m.half()) computes the same circuit (.to is a no-op on float32)
        ths = [_to_backend(t.to(torch.float32)) for t in thetas]
        fwd = be.forward(mod._plan, tables_of(ths), xs, save=need_grad)
        out = fwd.spikes(mod.net.readout.layer)  # [T, B, n_out] uint8 view of the history
        ctx.mod, ctx.be, ctx.fwd = mod, be, fwd if need_grad else None
        ctx.save_for_backward(*thetas)  # in-place edits before backward are caught by autograd
        return _to_torch(be.xp.ascontiguousarray(out, dtype=np.float32))

    @staticmethod
    def backward(ctx: Any, g_out: torch.Tensor) -> tuple[Any, ...]:
        with _device_context(ctx.device):
            return _Circuit._backward(ctx, g_out)

    @staticmethod
    def _backward(ctx: Any, g_out: torch.Tensor) -> tuple[Any, ...]:
        mod, be, fwd = ctx.mod, ctx.be, ctx.fwd
        ths = [_to_backend(t.to(torch.float32)) for t in ctx.saved_tensors]
        g = _to_backend(g_out.to(torch.float32))
        g_spikes: list[Any] = [None] * len(mod._plan.layers)
        g_spikes[mod.net.readout.layer] = g
        input_grad = bool(ctx.needs_input_grad[1])
        grads, g_in = be.backward(mod._plan, ths, fwd, g_spikes, mod.surrogate,
                                  refractory_grad=mod.refractory_grad, tap_grad=mod.tap_grad,
                                  tbptt=mod.tbptt, input_grad=input_grad)
        g_x = _to_torch(be.xp.ascontiguousarray(g_in)) if input_grad else None
        return (None, g_x, *[_to_torch(be.xp.ascontiguousarray(gr, dtype=np.float32))
                             for gr in grads])


class SpikeLUT(nn.Module):
    """A spikelut network as a PyTorch module (see the module docstring).

    Args:
        net: a validated network; its structure is fixed, its tables are the parameters.
        output: ``"counts"`` (class counts ``[B, classes]``) or ``"spikes"`` (readout spikes
            ``[T, B, n_out]``), both float32 on the input's device.
        backend: ``"auto"`` (numba on CPU tensors, numpy without numba; cuda on CUDA tensors),
            or ``"numpy"`` / ``"numba"`` / ``"cuda"`` to force one (the input must then live
            where that backend runs).
        surrogate: surrogate derivative name (:mod:`spikelut.train.surrogates`); ``width`` its
            width (``None``: the surrogate's default).
        refractory_grad: ``"block"``, ``"pass"`` or ``"full"`` (:mod:`spikelut.train.bptt`).
        tap_grad: ``"tanh"`` or ``"identity"``.
        tbptt: truncate BPTT every this many cycles (0: full).
        init_std: logits of a network without logits start at ``(2 * table - 1) * init_std``
            (the trainer's ``init = "table"``), so the module computes the network's own tables.

    Raises:
        ConfigError: an unknown option value (one line naming it and the choices), or an analog
            model (``meta["analog"]``, :mod:`spikelut.analog`): the module computes the binary
            circuit, which is not what an analog model's real-valued tables compute.

    Example:
        >>> from spikelut.wiring import random_network
        >>> m = SpikeLUT(random_network(0, n_in=3, sizes=[4, 2], k=2))
        >>> y = m(torch.ones(5, 2, 3))                     # [T=5, B=2, n_in=3] spikes
        >>> y.shape, y.dtype                               # class counts [B, classes]
        (torch.Size([2, 2]), torch.float32)
        >>> y.sum().backward(); m.logits[0].grad.shape     # one logit per table entry
        torch.Size([4, 4])
    """

    def __init__(self, net: Network, *, output: str = "counts", backend: str = "auto",
                 surrogate: str = "fast_sigmoid", width: float | None = None,
                 refractory_grad: str = "block", tap_grad: str = "tanh", tbptt: int = 0,
                 init_std: float = 0.1) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ConfigError(f"unknown output {output!r}; choose one of {', '.join(OUTPUTS)}")
        if refractory_grad not in REFRACTORY_GRAD:
            raise ConfigError(f"unknown refractory_grad {refractory_grad!r}; choose one of "
                              f"{', '.join(REFRACTORY_GRAD)}")
        if tap_grad not in TAP_GRAD:
            raise ConfigError(f"unknown tap_grad {tap_grad!r}; choose one of {', '.join(TAP_GRAD)}")
        if isinstance(tbptt, bool) or not isinstance(tbptt, int) or tbptt < 0:
            raise ConfigError(f"tbptt must be an integer >= 0, got {tbptt!r}")
        if backend not in ("auto", "numpy", "numba", "cuda"):
            raise ConfigError(f"unknown backend {backend!r}; choose one of auto, numpy, numba, cuda")
        # the forward pass is the binary circuit of logits > 0: an analog model would silently
        # become another model (and to_network would save binary-trained logits as analog)
        require_binary(net, "spikelut.torch.SpikeLUT")
        self.net = net
        self.output = output
        self.backend = backend
        self.surrogate: Surrogate = get_surrogate(surrogate, width)
        self.refractory_grad, self.tap_grad, self.tbptt = refractory_grad, tap_grad, tbptt
        self._plan: NetPlan = compile_plan(net)
        self._backends: dict[str, TrainBackend] = {}
        self.logits = nn.ParameterList(
            nn.Parameter(torch.from_numpy(
                np.array(layer.logits if layer.logits is not None
                         else (2.0 * layer.table - 1.0) * init_std, np.float32)))
            for layer in net.layers)
        ro = net.readout
        onehot = np.zeros((len(ro.class_of), ro.classes), np.float32)
        counted = np.flatnonzero(ro.class_of >= 0)
        onehot[counted, ro.class_of[counted]] = 1.0
        self.register_buffer("onehot", torch.from_numpy(onehot), persistent=False)

    @classmethod
    def from_network(cls, net: Network, **kwargs: Any) -> "SpikeLUT":
        """The module for ``net`` (its logits when it has them, else its tables); ``kwargs`` as
        for the constructor.

        Example:
            >>> from spikelut.wiring import random_network
            >>> SpikeLUT.from_network(random_network(0, n_in=2, sizes=[4], k=2)).output
            'counts'
        """
        return cls(net, **kwargs)

    # ------------------------------------------------------------------ where it runs
    def _backend_for(self, device: torch.device) -> TrainBackend:
        if device.type == "cuda":
            name = "cuda"
            if self.backend not in ("auto", "cuda"):
                raise ConfigError(f"backend {self.backend!r} runs on the CPU but the input is on "
                                  f"{device}; move the input with .cpu() or use backend='auto'")
        elif device.type == "cpu":
            if self.backend == "cuda":
                raise ConfigError("backend 'cuda' needs CUDA tensors but the input is on the CPU; "
                                  "move the module and input with .cuda() or use backend='auto'")
            name = self.backend if self.backend != "auto" else (
                "numba" if why_unavailable("numba") is None else "numpy")
        else:
            raise ConfigError(f"spikelut runs on CPU and CUDA tensors, not on {device}; move the "
                              f"module and input with .cpu() or .cuda()")
        if name not in self._backends:
            self._backends[name] = resolve_backend(name)
        return self._backends[name]

    # ------------------------------------------------------------------ the circuit
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the circuit on spikes ``x [T, B, n_in]``.

        Returns:
            float32 class counts ``[B, classes]`` or readout spikes ``[T, B, n_out]``.

        Raises:
            ShapeError: ``x`` is not ``[T, B, n_in]`` of 0/1 values, or lives on another device
                than the parameters.
        """
        if not isinstance(x, torch.Tensor):
            # a numpy array has a shape too: naming it would blame the shape, not the type
            kind = type(x)
            name = kind.__qualname__ if kind.__module__ == "builtins" else \
                f"{kind.__module__}.{kind.__qualname__}"
            raise ShapeError(f"input spikes: expected a torch.Tensor, got {name}"
                             + ("; convert with torch.from_numpy" if isinstance(x, np.ndarray)
                                else ""))
        if x.ndim != 3 or x.shape[2] != self.net.n_in:
            shape = tuple(x.shape)
            raise ShapeError(f"input spikes must be a tensor [T, B, {self.net.n_in}], got {shape}")
        if x.device != self.logits[0].device:
            raise ShapeError(f"input is on {x.device} but the module is on {self.logits[0].device}; "
                             f"move one with .to()")
        if x.dtype != torch.uint8 and x.dtype != torch.bool and ((x != 0) & (x != 1)).any():
            raise ShapeError("input spikes must be 0 or 1 (threshold a float front end with "
                             "spikelut.torch.spike_threshold)")
        spikes = _Circuit.apply(self, x, *self.logits)
        if self.output == "spikes":
            return spikes
        # float32 like the spikes, whatever dtype the module was moved to (m.double())
        return spikes[self.net.readout.start:].sum(dim=0) @ self.onehot.to(spikes.dtype)

    def logit_scale(self, steps: int) -> float:
        """The native ``ce`` loss's default scale ``4 / (P sqrt(T'))`` for windows of ``steps``
        cycles: ``F.cross_entropy(counts * scale, labels)`` is the trainer's loss."""
        return float(default_logit_scale(self.net.readout, steps))

    @torch.no_grad()
    def clip_(self, bound: float = 1.0) -> None:
        """Clip every logit to ``[-bound, bound]`` in place (the trainer's ``clip``, after each
        optimizer step)."""
        for p in self.logits:
            p.clamp_(-bound, bound)

    # ------------------------------------------------------------------ back to spikelut
    def to_network(self) -> Network:
        """A new :class:`~spikelut.network.Network`: this module's structure, its logits
        (float32 host copies) and tables ``logits > 0``; save it with
        :func:`spikelut.io.models.save_model`, compile it with ``spikelut rtl``.

        Raises:
            ConfigError: ``self.net`` was replaced by an analog model after construction (its
                meta would label these binary-circuit logits as analog tables).
        """
        require_binary(self.net, "spikelut.torch.SpikeLUT.to_network")
        layers = []
        for layer, p in zip(self.net.layers, self.logits):
            lg = p.detach().to("cpu", torch.float32).numpy().copy()
            layers.append(Layer((lg > 0).astype(np.uint8), layer.source.copy(), layer.index.copy(),
                                layer.delay.copy(), layer.refractory, layer.name, lg))
        r = self.net.readout
        return Network(self.net.n_in, layers, Readout(r.layer, r.class_of.copy(), r.classes, r.start),
                       dict(self.net.meta))


class _Threshold(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, width: float) -> torch.Tensor:
        ctx.save_for_backward(z)
        ctx.width = width
        return (z > 0).to(z.dtype)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[Any, None]:
        (z,) = ctx.saved_tensors
        w = ctx.width
        return g * 0.5 / (w * (1.0 + z.abs() / w) ** 2), None


def spike_threshold(z: torch.Tensor, width: float = 0.5) -> torch.Tensor:
    """Binarize a float front end into spikes: ``(z > 0)`` forward, the fast-sigmoid surrogate
    ``0.5 / (w (1 + |z|/w)**2)`` backward (straight-through estimator), so a float network
    before a :class:`SpikeLUT` trains jointly with it.

    Args:
        z: float activations, any shape and device.
        width: the surrogate's width ``w`` (in units of ``z``).

    Returns:
        Spikes of ``z``'s shape, dtype and device: 1.0 where ``z > 0``, else 0.0.

    Example:
        >>> z = torch.tensor([-0.5, 0.0, 1.5], requires_grad=True)
        >>> s = spike_threshold(z); s.sum().backward()
        >>> s.tolist(), z.grad.tolist()
        ([0.0, 0.0, 1.0], [0.25, 1.0, 0.0625])
    """
    return _Threshold.apply(z, float(width))


FRONT_INITS = ("thermometer", "random")


class ConvFrontEnd(nn.Module):
    """A float front end for a hybrid network: a causal 1-D convolution over raw values.

    Input: values ``[T, B]`` (one value per cycle) or ``[T, B, F]`` (``F`` features per cycle),
    float, in ``[0, 1]`` for the thermometer initialisation (the scale of
    :func:`spikelut.datasets.load.load_dataset`). Output: the pre-threshold activations ``z``
    ``[T, B, C]`` float32; ``spike_threshold(z)`` are the spikes a :class:`SpikeLUT` reads. Cycle
    ``t`` sees the values of cycles ``t - width + 1 .. t`` (zeros before the window), so the front
    end is causal like the circuit.

    ``init="thermometer"`` (the default) starts the front end as the
    :func:`spikelut.coding.thermometer` code of the current value: feature ``f``'s ``L = C / F``
    channels ``f L + l`` get weight ``L`` on the current cycle's value (0 on the earlier ones) and
    bias ``-(l + 1/2)``, so ``z > 0`` iff ``x >= (l + 1/2) / L`` (equal for every value except one
    lying exactly on a threshold, where ``z = 0`` does not fire); one level is one unit of ``z``,
    the scale of the threshold's surrogate. Joint training then moves the thresholds and mixes in
    earlier cycles. ``init="random"`` is PyTorch's default ``Conv1d`` initialisation: on values in
    ``[0, 1]`` most of its channels are constant (always or never firing) and the rest are
    random hyperplanes over ``width`` cycles (docs/torch.md, "Hybrid networks").

    Args:
        channels: output channels ``C`` (the LUT network's ``n_in``).
        features: values per cycle ``F``; ``C`` must be a multiple of ``F`` for the thermometer
            initialisation.
        width: cycles the convolution sees (``>= 1``).
        init: ``"thermometer"`` or ``"random"``.

    Raises:
        ConfigError: an unknown ``init``, ``width < 1``, or ``C`` not a multiple of ``F`` with the
            thermometer initialisation.

    Example:
        >>> fe = ConvFrontEnd(4)
        >>> v = torch.tensor([[0.1], [0.4], [0.9]])          # [T=3, B=1]
        >>> spike_threshold(fe(v))[:, 0].int().tolist()    # the 4-level thermometer code
        [[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]]
    """

    def __init__(self, channels: int, features: int = 1, width: int = 5,
                 init: str = "thermometer") -> None:
        super().__init__()
        if init not in FRONT_INITS:
            raise ConfigError(f"unknown front-end init {init!r}; choose one of {', '.join(FRONT_INITS)}")
        if width < 1:
            raise ConfigError(f"front-end width must be >= 1 cycle, got {width}")
        if init == "thermometer" and channels % features:
            raise ConfigError(f"the thermometer front end needs channels ({channels}) to be a "
                              f"multiple of features ({features})")
        self.features, self.width = features, width
        self.conv = nn.Conv1d(features, channels, width)
        if init == "thermometer":
            self.thermometer_()

    @torch.no_grad()
    def thermometer_(self) -> None:
        """Set the weights to the thermometer code of the current value (see the class)."""
        c, f = self.conv.out_channels, self.features
        levels = c // f
        self.conv.weight.zero_()
        for feat in range(f):
            rows = slice(feat * levels, (feat + 1) * levels)
            self.conv.weight[rows, feat, self.width - 1] = float(levels)
            self.conv.bias[rows] = -(torch.arange(levels, dtype=torch.float32) + 0.5)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Values ``[T, B]`` or ``[T, B, F]`` -> activations ``z [T, B, C]`` (threshold at 0).

        Raises:
            ShapeError: ``v`` is not ``[T, B]`` / ``[T, B, F]`` with this front end's ``F``.
        """
        if v.ndim == 2 and self.features == 1:
            v = v[:, :, None]
        if v.ndim != 3 or v.shape[2] != self.features:
            raise ShapeError(f"front-end values must be a tensor [T, B, {self.features}]"
                             f"{' or [T, B]' if self.features == 1 else ''}, got {tuple(v.shape)}")
        x = F.pad(v.permute(1, 2, 0).to(self.conv.weight.dtype), (self.width - 1, 0))
        return self.conv(x).permute(2, 0, 1).contiguous()  # [T, B, C]


class Hybrid(nn.Module):
    """A float front end trained jointly with a LUT back end: ``lut(spike_threshold(front(v)))``.

    The LUT part (``to_network()``) is the circuit that goes to the FPGA; the front end runs on
    the CPU (or GPU) that feeds it, one bit per channel per cycle (:meth:`front_spikes`).

    Args:
        front: a module mapping values to activations ``[T, B, n_in]`` (e.g. :class:`ConvFrontEnd`).
        lut: the back end, a :class:`SpikeLUT` with ``n_in`` inputs.
        threshold_width: the straight-through threshold's surrogate width (in units of ``z``).

    Raises:
        ShapeError: from the back end (:meth:`SpikeLUT.forward`) when the front end's
            activations are not ``[T, B, n_in]``, or from :class:`ConvFrontEnd` for values of
            the wrong shape.

    Example:
        >>> from spikelut.wiring import random_network
        >>> h = Hybrid(ConvFrontEnd(4), SpikeLUT.from_network(random_network(0, n_in=4, sizes=[8, 4], k=3, classes=2)))
        >>> h(torch.rand(6, 5)).shape, h.front_spikes(torch.rand(6, 5)).dtype
        (torch.Size([5, 2]), torch.uint8)
    """

    def __init__(self, front: nn.Module, lut: SpikeLUT, threshold_width: float = 0.5) -> None:
        super().__init__()
        self.front, self.lut, self.threshold_width = front, lut, float(threshold_width)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """The LUT back end's output (class counts or spikes) for values ``v``."""
        return self.lut(spike_threshold(self.front(v), self.threshold_width))

    @torch.no_grad()
    def front_spikes(self, v: torch.Tensor) -> torch.Tensor:
        """The spikes the front end sends to the circuit, uint8 ``[T, B, n_in]`` (save them with
        :func:`spikelut.io.spikes.save_spikes` to run or co-simulate the LUT part alone)."""
        return (self.front(v) > 0).to(torch.uint8)

    def param_groups(self, lr: float, front_lr: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups: the front end at ``front_lr``, the LUT tables at ``lr``
        (``torch.optim.Adam(h.param_groups(0.01, 0.001))``)."""
        return [{"params": list(self.front.parameters()), "lr": front_lr},
                {"params": list(self.lut.parameters()), "lr": lr}]

    def to_network(self) -> Network:
        """The LUT back end as a :class:`~spikelut.network.Network` (what goes to the FPGA)."""
        return self.lut.to_network()


def teacher_features(model: nn.Module, spikes: Any, module: nn.Module | None = None,
                     batch: int = 500) -> np.ndarray:
    """A teacher's hidden features for guided wiring (``spikelut train --teacher-features``).

    Runs ``model`` on ``spikes`` in batches of samples (``torch.no_grad``, eval mode) and records
    the input of ``module`` (default: the model's last ``nn.Linear``, i.e. the features its
    classifier head reads), flattened per sample. Save them with
    :func:`spikelut.io.features.save_features`; the rows keep the samples' order.

    Args:
        model: a module taking spikes ``[T, B, n_in]`` float32 (a teacher of
            demos/distill_mnist1d.py, any classifier over the spike stream).
        spikes: ``[T, B, n_in]`` 0/1 spikes (numpy or torch).
        module: the submodule whose input is recorded.
        batch: samples per forward pass.

    Returns:
        float32 ``[B, F]``.

    Raises:
        ConfigError: ``model`` has no ``nn.Linear`` and no ``module`` was given, or ``module``
            did not run once per batch on ``[batch, ...]``.

    Example:
        >>> class Counts(nn.Module):  # spike counts -> 3 hidden units -> 2 classes
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden, self.head = nn.Linear(2, 3), nn.Linear(3, 2)
        ...     def forward(self, x):
        ...         return self.head(torch.relu(self.hidden(x.sum(0))))
        >>> teacher_features(Counts(), np.ones((3, 4, 2), np.uint8)).shape
        (4, 3)
    """
    if module is None:
        linears = [mod for mod in model.modules() if isinstance(mod, nn.Linear)]
        if not linears:
            raise ConfigError("teacher_features: the model has no nn.Linear; pass module=")
        module = linears[-1]
    x = _to_torch(spikes) if not isinstance(spikes, torch.Tensor) else spikes
    got: list[torch.Tensor] = []
    hook = module.register_forward_pre_hook(lambda _m, inp: got.append(inp[0].detach()))
    was_training = model.training
    model.eval()
    rows = []
    try:
        with torch.no_grad():
            for b0 in range(0, x.shape[1], batch):
                got.clear()
                model(x[:, b0:b0 + batch].float())
                n = min(batch, x.shape[1] - b0)
                if not got or got[-1].ndim == 0 or got[-1].shape[0] != n:
                    raise ConfigError("teacher_features: the module's input is not [batch, ...] "
                                      "in the forward pass; pass the module that reads the "
                                      "per-sample features")
                rows.append(got[-1].reshape(n, -1).float().cpu())
    finally:
        hook.remove()
        model.train(was_training)
    return torch.cat(rows).numpy().astype(np.float32)


# ---------------------------------------------------------------------------- distillation
FADES = ("none", "linear", "cosine")


def distill_alpha(alpha: float, epoch: int, epochs: int, fade: str = "none",
                  until: int | None = None) -> float:
    """The weight of the soft-target term in epoch ``epoch`` (1-based) of ``epochs``.

    ``fade="none"`` keeps ``alpha`` in every epoch. ``"linear"`` and ``"cosine"`` start at
    ``alpha`` in epoch 1 and reach 0 in epoch ``until`` (default: the last epoch), staying 0
    after it, so the student ends on the labels alone: with ``p = (epoch - 1) / (until - 1)``
    the weight is ``alpha * (1 - p)`` (linear) or ``alpha * (1 + cos(pi p)) / 2`` (cosine).
    ``until = 1`` is labels only from the first epoch.

    Args:
        alpha: the starting weight, ``0 <= alpha <= 1``.
        epoch: the epoch, ``1 <= epoch``.
        epochs: the run's epoch count (the default ``until``).
        fade: ``"none"``, ``"linear"`` or ``"cosine"``.
        until: the epoch where a fading weight reaches 0 (``>= 1``).

    Returns:
        the weight, a float in ``[0, alpha]``.

    Raises:
        ConfigError: an unknown ``fade``, ``alpha`` outside ``[0, 1]``, ``epoch < 1``,
            ``epochs < 1`` or ``until < 1``.

    Example:
        >>> [round(distill_alpha(0.8, e, 5, "linear"), 3) for e in range(1, 6)]
        [0.8, 0.6, 0.4, 0.2, 0.0]
        >>> [round(distill_alpha(0.8, e, 5, "cosine", until=3), 3) for e in range(1, 6)]
        [0.8, 0.4, 0.0, 0.0, 0.0]
    """
    if fade not in FADES:
        raise ConfigError(f"unknown fade {fade!r}; choose one of {', '.join(FADES)}")
    a = _real(alpha)  # a string or None was a TypeError traceback
    if a is None or not 0.0 <= a <= 1.0:
        raise ConfigError(f"alpha must be in [0, 1], got {alpha!r}")
    alpha = a
    if epoch < 1 or epochs < 1:
        raise ConfigError(f"epoch and epochs must be >= 1, got epoch {epoch!r} of {epochs!r}")
    until = epochs if until is None else until
    if until < 1:
        raise ConfigError(f"fade until must be an epoch >= 1, got {until!r}")
    if fade == "none":
        return float(alpha)
    if epoch >= until:
        return 0.0
    p = (epoch - 1) / (until - 1)
    if fade == "linear":
        return float(alpha * (1.0 - p))
    return float(alpha * 0.5 * (1.0 + np.cos(np.pi * p)))


def _real(v: Any) -> float | None:
    """``v`` as a float when it is a real number (a Python or numpy number, a one-element
    tensor), else ``None``; booleans and strings ("0.3": float() would parse it) are not
    numbers here."""
    if isinstance(v, (bool, np.bool_, str, bytes)):
        return None
    try:
        return float(v)
    except (TypeError, ValueError, RuntimeError):
        return None


def distill_loss(z: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor, tau: float,
                 alpha: float) -> torch.Tensor:
    """Knowledge-distillation loss: ``alpha * tau**2 * KL(p_teacher || p_student) + (1 - alpha)
    * CE(z, y)`` at temperature ``tau`` (Hinton et al.; ``tau**2`` keeps the soft term's
    gradient scale independent of ``tau``).

    ``z`` are the student's logits (for a :class:`SpikeLUT`: class counts times
    :meth:`SpikeLUT.logit_scale`). Per cycle: with ``z`` and ``teacher_logits`` both
    ``[T, B, classes]`` (the student's running counts and a recurrent teacher's per-step logits)
    the KL term is the mean over cycles and the label term reads the last cycle's ``z``.

    Args:
        z: float ``[B, classes]`` or ``[T, B, classes]``.
        teacher_logits: the teacher's logits, the shape of ``z`` (no gradient flows into them).
        y: int64 labels ``[B]``.
        tau: temperature ``> 0``.
        alpha: weight of the soft term in ``[0, 1]`` (e.g. :func:`distill_alpha`).

    Returns:
        the scalar loss.

    Raises:
        ConfigError: ``alpha`` outside ``[0, 1]`` or NaN, ``tau`` not a finite number > 0.
        ShapeError: ``z`` and ``teacher_logits`` differ in shape, or are not 2-D / 3-D, or
            ``y`` is not an integer tensor ``[B]``.

    Example:
        >>> z = torch.tensor([[2.0, 0.0]]); t = torch.tensor([[0.0, 2.0]]); y = torch.tensor([0])
        >>> round(float(distill_loss(z, t, y, 1.0, 0.0)), 4)   # labels only: CE(z, y)
        0.1269
        >>> round(float(distill_loss(z, z, y, 2.0, 1.0)), 4)   # student = teacher: KL 0
        0.0
    """
    # refused rather than computed: a NaN or negative weight gives a NaN or sign-flipped loss
    # that trains silently wrong (NaN fails every comparison, so it is tested as "not inside")
    a, t_ = _real(alpha), _real(tau)
    if a is None or not 0.0 <= a <= 1.0:
        raise ConfigError(f"distill_loss: alpha must be a number in [0, 1], got {alpha!r}")
    if t_ is None or not 0.0 < t_ < float("inf"):
        raise ConfigError(f"distill_loss: tau must be a finite number > 0, got {tau!r}")
    if z.shape != teacher_logits.shape or z.ndim not in (2, 3):
        raise ShapeError(f"distill_loss: student logits {tuple(z.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} must both be [B, classes] or "
                         f"[T, B, classes]")
    B = z.shape[-2]
    if not isinstance(y, torch.Tensor) or y.shape != (B,) or y.is_floating_point() \
            or y.is_complex() or y.dtype == torch.bool:
        got = f"{tuple(y.shape)} {y.dtype}" if isinstance(y, torch.Tensor) else type(y).__name__
        raise ShapeError(f"distill_loss: labels must be an integer tensor [{B}] (one class per "
                         f"sample of the logits), got {got}")
    t = teacher_logits.detach()
    rows = z.shape[0] * z.shape[1] if z.ndim == 3 else z.shape[0]  # the mean over samples, cycles
    soft = F.kl_div(F.log_softmax(z / tau, dim=-1), F.log_softmax(t / tau, dim=-1),
                    log_target=True, reduction="sum") / rows
    last = z[-1] if z.ndim == 3 else z
    return alpha * tau * tau * soft + (1.0 - alpha) * F.cross_entropy(last, y)


__all__ = ["ConvFrontEnd", "FADES", "Hybrid", "SpikeLUT", "distill_alpha", "distill_loss",
           "spike_threshold", "teacher_features"]
