"""The network model: layers of k-input LUT nodes, their taps, refractory periods and readout.

This module is the one place where the structure of a network is defined and validated
(DESIGN.md section 2). Engines, the trainer, the file formats and the RTL generator all take a
validated :class:`Network` and never re-check its rules.

Example:
    >>> import numpy as np
    >>> from spikelut.network import Layer, Network, Readout
    >>> # one node: fires when input 0 is high and it did not fire last cycle (an oscillator)
    >>> osc = Layer(table=np.array([[0, 1, 0, 0]], np.uint8),
    ...             source=np.array([[-1, 0]]), index=np.array([[0, 0]]),
    ...             delay=np.array([[0, 1]]), name="osc")
    >>> net = Network(n_in=1, layers=[osc], readout=Readout(layer=0, class_of=[0], classes=1))
    >>> net.flip_flops()
    1
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from . import limits
from .errors import NetworkError

K_MIN = limits.MIN_K
K_MAX = limits.MAX_K
#: the largest node that is one FPGA LUT (LUT1..LUT6); larger nodes are compositions (docs/node-sizes.md)
K_LUT = 6


def k_range_problem(k: int) -> str | None:
    """``None`` if ``k`` taps per node is allowed, else the one-line reason (shared by the network,
    config and file checks so the three say the same thing).

    Args:
        k: taps per node (an int; compared with :data:`K_MIN` .. :data:`K_MAX`, 1..12).

    Returns:
        ``None``, or the reason as a string for the caller to raise (it raises nothing itself).

    Raises:
        TypeError: ``k`` cannot be compared with an int (the callers check the type first).

    Example:
        >>> k_range_problem(12) is None, k_range_problem(13)
        (True, 'k = 13 is out of range; a node has 1 to 12 taps (1..6: one FPGA LUT1..LUT6; 7..12: a LUT composition, docs/node-sizes.md)')
    """
    if K_MIN <= k <= K_MAX:
        return None
    return (f"k = {k} is out of range; a node has {K_MIN} to {K_MAX} taps ({K_MIN}..{K_LUT}: one "
            f"FPGA LUT{K_MIN}..LUT{K_LUT}; {K_LUT + 1}..{K_MAX}: a LUT composition, docs/node-sizes.md)")
INPUT = -1  # tap source value meaning "network input channel"

#: elements compared at once by :func:`all_binary` for dtypes without a min/max shortcut
_BINARY_CHUNK = 1 << 20


def all_binary(a: Any) -> bool:
    """Whether every entry of ``a`` is 0 or 1, without temporaries the size of ``a``.

    ``np.isin(a, (0, 1))`` made int64 and bool copies several times the array's size (a 2 GiB
    table or spike file needed ~20 GiB more); integers need only ``min``/``max`` (no copy), and
    other dtypes are compared one chunk of :data:`_BINARY_CHUNK` elements at a time. NaN, strings
    and other non-numbers are not 0 or 1.

    Args:
        a: an array of any shape and dtype, or anything ``np.asarray`` takes.

    Returns:
        ``True`` when every entry is 0 or 1 (bools; an empty array), else ``False``.

    Raises:
        ValueError: ``np.asarray``'s, for ragged nested lists; an array never raises.

    Example:
        >>> all_binary(np.array([[0, 1], [1, 1]], np.uint8)), all_binary([0.0, 1.0, 0.5])
        (True, False)
        >>> all_binary(np.array([0, -1])), all_binary(np.array([], np.float32))
        (False, True)
    """
    a = np.asarray(a)
    if a.size == 0 or a.dtype.kind == "b":
        return True
    kind = a.dtype.kind
    if kind == "u":
        return int(a.max()) <= 1
    if kind == "i":
        return int(a.min()) >= 0 and int(a.max()) <= 1
    if kind not in "fcO":  # strings, bytes, dates, structured records
        return False
    return _binary_chunks(a)


def _binary_chunks(a: np.ndarray) -> bool:
    """:func:`all_binary` for floats and objects: slices of the first axis (views, no copy),
    each compared whole when small enough, else split further along its own first axis."""
    if a.ndim <= 1:
        flat = a.reshape(-1)  # 0-d or 1-d: a view
        for i in range(0, flat.size, _BINARY_CHUNK):
            c = flat[i:i + _BINARY_CHUNK]
            if not bool(((c == 0) | (c == 1)).all()):
                return False
        return True
    row = a[0].size
    if row > _BINARY_CHUNK:
        return all(_binary_chunks(a[i]) for i in range(a.shape[0]))
    step = max(1, _BINARY_CHUNK // max(row, 1))
    for i in range(0, a.shape[0], step):
        c = a[i:i + step]
        if not bool(((c == 0) | (c == 1)).all()):
            return False
    return True


class _FreezeAfterValidation:
    """Refuses attribute assignment once :meth:`_freeze` ran (a validated network is immutable:
    its lowered form is cached on it, :mod:`spikelut.lowering`). Arrays become read-only copies."""

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_frozen"):
            old = self.__dict__.get(name)
            if not isinstance(old, np.ndarray) and type(old) is type(value) and old == value:
                return  # re-validating assigns what is already there (n_in = int(n_in))
            raise dataclasses.FrozenInstanceError(
                f"cannot assign {type(self).__name__}.{name}: a validated network is immutable; "
                f"build a changed copy with .replace({name}=...)")
        object.__setattr__(self, name, value)

    def _freeze(self) -> None:
        if self.__dict__.get("_frozen"):
            return
        for name, v in list(vars(self).items()):
            if isinstance(v, np.ndarray):
                v = np.array(v, copy=True)  # the caller's array stays theirs (and writable)
                v.setflags(write=False)
                object.__setattr__(self, name, v)
        object.__setattr__(self, "_frozen", True)

    def replace(self, **changes: Any):
        """A new (unfrozen until validated) instance with ``changes`` applied to its fields."""
        return dataclasses.replace(self, **changes)


def _as_int_matrix(a, name: str, where: str) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError, OverflowError):
        raise NetworkError(f"{where}: {name} must be a 2-D array of integers [nodes, k] "
                           f"(ragged or non-numeric rows given)") from None
    if arr.ndim != 2:
        raise NetworkError(f"{where}: {name} must be a 2-D array [nodes, k], got shape {arr.shape}")
    if arr.dtype.kind not in "iub" and not (arr.dtype.kind == "f" or arr.size == 0):
        raise NetworkError(f"{where}: {name} must hold integers, got dtype {arr.dtype}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr) & (np.mod(arr, 1) == 0)):
            raise NetworkError(f"{where}: {name} must hold integers")
    if arr.size and arr.dtype != np.int32:
        # an int64 or float value outside int32 would wrap around silently in astype
        lo, hi = arr.min(), arr.max()
        if lo < np.iinfo(np.int32).min or hi > np.iinfo(np.int32).max:
            bad = int(hi) if hi > np.iinfo(np.int32).max else int(lo)
            raise NetworkError(f"{where}: {name} holds {bad}, outside the 32-bit range")
    return arr.astype(np.int32, copy=False)


def _is_int(v) -> bool:
    """Whether ``v`` is an integer value (Python, numpy or an integral float), not a bool."""
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, np.integer)):
        return True
    return isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer()


@dataclass(eq=False)
class Layer(_FreezeAfterValidation):
    """One layer of ``n`` LUT nodes, each with ``k`` taps.

    Attributes:
        table: uint8 ``[n, 2**k]``; entry ``a`` is the output when tap ``p`` carries ``(a >> p) & 1``.
        source: int32 ``[n, k]``; ``-1`` = network input, ``s >= 0`` = layer ``s``.
        index: int32 ``[n, k]``; channel or node index within the source.
        delay: int32 ``[n, k]``; the tap reads the source at cycle ``t - delay``.
        refractory: ``R >= 0``; a node that fired stays silent for the next ``R`` cycles.
        name: a human-readable name (unique within a network).
        logits: optional float32 ``[n, 2**k]`` trainable parameters; ``table == (logits > 0)``.
        tap_influence: optional float32 ``[n, k]``: each tap's Boolean influence on its table,
            weighted by how often each address occurred on data (:mod:`spikelut.importance`).
        tap_gradient: optional float32 ``[n, k]``: the mean magnitude of the surrogate gradient
            each tap received on data (:mod:`spikelut.importance`).

    A layer checks its own arrays (2-D integers, 0/1 table, a string name); the rules that
    involve the rest of the network (``k``, table width, sources, indices and delays in range)
    are checked by :class:`Network`. Both raise :class:`~spikelut.errors.NetworkError`.

    The constructor's arguments are the attributes above (any array-likes; they are converted
    to those dtypes).

    Raises:
        NetworkError: a name that is not a string; ``source``/``index``/``delay`` not 2-D
            integers within 32 bits; a table not 2-D 0/1; ``logits``, ``tap_influence`` or
            ``tap_gradient`` not numbers; ``refractory`` not an integer.

    Example:
        >>> and2 = Layer(table=[[0, 0, 0, 1]], source=[[-1, -1]], index=[[0, 1]], delay=[[0, 0]])
        >>> and2.n, and2.k, and2.table.dtype
        (1, 2, dtype('uint8'))
    """

    table: np.ndarray
    source: np.ndarray
    index: np.ndarray
    delay: np.ndarray
    refractory: int = 0
    name: str = ""
    logits: np.ndarray | None = None
    tap_influence: np.ndarray | None = None
    tap_gradient: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.name is None:
            self.name = ""  # the network names it L<i>
        if not isinstance(self.name, str):  # an int name broke saving and the Verilog later
            raise NetworkError(f"layer: name must be a string, got {self.name!r}")
        where = f"layer {self.name!r}" if self.name else "layer"
        self.source = _as_int_matrix(self.source, "source", where)
        self.index = _as_int_matrix(self.index, "index", where)
        self.delay = _as_int_matrix(self.delay, "delay", where)
        try:
            table = np.asarray(self.table)
        except (ValueError, TypeError):
            raise NetworkError(f"{where}: table must be a 2-D array of 0/1 [nodes, 2**k] (ragged "
                               f"rows given)") from None
        if table.ndim != 2:
            raise NetworkError(f"{where}: table must be a 2-D array [nodes, 2**k], got shape {table.shape}")
        if not all_binary(table):
            raise NetworkError(f"{where}: table entries must be 0 or 1")
        self.table = table.astype(np.uint8, copy=False)
        for name in ("logits", "tap_influence", "tap_gradient"):
            if getattr(self, name) is not None:
                try:  # a value past float32's range becomes inf, which validation names
                    with np.errstate(over="ignore"):
                        setattr(self, name, np.asarray(getattr(self, name), dtype=np.float32))
                except (ValueError, TypeError):  # ragged rows, strings: was numpy's ValueError
                    raise NetworkError(f"{where}: {name} must be a 2-D array of numbers (ragged or "
                                       f"non-numeric values given)") from None
        if not _is_int(self.refractory):
            raise NetworkError(f"{where}: refractory must be an integer, got {self.refractory!r}")
        self.refractory = int(self.refractory)

    @property
    def n(self) -> int:
        """Number of nodes."""
        return int(self.source.shape[0])

    @property
    def k(self) -> int:
        """Number of taps (LUT inputs) per node."""
        return int(self.source.shape[1])

    def copy(self) -> "Layer":
        def opt(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a.copy()

        return Layer(self.table.copy(), self.source.copy(), self.index.copy(), self.delay.copy(),
                     self.refractory, self.name, opt(self.logits), opt(self.tap_influence),
                     opt(self.tap_gradient))


@dataclass(eq=False)
class Readout(_FreezeAfterValidation):
    """Which layer is read out, the class of each of its nodes (-1 = not counted), and from when.

    ``count[c]`` sums the spikes of class-``c`` nodes over cycles ``t >= start``; the prediction is
    the argmax of the counts, ties going to the lowest class index. ``class_of`` must have one
    entry per node of layer ``layer`` (checked by :class:`Network`).

    Attributes:
        layer: the read-out layer's index.
        class_of: int32 ``[n]``: each node's class ``0 .. classes - 1``, or -1.
        classes: the number of classes ``C >= 1``.
        start: the first counted cycle (0-based).

    Raises:
        NetworkError: ``class_of`` not 1-D integers >= -1; ``layer``, ``classes`` or ``start``
            not an integer (the ranges are checked by :class:`Network`).

    Example:
        >>> r = Readout(layer=0, class_of=[0, 1, -1], classes=2, start=2)
        >>> r.class_of.tolist(), r.classes, r.start
        ([0, 1, -1], 2, 2)
    """

    layer: int
    class_of: np.ndarray
    classes: int
    start: int = 0

    def __post_init__(self) -> None:
        try:
            arr = np.asarray(self.class_of)
        except (ValueError, TypeError, OverflowError):
            raise NetworkError("readout: class_of must be a 1-D list of integers") from None
        if arr.ndim != 1:
            raise NetworkError(f"readout: class_of must be 1-D, got shape {arr.shape}")
        if arr.size and arr.dtype.kind not in "iu":
            raise NetworkError(f"readout: class_of must hold integers -1 (not counted) or class "
                               f"numbers, got {arr.dtype} values")
        bad = (arr < -1) | (arr > np.iinfo(np.int32).max) if arr.size else arr.astype(bool)
        if bad.any():  # said "got int32 values" of [0, -5], as if the type were wrong
            j = int(np.argmax(bad))
            raise NetworkError(f"readout: class_of[{j}] = {int(arr[j])}: must be -1 (not counted) "
                               f"or a class number 0 .. classes - 1")
        self.class_of = arr.astype(np.int32, copy=False)
        for attr in ("layer", "classes", "start"):
            v = getattr(self, attr)
            if not _is_int(v):
                raise NetworkError(f"readout: {attr} must be an integer, got {v!r}")
            setattr(self, attr, int(v))


@dataclass(eq=False)
class Network(_FreezeAfterValidation):
    """A validated network: ``n_in`` input channels, layers evaluated in order, one readout.

    Construction validates every rule of DESIGN.md section 2 and raises
    :class:`~spikelut.errors.NetworkError` naming the layer, node and tap that break one. A
    validated network is immutable (its layers, readout and arrays too): use
    ``net.replace(layers=[...])`` or :meth:`replace_layer` to get a changed, re-validated copy.

    Attributes:
        n_in: input channels (an int ``>= 0``).
        layers: a tuple of :class:`Layer` (a list is accepted); unnamed layers get ``L<i>``.
        readout: the :class:`Readout`.
        meta: free-form metadata saved with the model (a dict; e.g. ``meta["data"]``, the
            training data's encoding).

    Raises:
        NetworkError: a rule of DESIGN.md section 2 is broken (``k`` outside 1..12, shapes,
            sources, indices, delays, refractory, readout), a limit of :mod:`spikelut.limits`
            is exceeded, layer names repeat, or ``meta`` is not a dict.

    Example:
        >>> and2 = Layer([[0, 0, 0, 1]], [[-1, -1]], [[0, 1]], [[0, 0]])
        >>> net = Network(n_in=2, layers=[and2], readout=Readout(0, [0], 1))
        >>> net.sizes, net.layers[0].name, net.flip_flops()
        ([1], 'L0', 0)
        >>> Network(n_in=1, layers=[and2], readout=Readout(0, [0], 1))
        Traceback (most recent call last):
        ...
        spikelut.errors.NetworkError: layer 0 ('L0'), node 0, tap 1 (source -1, index 1, delay 0): index out of range, source has 1 channels
    """

    n_in: int
    layers: list[Layer]
    readout: Readout
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.layers, Layer) or not isinstance(self.layers, (list, tuple)):
            raise NetworkError(f"layers must be a list of Layer objects, got "
                               f"{type(self.layers).__name__}")
        self.layers = tuple(self.layers)
        self.validate()
        for part in (*self.layers, self.readout, self):
            part._freeze()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check every rule; raise :class:`NetworkError` on the first violation."""
        if not isinstance(self.meta, dict):  # net.meta.get(...) in every reader
            raise NetworkError(f"meta must be a dict, got {type(self.meta).__name__}")
        if not _is_int(self.n_in) or self.n_in < 0:
            raise NetworkError(f"inputs must be a non-negative integer, got {self.n_in!r}")
        self.n_in = limits.check_count(self.n_in, limits.MAX_INPUTS, "input channels", "network",
                                       NetworkError)
        if not self.layers:
            raise NetworkError("a network needs at least one layer")
        limits.check_count(len(self.layers), limits.MAX_LAYERS, "number of layers", "network",
                           NetworkError)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise NetworkError(f"layer {i}: expected a Layer, got {type(layer).__name__}")
            if not layer.name:
                layer.name = f"L{i}"
        # one pass with a set: validation stays linear in the number of layers
        seen: set[str] = set()
        dup: set[str] = set()
        for layer in self.layers:
            (dup if layer.name in seen else seen).add(layer.name)
        if dup:
            raise NetworkError(f"layer names must be unique; repeated: {sorted(dup)[:10]}")
        sizes = [layer.n for layer in self.layers]
        limits.check_count(sum(sizes), limits.MAX_NODES, "total number of nodes", "network",
                           NetworkError)
        # source -> size lookup, built once (index -1 = the input; see _validate_layer)
        size_of = np.asarray(sizes + [self.n_in], np.int64)
        for i, layer in enumerate(self.layers):
            self._validate_layer(i, layer, sizes, size_of)
        limits.check_count(sum(layer.n << layer.k for layer in self.layers),
                           limits.MAX_TABLE_ENTRIES, "total number of table entries", "network",
                           NetworkError)
        self._validate_readout(sizes)

    def _validate_layer(self, i: int, layer: Layer, sizes: list[int], size_of: np.ndarray) -> None:
        where = f"layer {i} ({layer.name!r})"
        n, k = layer.n, layer.k
        if n < 1:
            raise NetworkError(f"{where}: needs at least one node")
        limits.check_count(n, limits.MAX_NODES_PER_LAYER, "number of nodes", where, NetworkError)
        if k_range_problem(k):
            raise NetworkError(f"{where}: {k_range_problem(k)}")
        for name in ("index", "delay"):
            if getattr(layer, name).shape != (n, k):
                raise NetworkError(f"{where}: {name} has shape {getattr(layer, name).shape}, "
                                   f"expected {(n, k)} like source")
        if layer.table.shape != (n, 1 << k):
            raise NetworkError(f"{where}: table has shape {layer.table.shape}, expected {(n, 1 << k)}")
        if layer.logits is not None:
            if layer.logits.shape != (n, 1 << k):
                raise NetworkError(f"{where}: logits have shape {layer.logits.shape}, "
                                   f"expected {(n, 1 << k)}")
            finite = np.isfinite(layer.logits)
            if not finite.all():
                # NaN compares false, so its table entry looked like a trained 0, and training
                # resumed from it diverged at once ("lower lr", the wrong advice); the trainer
                # never saves non-finite logits, so such a file was edited or built by hand
                node, entry = (int(v) for v in np.argwhere(~finite)[0])
                raise NetworkError(f"{where}: logits must be finite, got "
                                   f"{float(layer.logits[node, entry])} at node {node} entry "
                                   f"{entry}; drop them (logits=None) to keep only the table")
            if not np.array_equal(layer.table, (layer.logits > 0).astype(np.uint8)):
                raise NetworkError(f"{where}: table must equal (logits > 0); with a new table "
                                   f"pass logits=None (or logits of that sign), e.g. "
                                   f"net.replace_layer(i, table=t, logits=None)")
        for name in ("tap_influence", "tap_gradient"):  # tap importance (spikelut.importance)
            a = getattr(layer, name)
            if a is not None and a.shape != (n, k):
                raise NetworkError(f"{where}: {name} must be {(n, k)} finite values >= 0, got "
                                   f"shape {a.shape}")
            if a is not None and not np.all(np.isfinite(a) & (a >= 0)):
                node, tap = np.argwhere(~(np.isfinite(a) & (a >= 0)))[0]  # name the first bad one
                raise NetworkError(f"{where}: {name} must be {(n, k)} finite values >= 0, got "
                                   f"{float(a[node, tap])} at node {node} tap {tap}")
        if layer.refractory < 0:
            raise NetworkError(f"{where}: refractory must be >= 0, got {layer.refractory}")
        limits.check_count(layer.refractory, limits.MAX_REFRACTORY, "refractory period", where,
                           NetworkError)
        src, idx, dly = layer.source, layer.index, layer.delay
        n_layers = len(sizes)

        def fail(mask: np.ndarray, what: str) -> None:
            j, p = (int(v) for v in np.argwhere(mask)[0])
            raise NetworkError(f"{where}, node {j}, tap {p} (source {int(src[j, p])}, index "
                               f"{int(idx[j, p])}, delay {int(dly[j, p])}): {what}")

        bad = (src < INPUT) | (src >= n_layers)
        if bad.any():
            fail(bad, f"source must be -1 (input) or a layer 0..{n_layers - 1}")
        bad = dly < 0
        if bad.any():
            fail(bad, "delay must be >= 0")
        bad = dly > limits.MAX_DELAY
        if bad.any():
            fail(bad, f"delay is more than the limit of {limits.MAX_DELAY}")
        bad = (dly == 0) & (src >= i)
        if bad.any():
            fail(bad, "a delay-0 tap may only read the input or an earlier layer; "
                      "taps to this or a later layer need delay >= 1")
        limit = size_of[src]  # src is -1..m-1 here; size_of[-1] is n_in
        bad = (idx < 0) | (idx >= limit)
        if bad.any():
            j, p = (int(v) for v in np.argwhere(bad)[0])
            fail(bad, f"index out of range, source has {int(limit[j, p])} "
                      f"{'channels' if src[j, p] == INPUT else 'nodes'}")

    def _validate_readout(self, sizes: list[int]) -> None:
        r = self.readout
        if not isinstance(r, Readout):
            raise NetworkError("readout must be a Readout")
        if not 0 <= r.layer < len(sizes):
            raise NetworkError(f"readout: layer {r.layer} does not exist (network has {len(sizes)} layers)")
        if r.classes < 1:
            raise NetworkError(f"readout: classes must be >= 1, got {r.classes}")
        limits.check_count(r.classes, limits.MAX_CLASSES, "number of classes", "readout",
                           NetworkError)
        if r.start < 0:
            raise NetworkError(f"readout: start must be >= 0, got {r.start}")
        limits.check_count(r.start, limits.MAX_CYCLES, "start cycle", "readout", NetworkError)
        if r.class_of.shape != (sizes[r.layer],):
            raise NetworkError(f"readout: class_of has {r.class_of.shape[0]} entries, but layer "
                               f"{r.layer} has {sizes[r.layer]} nodes")
        bad = (r.class_of < -1) | (r.class_of >= r.classes)
        if bad.any():
            j = int(np.argmax(bad))
            raise NetworkError(f"readout: node {j} has class {int(r.class_of[j])}, "
                               f"expected -1 or 0..{r.classes - 1}")

    # ------------------------------------------------------------------ derived facts
    @property
    def sizes(self) -> list[int]:
        return [layer.n for layer in self.layers]

    @property
    def n_nodes(self) -> int:
        return sum(self.sizes)

    @property
    def n_out(self) -> int:
        """Width of the readout layer (the RTL core's ``out_spikes``)."""
        return self.layers[self.readout.layer].n

    def max_delay(self) -> int:
        """Largest tap delay in the network (0 for a purely combinational one)."""
        return max(int(layer.delay.max()) for layer in self.layers)

    def register_depths(self) -> dict[tuple[int, int], int]:
        """Flip-flops each signal needs: ``{(source, index): depth}``.

        A signal tapped at delay ``d >= 1`` needs a shift register as deep as the largest such
        ``d``; a node of a layer with refractory ``R`` needs its own last ``R`` spikes, so its
        register is at least ``R`` deep. Signals needing none are absent.
        """
        depth: dict[tuple[int, int], int] = {}
        for layer in self.layers:
            m = layer.delay >= 1
            for s, j, d in zip(layer.source[m].tolist(), layer.index[m].tolist(), layer.delay[m].tolist()):
                if d > depth.get((s, j), 0):
                    depth[(s, j)] = d
        for i, layer in enumerate(self.layers):
            if layer.refractory:
                for j in range(layer.n):
                    if layer.refractory > depth.get((i, j), 0):
                        depth[(i, j)] = layer.refractory
        return depth

    def flip_flops(self) -> int:
        """Total registered bits of the circuit (see :meth:`register_depths`)."""
        return sum(self.register_depths().values())

    def iter_taps(self) -> Iterator[tuple[int, int, int, int, int, int]]:
        """Yield ``(layer, node, tap, source, index, delay)`` for every tap."""
        for i, layer in enumerate(self.layers):
            for j in range(layer.n):
                for p in range(layer.k):
                    yield i, j, p, int(layer.source[j, p]), int(layer.index[j, p]), int(layer.delay[j, p])

    def summary(self) -> dict:
        """A JSON-friendly description (what ``spikelut info`` prints)."""
        layers = []
        for i, layer in enumerate(self.layers):
            src = layer.source
            layers.append({
                "index": i, "name": layer.name, "nodes": layer.n, "k": layer.k,
                "refractory": layer.refractory,
                "taps_from_input": int((src == INPUT).sum()),
                "taps_feedforward": int(((src >= 0) & (src < i)).sum()),
                "taps_recurrent": int((src >= i).sum()),
                "taps_self": int(((src == i) & (layer.index == np.arange(layer.n)[:, None])).sum()),
                "max_delay": int(layer.delay.max()),
                "trainable": layer.logits is not None,
            })
        r = self.readout
        return {
            "inputs": self.n_in, "layers": layers, "nodes": self.n_nodes, "luts": self.n_nodes,
            "flip_flops": self.flip_flops(), "max_delay": self.max_delay(),
            "readout": {"layer": r.layer, "layer_name": self.layers[r.layer].name,
                        "classes": r.classes, "start": r.start,
                        "counted_nodes": int((r.class_of >= 0).sum()),
                        "nodes_per_class": np.bincount(r.class_of[r.class_of >= 0],
                                                       minlength=r.classes).tolist()},
        }

    def layer_index(self, name_or_index: str | int) -> int:
        """Resolve a layer name (or index) to its index."""
        if isinstance(name_or_index, (int, np.integer)) and not isinstance(name_or_index, bool):
            if 0 <= name_or_index < len(self.layers):
                return int(name_or_index)
            raise NetworkError(f"no layer {name_or_index}; the network has {len(self.layers)} layers")
        for i, layer in enumerate(self.layers):
            if layer.name == name_or_index:
                return i
        raise NetworkError(f"no layer named {name_or_index!r}; layers are "
                           f"{[layer.name for layer in self.layers]}")

    def replace(self, **changes: Any) -> "Network":
        """A validated copy with ``changes`` (``n_in``, ``layers``, ``readout``, ``meta``) applied;
        ``meta`` is copied so the two networks do not share it."""
        _known_fields(type(self), changes, "Network.replace")
        changes.setdefault("meta", dict(self.meta))
        return dataclasses.replace(self, **changes)

    def replace_layer(self, i: int | str, **changes: Any) -> "Network":
        """A validated copy with layer ``i``'s fields changed, e.g. ``replace_layer(0, name="a")``.

        Args:
            i: the layer's index (``-1``: the last, as in a list) or name.
            **changes: :class:`Layer` fields (``table``, ``source``, ``index``, ``delay``,
                ``refractory``, ``name``, ``logits``, ``tap_influence``, ``tap_gradient``).

        Raises:
            NetworkError: no such layer, a field :class:`Layer` does not have, or a changed
                layer that breaks a rule of the network.

        Example:
            >>> from spikelut.wiring import random_network
            >>> random_network(0, n_in=2, sizes=[3, 1], k=2).replace_layer(0, name="a").layers[0].name
            'a'
        """
        m = len(self.layers)
        if isinstance(i, (int, np.integer)) and not isinstance(i, bool) and -m <= i < 0:
            i += m  # a list's negative index, which this always took
        i = self.layer_index(i)  # was an IndexError (5) or TypeError ("L0")
        _known_fields(Layer, changes, "replace_layer")
        layers = list(self.layers)
        layers[i] = layers[i].replace(**changes)
        return self.replace(layers=layers)

    def copy(self) -> "Network":
        r = self.readout
        return Network(self.n_in, [layer.copy() for layer in self.layers],
                       Readout(r.layer, r.class_of.copy(), r.classes, r.start), dict(self.meta))


def _known_fields(cls: type, changes: dict, what: str) -> None:
    """Refuse a field ``cls`` does not have (was dataclasses' TypeError about ``__init__``)."""
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise NetworkError(f"{what}: {cls.__name__} has no field {unknown[0]!r}; its fields are "
                           f"{', '.join(fields)}")


def readout_classes(n: int, classes: int, nodes_per_class: int | None = None) -> np.ndarray:
    """``class_of`` for a readout layer of ``n`` nodes: blocks of ``nodes_per_class`` per class.

    Nodes past ``classes * nodes_per_class`` get -1 (not counted). With ``nodes_per_class``
    omitted, ``n // classes`` nodes go to each class.

    Args:
        n: nodes of the readout layer.
        classes: classes ``C >= 1``.
        nodes_per_class: nodes per class (a whole number >= 1); ``None``: ``n // C``.

    Returns:
        int32 ``class_of [n]``.

    Raises:
        NetworkError: ``classes`` or ``nodes_per_class`` is not a whole number >= 1, or
            ``classes * nodes_per_class > n``.

    Example:
        >>> readout_classes(5, 2).tolist(), readout_classes(5, 2, 1).tolist()
        ([0, 0, 1, 1, -1], [0, 1, -1, -1, -1])
        >>> readout_classes(5, 2, 1.5)
        Traceback (most recent call last):
        ...
        spikelut.errors.NetworkError: readout: nodes_per_class must be a whole number >= 1, got 1.5
    """
    # 1.5 nodes per class was truncated to 1 silently; classes 2.5 was a TypeError from slicing
    for what, v in (("classes", classes), ("nodes_per_class", nodes_per_class)):
        if v is not None and (isinstance(v, (float, np.floating)) or not _is_int(v)):
            raise NetworkError(f"readout: {what} must be a whole number >= 1, got {v!r}")
    classes = int(classes)
    if classes < 1:
        raise NetworkError(f"readout: classes must be >= 1, got {classes}")
    per = n // classes if nodes_per_class is None else int(nodes_per_class)
    if per < 1 or per * classes > n:
        raise NetworkError(f"readout: {classes} classes x {per} nodes per class does not fit "
                           f"a layer of {n} nodes")
    class_of = np.full(n, -1, np.int32)
    class_of[: per * classes] = np.repeat(np.arange(classes, dtype=np.int32), per)
    return class_of


def stack_taps(groups: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    """Concatenate per-group ``(source, index, delay)`` arrays of shape ``[n, c_g]`` along taps.

    Args:
        groups: one or more ``(source, index, delay)`` triples of integer arrays ``[n, c_g]``
            with the same ``n`` (not checked: build a :class:`Layer` from the result).

    Returns:
        ``(source, index, delay)``: int32 ``[n, sum of c_g]``, group by group.

    Raises:
        ValueError: no groups, or node counts that differ (numpy's concatenate).

    Example:
        >>> z = np.zeros((2, 1), int)
        >>> [a.tolist() for a in stack_taps([(z - 1, z, z), (z, z + 1, z + 1)])]
        [[[-1, 0], [-1, 0]], [[0, 1], [0, 1]], [[0, 1], [0, 1]]]
    """
    src = np.concatenate([g[0] for g in groups], axis=1)
    idx = np.concatenate([g[1] for g in groups], axis=1)
    dly = np.concatenate([g[2] for g in groups], axis=1)
    return src.astype(np.int32), idx.astype(np.int32), dly.astype(np.int32)
