"""Analog tables: a research model in which a node's table holds b-bit real values (as a resistive
or analog lookup array would) and its readers see that value instead of a bit.

A node with parameters ``theta [n, 2**k]`` holds the table values

```
v = q_b(clip(theta, -1, 1) / 2 + 1/2)       in [0, 1], b-bit: q_b(z) = round(z (2**b - 1)) / (2**b - 1)
```

and, at cycle ``t``, outputs the value of its table read at its (real) tap values ``x_p``: the
multilinear interpolation ``a = sum_addr v[addr] prod_p (x_p if bit p else 1 - x_p)`` (at 0/1
taps, the plain lookup ``v[addr]``), plus read noise, then the refractory gate in its product
form:

```
a = clip(a + N(0, noise**2), 0, 1)          one independent draw per node, sample and cycle
s = a * prod_r (1 - s[t - r])
```

Readers (other nodes' taps, the readout) see ``s``; a class's count is the sum of its nodes'
values over the counted cycles; prediction = argmax, ties to the lowest class. This is the relaxed
model of :func:`spikelut.train.bptt.relaxed_forward` with the step replaced by the identity, so
training computes its exact gradient (straight through the quantiser, the noise and the clip;
``dv/dtheta = 1/2`` inside ``[-1, 1]``). With ``bits = 1`` and ``noise = 0`` it is exactly the
binary circuit of ``table = theta > 0`` (checked in the tests): training with it is a
straight-through estimator of the circuit, and its model is saved as a plain binary one.

Noise draws are seeded by ``seed`` and the content of the batch (a CRC of its spikes), so
training, resumed training and evaluation are reproducible, and one sample sees the same noise
wherever it sits in a batch of the same size.

What stores it: a model file (format version 1, unchanged) holds ``logits = theta`` and the
binary view ``table = theta > 0``, plus ``meta["analog"] = {"bits": b, "noise": sigma}``.
Commands that need the binary circuit (``spikelut simulate`` with any bit engine, ``rtl``,
``export``; the API's ``simulate``, ``simulate_file``, ``compile_rtl``, ``export_onnx``) refuse
such a model in one line (:func:`require_binary`); ``spikelut eval`` and :func:`spikelut.api.evaluate`
run it with :func:`simulate`. A spikelut older than this module would read the file as its binary
view: the analog meaning lives in ``meta`` only.

Example:
    >>> import numpy as np
    >>> table_values(np.array([[-1.0, -0.2, 0.3, 1.0]]), bits=2).tolist()
    [[0.0, 0.3333333333333333, 0.6666666666666666, 1.0]]
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import ConfigError, ShapeError
from .escape import terminal as escape_terminal
from .network import Network, all_binary

#: table bits allowed (0 in ``[train] analog_bits`` = the binary circuit)
MAX_BITS = 16


@dataclass(frozen=True)
class AnalogSpec:
    """``bits`` per table entry (1 .. 16) and the read noise's standard deviation (full scale 1).

    Attributes:
        bits: ``b``, an int in ``1 ..`` :data:`MAX_BITS`.
        noise: ``sigma >= 0`` of the Gaussian read noise, in units of the full scale 1.

    Raises:
        ConfigError: ``bits`` not an int in range, or ``noise`` not a finite number >= 0.

    Example:
        >>> AnalogSpec(4, 0.05).to_meta(), AnalogSpec(1).is_binary
        ({'bits': 4, 'noise': 0.05}, True)
    """

    bits: int
    noise: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 1 <= self.bits <= MAX_BITS:
            raise ConfigError(f"analog bits must be an integer in 1 .. {MAX_BITS}, got {self.bits!r}")
        if isinstance(self.noise, bool) or not isinstance(self.noise, (int, float)) \
                or not np.isfinite(self.noise) or self.noise < 0:
            raise ConfigError(f"analog noise must be a number >= 0, got {self.noise!r}")

    @property
    def is_binary(self) -> bool:
        """1 bit without noise: every value is 0 or 1, so the model *is* the binary circuit of
        ``table = theta > 0`` (the trainer saves it as a plain binary model)."""
        return self.bits == 1 and self.noise == 0

    def to_meta(self) -> dict:
        return {"bits": self.bits, "noise": float(self.noise)}


def spec_of(net: Network, source: Any = None) -> AnalogSpec | None:
    """The analog spec recorded in ``net.meta["analog"]``, or ``None`` for a binary network.

    Args:
        net: the network.
        source: the model file, named first in an error (the entry comes from that file).

    Returns:
        An :class:`AnalogSpec`, or ``None`` when the meta has no ``"analog"`` entry.

    Raises:
        ConfigError: the entry is malformed (names the file, when given, and the field).

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=2, sizes=[2], k=2)
        >>> spec_of(net.replace(meta={"analog": {"bits": 99, "noise": 0.0}}), "m.h5")
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: m.h5: model meta 'analog': analog bits must be an integer in 1 .. 16, got 99
    """
    m = net.meta.get("analog") if isinstance(net.meta, dict) else None
    if m is None:
        return None
    where = "" if source is None else f"{source}: "
    if not isinstance(m, dict) or set(m) != {"bits", "noise"}:
        raise ConfigError(f"{where}model meta 'analog' must be {{\"bits\": b, \"noise\": sigma}}, "
                          f"got {escape_terminal(repr(m))[:80]}")
    try:
        return AnalogSpec(m["bits"], m["noise"])
    except ConfigError as e:  # the file named, not only the value
        raise ConfigError(f"{where}model meta 'analog': {e}") from None


def require_binary(net: Network, what: str, source: Any = None) -> None:
    """Refuse an analog model where a binary circuit is needed (``what``: the command or call;
    ``source``: the model file, named first in the message).

    Args:
        net: the network.
        what: the command or call that needs the circuit, first words of the message.
        source: the model file, or ``None``.

    Returns:
        ``None`` for a binary model.

    Raises:
        ConfigError: one line naming the model's table bits and what to do; ``net`` not a
            :class:`~spikelut.network.Network`; a malformed ``meta["analog"]`` (:func:`spec_of`).

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=2, sizes=[2], k=2)
        >>> require_binary(net.replace(meta={"analog": {"bits": 4, "noise": 0.0}}), "rtl")
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: rtl needs a binary circuit, but this is an analog model (4-bit tables, docs/relaxations.md); evaluate it with spikelut eval, or retrain with [train] analog_bits = 0
    """
    if not isinstance(net, Network):  # spec_of reads net.meta: an AttributeError otherwise
        raise ConfigError(f"{what} needs a Network, got {type(net).__name__}")
    spec = spec_of(net, source)
    if spec is not None:
        where = "" if source is None else f"{source}: "
        raise ConfigError(f"{where}{what} needs a binary circuit, but this is an analog model "
                          f"({spec.bits}-bit tables, docs/relaxations.md); evaluate it with "
                          f"spikelut eval, or retrain with [train] analog_bits = 0")


def table_values(theta: Any, bits: int) -> np.ndarray:
    """``v = q_b(clip(theta, -1, 1) / 2 + 1/2)`` (float64), the values an analog table holds.

    Args:
        theta: the parameters, any shape (a layer's ``logits [n, 2**k]``); NaN stays NaN.
        bits: ``b``, an int in ``1 ..`` :data:`MAX_BITS`.

    Returns:
        float64 values in ``[0, 1]`` on the ``2**b`` levels ``i / (2**b - 1)``, ``theta``'s shape.

    Raises:
        ConfigError: ``bits`` out of range (0 bits divided by zero: every value NaN).

    Example:
        >>> table_values([-1.0, 0.0, 0.4, 2.0], bits=1).tolist()   # 1 bit: theta > 0
        [0.0, 0.0, 1.0, 1.0]
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= MAX_BITS:
        raise ConfigError(f"analog bits must be an integer in 1 .. {MAX_BITS}, got {bits!r}")
    levels = (1 << bits) - 1
    z = np.clip(np.asarray(theta, np.float64), -1.0, 1.0) * 0.5 + 0.5
    return np.round(z * levels) / levels


def value_grad(theta: Any) -> np.ndarray:
    """``dv/dtheta`` used by training: 1/2 inside ``[-1, 1]`` (straight through the quantiser).

    Args:
        theta: the parameters, any shape.

    Returns:
        float64 of ``theta``'s shape: 0.5 where ``|theta| < 1``, else 0 (NaN: 0).

    Raises:
        TypeError: ``theta`` is not numeric (numpy's).

    Example:
        >>> value_grad([-2.0, -0.5, 1.0]).tolist()
        [0.0, 0.5, 0.0]
    """
    return np.where(np.abs(np.asarray(theta)) < 1.0, 0.5, 0.0)


def _reader(noise: float, rng: np.random.Generator):
    """The node's output as a :class:`~spikelut.train.surrogates.Surrogate`: ``fn`` = the read
    (noise, clip), ``grad`` = 1 (straight through), as :func:`relaxed_forward` expects."""
    from .train.surrogates import Surrogate

    def fn(u, w):
        if noise > 0:
            u = u + rng.normal(0.0, noise, u.shape)
        return np.clip(u, 0.0, 1.0)

    return Surrogate("analog_read", 1.0, fn, lambda u, w: np.ones_like(u))


def batch_rng(seed: int, x: np.ndarray) -> np.random.Generator:
    """The noise generator of one batch: seeded by ``seed`` and a CRC of the batch's spikes.

    Args:
        seed: an int >= 0.
        x: the batch's spikes (any array; its bytes and shape are hashed).

    Returns:
        A new ``np.random.Generator``: the same ``seed`` and spikes give the same draws.

    Raises:
        ValueError: a negative ``seed`` (numpy's).

    Example:
        >>> x = np.ones((4, 2, 3), np.uint8)
        >>> batch_rng(0, x).random() == batch_rng(0, x).random() != batch_rng(1, x).random()
        True
    """
    x = np.ascontiguousarray(x)
    return np.random.default_rng([int(seed), zlib.crc32(x.tobytes()), *x.shape])


def forward(plan: Any, thetas: Sequence[Any], x: np.ndarray, spec: AnalogSpec, seed: int = 0) -> Any:
    """The analog model's forward pass (a soft :class:`~spikelut.train.bptt.Forward`, float64).

    Args:
        plan: :func:`spikelut.train.bptt.compile_plan` of the network.
        thetas: per layer the parameters ``[n_i, 2**k_i]``.
        x: 0/1 input spikes ``[T, B, n_in]`` (not checked here: :func:`simulate` checks).
        spec: the table bits and read noise.
        seed: the noise seed (:func:`batch_rng`).

    Returns:
        The :class:`~spikelut.train.bptt.Forward`; ``fwd.spikes(i)``: float64 ``[T, B, n_i]``
        node values in ``[0, 1]``.

    Raises:
        ConfigError: ``spec.bits`` out of range (:func:`table_values`).

    Example:
        >>> from spikelut.train.bptt import compile_plan
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[6, 2], k=3)
        >>> thetas = [np.where(layer.table > 0, 1.0, -1.0) for layer in net.layers]
        >>> fwd = forward(compile_plan(net), thetas, np.ones((4, 2, 3), np.uint8), AnalogSpec(2, 0.1))
        >>> fwd.spikes(1).shape, fwd.spikes(1).dtype
        ((4, 2, 2), dtype('float64'))
    """
    from .train.bptt import relaxed_forward

    values = [table_values(th, spec.bits) for th in thetas]
    return relaxed_forward(plan, values, np.asarray(x), _reader(spec.noise, batch_rng(seed, x)))


def class_values(net: Network, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class sums ``[B, classes]`` (float64) of the readout layer's values ``[T, B, n]`` over the
    counted cycles, and predictions ``[B]`` (int32, ties to the lowest class).

    Args:
        net: the network (its ``readout``).
        out: the readout layer's values ``[T, B, n]`` (numbers, e.g. float64 in ``[0, 1]``).

    Returns:
        ``(counts, pred)``: float64 ``[B, classes]`` and int32 ``[B]``.

    Raises:
        ShapeError: ``out`` is not 3-D with one channel per readout node (numpy's matmul
            ValueError before).

    Example:
        >>> from spikelut.wiring import random_network
        >>> counts, pred = class_values(random_network(0, 3, [6, 2], k=3), np.full((4, 2, 2), 0.5))
        >>> counts.tolist(), pred.tolist()
        ([[2.0, 2.0], [2.0, 2.0]], [0, 0])
    """
    r = net.readout
    shape = np.shape(out)
    if len(shape) != 3 or shape[2] != len(r.class_of):
        raise ShapeError(f"readout values must be [T, B, {len(r.class_of)}] (one channel per node "
                         f"of the readout layer), got shape {tuple(shape)}")
    onehot = np.zeros((len(r.class_of), r.classes))
    counted = np.flatnonzero(r.class_of >= 0)
    onehot[counted, r.class_of[counted]] = 1
    counts = np.asarray(out, np.float64)[r.start:].sum(axis=0) @ onehot
    return counts, np.argmax(counts, axis=1).astype(np.int32)


@dataclass
class AnalogResult:
    """Per layer the node values ``[T, B, n]`` (float64), class sums ``[B, classes]`` and
    predictions ``[B]``.

    Attributes:
        layer_values: per layer, float64 ``[T, B, n_i]`` in ``[0, 1]``.
        counts: float64 ``[B, classes]`` (:func:`class_values`).
        pred: int32 ``[B]``.

    Example:
        >>> r = AnalogResult([np.zeros((2, 1, 1))], np.zeros((1, 1)), np.zeros(1, np.int32))
        >>> r.pred.tolist()
        [0]
    """

    layer_values: list[np.ndarray]
    counts: np.ndarray
    pred: np.ndarray


def simulate(net: Network, spikes: Any, seed: int = 0, spec: AnalogSpec | None = None,
             batch_size: int = 500) -> AnalogResult:
    """Run an analog model (``net.meta["analog"]``, or ``spec``) on 0/1 input spikes
    ``[T, B, n_in]`` with the numpy reference (float64), ``batch_size`` samples at a time.

    Args:
        net: the model, with ``logits`` (the parameters ``theta``) in every layer.
        spikes: 0/1 input spikes ``[T, B, n_in]`` (numpy, or anything ``np.asarray`` takes).
        seed: the read-noise seed, an int >= 0 (:func:`batch_rng`).
        spec: overrides ``net.meta["analog"]``.
        batch_size: samples per forward pass, an int >= 1 (the noise depends on it).

    Returns:
        An :class:`AnalogResult`.

    Raises:
        ConfigError: the network is not analog and no ``spec`` is given, or has no logits; a
            ``seed`` or ``batch_size`` out of range.
        ShapeError: the spikes are not 0/1 ``[T, B, n_in]`` with at least one sample.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[6, 2], k=3, classes=2)
        >>> net = net.replace(layers=[l.replace(logits=np.where(l.table > 0, 1.0, -1.0))
        ...                           for l in net.layers])
        >>> x = (np.random.default_rng(0).random((5, 4, 3)) < 0.5).astype(np.uint8)
        >>> from spikelut.engine.reference import simulate as binary
        >>> r = simulate(net, x, spec=AnalogSpec(bits=1))      # 1 bit, no noise: the circuit
        >>> bool((r.layer_values[1] == binary(net, x).layer_spikes[1]).all())
        True
    """
    from .train.bptt import compile_plan

    spec = spec_of(net) if spec is None else spec
    if spec is None:
        raise ConfigError("this is a binary model (no meta 'analog'); simulate it with spikelut "
                          "simulate, or pass an AnalogSpec")
    if any(layer.logits is None for layer in net.layers):
        raise ConfigError("an analog model needs logits in every layer (its table values)")
    x = np.asarray(spikes)
    if x.ndim != 3 or x.shape[2] != net.n_in:
        raise ShapeError(f"input spikes must be [T, B, {net.n_in}], got shape {x.shape}")
    if x.shape[1] < 1:
        raise ShapeError("input spikes: no samples to simulate")
    if not all_binary(x):  # a 2 was read as a tap value of 2: a silently other result
        raise ShapeError("input spikes must be 0 or 1")
    for name, v, lo in (("seed", seed, 0), ("batch_size", batch_size, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ConfigError(f"{name} must be an integer >= {lo}, got {v!r}")
    plan = compile_plan(net)
    thetas = [layer.logits for layer in net.layers]
    outs: list[list[np.ndarray]] = [[] for _ in net.layers]
    for b0 in range(0, x.shape[1], batch_size):
        fwd = forward(plan, thetas, x[:, b0:b0 + batch_size], spec, seed)
        for i in range(len(net.layers)):
            outs[i].append(np.array(fwd.spikes(i)))
    values = [np.concatenate(o, axis=1) for o in outs]
    counts, pred = class_values(net, values[net.readout.layer])
    return AnalogResult(values, counts, pred)


class AnalogPasses:
    """The trainer's forward and backward for ``[train] analog_bits > 0`` (numpy, float64): the
    signatures of :func:`spikelut.train.bptt.forward` / :func:`~spikelut.train.bptt.backward`,
    but ``tables`` are the parameters ``theta`` (not ``theta > 0``).

    Args:
        spec: the table bits and read noise.
        seed: the noise seed (:func:`batch_rng`).

    ``forward`` returns :func:`forward`'s result; ``backward`` returns the float32 gradients
    ``[n_i, 2**k_i]`` of the parameters and the input gradient. Neither checks its arguments
    (the trainer made them).

    Example:
        >>> from spikelut.train.bptt import compile_plan
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[6, 2], k=3)
        >>> thetas = [np.where(layer.table > 0, 1.0, -1.0) for layer in net.layers]
        >>> AnalogPasses(AnalogSpec(2), 0).forward(compile_plan(net), thetas,
        ...                                        np.ones((4, 2, 3), np.uint8)).spikes(0).shape
        (4, 2, 6)
    """

    name = "analog"

    def __init__(self, spec: AnalogSpec, seed: int) -> None:
        self.spec, self.seed = spec, seed

    def forward(self, plan: Any, thetas: Sequence[Any], x: Any, save: bool = True) -> Any:
        return forward(plan, thetas, x, self.spec, self.seed)

    def backward(self, plan: Any, thetas: Sequence[Any], fwd: Any, g_spikes: Sequence[Any],
                 surrogate: Any, **kw: Any) -> tuple[list[np.ndarray], Any]:
        from .train.bptt import backward

        kw["tap_grad"] = "identity"  # the values themselves: the exact gradient of the model
        values = [table_values(th, self.spec.bits) for th in thetas]
        g_v, g_in = backward(plan, values, fwd, g_spikes, _reader(0.0, None), **kw)
        return [(g * value_grad(th)).astype(np.float32) for g, th in zip(g_v, thetas)], g_in
