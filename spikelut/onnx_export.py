"""The circuit as an ONNX graph: one clock cycle per call, with explicit state (``spikelut export``).

Why one cycle and not the unrolled window: the graph's size does not depend on the window length
``T`` (one graph serves every ``T``, streams of any length, and a caller that stops early); it is
exactly the RTL contract of DESIGN.md section 5 (drive ``in_spikes = x[t]``, read ``out_spikes``,
the clock edge moves the flip-flops: here the state tensor); and an unrolled window would repeat
every gather ``T`` times, making a file ``T`` times larger for no gain.

Graph inputs and outputs (``B`` is a symbolic batch dimension; ``N = n_in + sum(n_i)`` signals,
inputs first then every layer's nodes in order; ``D = max(1, largest delay or refractory)``):

===========  ================  =====================================================================
name         type, shape       meaning
===========  ================  =====================================================================
in_spikes    uint8 [B, n_in]   the input spikes of this cycle, ``x[t]``
state        uint8 [B, D, N]   every signal's last ``D`` values: ``state[:, d-1]`` = cycle ``t - d``
counts       int32 [B, C]      class counts so far (zeros at cycle 0)
cycle        int64 []          ``t`` (0 at the first cycle)
out_spikes   uint8 [B, n_out]  the readout layer's spikes ``s[t]``
state_next   uint8 [B, D, N]   the state for cycle ``t + 1``
counts_next  int32 [B, C]      ``counts`` plus this cycle's class spikes when ``t >= start``
cycle_next   int64 []          ``t + 1``
pred         int64 [B]         ``argmax(counts_next)``, ties to the lowest class
===========  ================  =====================================================================

Start with ``state`` and ``counts`` all zeros and ``cycle = 0``; feed each ``*_next`` back. After
the last cycle ``pred`` is the network's prediction. The whole graph is integer arithmetic
(Gather, Mul, ReduceSum, Concat, Slice, Equal, And, MatMul on int32), so any runtime computes it
exactly; it is checked bit-for-bit against the reference engine under onnxruntime.

Node computation, per layer in evaluation order (DESIGN.md section 2): the taps gather from the
concatenation ``[this cycle's signals so far | state]`` (a delay-0 tap reads this cycle, a tap
with delay ``d`` reads ``state[:, d-1]``); ``addr = sum_p tap_p * 2**p``; ``a`` = a gather from the
flat tables; ``s = a AND (no spike in the last R cycles)``.

Nothing in a valid network is beyond ONNX; the one limit is protobuf's 2 GiB per file (tens of
millions of LUT6 nodes), refused with a one-line :class:`~spikelut.errors.ToolError`.

Example:
    >>> from spikelut.wiring import random_network
    >>> model = to_onnx(random_network(0, n_in=3, sizes=[4, 2], k=2, refractory=1))
    >>> [i.name for i in model.graph.input]
    ['in_spikes', 'state', 'counts', 'cycle']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

# an optional dependency: without it this module does not import, and spikelut.api.export_onnx
# says so in one line; the functions below still go through _onnx(), which says the same when
# the package is gone (or broken) after this module was imported
import onnx  # noqa: F401

from .errors import ConfigError, ToolError
from .network import INPUT, Network

OPSET = 17
#: the graph's inputs and outputs, in order
INPUTS = ("in_spikes", "state", "counts", "cycle")
OUTPUTS = ("out_spikes", "state_next", "counts_next", "cycle_next", "pred")
_PROTOBUF_LIMIT = 2 ** 31 - 2 ** 24  # protobuf's 2 GiB, less room for the graph's structure


def _onnx() -> Any:
    try:
        import onnx
    except Exception:  # noqa: BLE001  (missing or broken: either way one line, not a traceback)
        raise ToolError("ONNX export needs the 'onnx' package, which does not import here; "
                        "install it with pip install 'spikelut[onnx]'") from None
    return onnx


def state_depth(net: Network) -> int:
    """``D``: cycles of history the state holds (largest delay or refractory period, at least 1).

    Args:
        net: the network.

    Returns:
        ``D >= 1``, in cycles.

    Example:
        >>> from spikelut.wiring import random_network
        >>> state_depth(random_network(0, n_in=3, sizes=[4], k=2, max_delay=3))
        3
    """
    return max([1, net.max_delay()] + [layer.refractory for layer in net.layers])


def to_onnx(net: Network, name: str = "spikelut") -> Any:
    """Build the one-cycle ONNX model of ``net`` (see the module docstring for its interface).

    Args:
        net: a validated network.
        name: the graph's name.

    Returns:
        an ``onnx.ModelProto`` (opset 17), checked by ``onnx.checker``.

    Raises:
        ToolError: the ``onnx`` package is missing, or the tables exceed protobuf's 2 GiB limit.
        ConfigError: ``name`` is empty or holds a control character, ``net`` is not a
            :class:`~spikelut.network.Network`, or is an analog model (``meta["analog"]``).

    Example:
        >>> from spikelut.wiring import random_network
        >>> m = to_onnx(random_network(0, n_in=3, sizes=[4], k=2), name="demo")
        >>> m.graph.name, [i.name for i in m.graph.input], m.opset_import[0].version
        ('demo', ['in_spikes', 'state', 'counts', 'cycle'], 17)
    """
    # onnx.checker refuses an empty name with its own exception (a traceback); a control
    # character would reach whatever tool prints the graph's name
    if not isinstance(name, str) or not name or not name.isprintable():
        raise ConfigError(f"the ONNX graph's name (--name) must be a non-empty name of printable "
                          f"characters, got {name!r}")
    from .analog import require_binary

    # an analog model's real-valued tables are not its 0/1 tables: spikelut.export_onnx refused
    # it, called directly this exported the binary circuit without a word
    require_binary(net, "export")
    onnx_lib = _onnx()  # not named onnx: that would shadow the module-level import (ruff F811)
    from onnx import TensorProto, helper, numpy_helper

    table_bytes = sum(layer.table.size for layer in net.layers)
    if table_bytes > _PROTOBUF_LIMIT:
        raise ToolError(f"the network's tables take {table_bytes} bytes, more than one ONNX file "
                        f"can hold (protobuf's 2 GiB limit); export a smaller network")
    sizes = net.sizes
    offsets = list(np.cumsum([net.n_in] + sizes[:-1]).astype(int))
    N = net.n_in + sum(sizes)
    D = state_depth(net)
    ro = net.readout
    C = ro.classes
    nodes: list[Any] = []
    inits: list[Any] = []

    def const(nm: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(arr), nm))
        return nm

    def op(kind: str, ins: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(kind, ins, [out], name=out, **attrs))
        return out

    axis1 = const("axis1", np.array([1], np.int64))
    # the state as [B, D*N]: slot (d-1)*N + g holds signal g at cycle t - d
    flat_state = op("Reshape", ["state", const("flat_shape", np.array([0, D * N], np.int64))],
                    "state_flat")
    cur = "in_spikes"  # this cycle's signals so far, [B, offset_i]
    outs = []
    for i, layer in enumerate(net.layers):
        n, k, off = layer.n, layer.k, offsets[i]
        src = layer.source.astype(np.int64)
        sig = np.where(src == INPUT, 0, np.asarray(offsets, np.int64)[np.maximum(src, 0)]) \
            + layer.index.astype(np.int64)
        dly = layer.delay.astype(np.int64)
        # a delay-0 tap reads the current row (signals < off), a delayed one the state after it
        where = np.where(dly == 0, sig, off + (dly - 1) * N + sig)
        pool = op("Concat", [cur, flat_state], f"L{i}_pool", axis=1)
        taps = op("Gather", [pool, const(f"L{i}_taps_idx", where.reshape(-1))], f"L{i}_taps", axis=1)
        taps = op("Cast", [taps], f"L{i}_taps_i32", to=TensorProto.INT32)
        taps = op("Reshape", [taps, const(f"L{i}_taps_shape", np.array([0, n, k], np.int64))],
                  f"L{i}_taps_nk")
        weighted = op("Mul", [taps, const(f"L{i}_bit", (1 << np.arange(k, dtype=np.int32)))],
                      f"L{i}_weighted")
        addr = op("ReduceSum", [weighted, const(f"L{i}_axis2", np.array([2], np.int64))],
                  f"L{i}_addr", keepdims=0)
        idx = op("Add", [addr, const(f"L{i}_node_off", (np.arange(n, dtype=np.int32) << k))],
                 f"L{i}_table_idx")
        a = op("Gather", [const(f"L{i}_table", layer.table.astype(np.uint8).reshape(-1)), idx],
               f"L{i}_a", axis=0)
        R = layer.refractory
        if R:
            past = op("Slice", ["state", const(f"L{i}_ref_lo", np.array([0, off], np.int64)),
                                const(f"L{i}_ref_hi", np.array([R, off + n], np.int64)),
                                const(f"L{i}_ref_axes", np.array([1, 2], np.int64))], f"L{i}_past")
            past = op("Cast", [past], f"L{i}_past_i32", to=TensorProto.INT32)
            recent = op("ReduceSum", [past, axis1], f"L{i}_recent", keepdims=0)
            quiet = op("Equal", [recent, const(f"L{i}_zero", np.array(0, np.int32))], f"L{i}_quiet")
            fire = op("And", [op("Cast", [a], f"L{i}_a_bool", to=TensorProto.BOOL), quiet],
                      f"L{i}_fire")
            s = op("Cast", [fire], f"L{i}_s", to=TensorProto.UINT8)
        else:
            s = op("Identity", [a], f"L{i}_s")
        outs.append(s)
        cur = op("Concat", [cur, s], f"cur_{i}", axis=1)
    # the clock edge: this cycle's row enters the state, the oldest row leaves
    row = op("Unsqueeze", [cur, axis1], "row")
    if D > 1:
        kept = op("Slice", ["state", const("keep_lo", np.array([0], np.int64)),
                            const("keep_hi", np.array([D - 1], np.int64)), axis1], "state_kept")
        op("Concat", [row, kept], "state_next", axis=1)
    else:
        op("Identity", [row], "state_next")
    op("Identity", [outs[ro.layer]], "out_spikes")
    onehot = np.zeros((len(ro.class_of), C), np.int32)
    counted = np.flatnonzero(ro.class_of >= 0)
    onehot[counted, ro.class_of[counted]] = 1
    spk = op("Cast", [outs[ro.layer]], "out_i32", to=TensorProto.INT32)
    per_class = op("MatMul", [spk, const("class_onehot", onehot)], "class_spikes")
    counting = op("Cast", [op("GreaterOrEqual", ["cycle", const("start", np.array(ro.start, np.int64))],
                              "counting_bool")], "counting", to=TensorProto.INT32)
    op("Add", ["counts", op("Mul", [per_class, counting], "class_spikes_counted")], "counts_next")
    op("Add", ["cycle", const("one_i64", np.array(1, np.int64))], "cycle_next")
    op("ArgMax", ["counts_next"], "pred", axis=1, keepdims=0, select_last_index=0)

    def vi(nm: str, dt: int, shape: list) -> Any:
        return helper.make_tensor_value_info(nm, dt, shape)

    u8, i32, i64 = TensorProto.UINT8, TensorProto.INT32, TensorProto.INT64
    graph = helper.make_graph(
        nodes, name,
        [vi("in_spikes", u8, ["B", net.n_in]), vi("state", u8, ["B", D, N]),
         vi("counts", i32, ["B", C]), vi("cycle", i64, [])],
        [vi("out_spikes", u8, ["B", net.n_out]), vi("state_next", u8, ["B", D, N]),
         vi("counts_next", i32, ["B", C]), vi("cycle_next", i64, []), vi("pred", i64, ["B"])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="spikelut")
    model.ir_version = min(model.ir_version, 8)  # readable by older runtimes too (opset 17)
    onnx_lib.checker.check_model(model)
    return model


def write_onnx(net: Network, path: str | os.PathLike, name: str = "spikelut") -> dict:
    """Write :func:`to_onnx`'s model to ``path`` atomically; return a summary.

    Args:
        net: a validated binary network.
        path: the ``.onnx`` file to write.
        name: the graph's name.

    Returns:
        ``{"path", "bytes", "nodes", "state_depth", "signals", "opset"}``.

    Raises:
        ToolError, ConfigError: as :func:`to_onnx`.
        OutputError: ``path`` cannot be written.

    Example:
        >>> import tempfile, pathlib
        >>> from spikelut.wiring import random_network
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "m.onnx"
        >>> info = write_onnx(random_network(0, n_in=3, sizes=[4], k=2), out)
        >>> info["state_depth"], info["signals"], out.stat().st_size == info["bytes"]
        (2, 7, True)
    """
    from .fileutil import write_bytes_atomic

    model = to_onnx(net, name)
    data = model.SerializeToString()
    write_bytes_atomic(path, data)
    return {"path": str(Path(path)), "bytes": len(data), "nodes": len(model.graph.node),
            "state_depth": state_depth(net), "signals": net.n_in + sum(net.sizes), "opset": OPSET}


def run_onnx_session(session: Any, net: Network, spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                               np.ndarray]:
    """Drive an ``onnxruntime.InferenceSession`` of the exported graph over spikes ``[T, B, n_in]``
    (start from zero state, feed every ``*_next`` output back, one call per cycle).

    Example (needs onnxruntime)::

        session = onnxruntime.InferenceSession("model.onnx")
        out, counts, pred = run_onnx_session(session, load_model("model.h5"), spikes)

    Args:
        session: an ``onnxruntime.InferenceSession`` of :func:`to_onnx`'s graph of ``net``.
        net: the exported network (for the state's size and the readout).
        spikes: 0/1 input spikes ``[T, B, n_in]``.

    Returns:
        ``(out_spikes [T, B, n_out] uint8, counts [B, C] int32, pred [B] int64)``.

    Raises:
        ShapeError: ``spikes`` is not ``[T, B, n_in]`` of 0/1 values (as for the engines: a 2
            would address a neighbouring node's table, a 0.6 become 0, both silently).
    """
    from .engine.result import check_spikes

    spikes = np.ascontiguousarray(check_spikes(net, np.asarray(spikes)))
    T, B, _ = spikes.shape
    feed = {"state": np.zeros((B, state_depth(net), net.n_in + sum(net.sizes)), np.uint8),
            "counts": np.zeros((B, net.readout.classes), np.int32), "cycle": np.array(0, np.int64)}
    out = np.zeros((T, B, net.n_out), np.uint8)
    pred = np.zeros(B, np.int64)
    for t in range(T):
        o, feed["state"], feed["counts"], feed["cycle"], pred = session.run(
            list(OUTPUTS), {"in_spikes": spikes[t], **feed})
        out[t] = o
    return out, feed["counts"], pred
