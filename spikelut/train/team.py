"""Team work of the compiled training passes: atomics, task claiming and waiting (numba).

The threads of one numba parallel region run a pass's tasks (:mod:`.tasks`) in one global
order: each claims the next task from a shared counter and starts it once every task of the
earlier stages is done. The functions here are compiled helpers called from inside the kernels
of :mod:`.kernels_cpu` and :mod:`.kernels_bits`; numba has no atomics on the CPU, so the
read-modify-writes and acquire loads are emitted through LLVM (:func:`fetch_add`, :func:`cas`,
:func:`load_acquire`), and a waiting thread polls, then sleeps (:data:`SPIN_US`).

Example:
    >>> import numpy as np
    >>> ctr = counters()            # a pass's counters: claimed and done tasks
    >>> int(claim(ctr)), int(claim(ctr)), int(ctr[CLAIM])
    (0, 1, 2)
"""

from __future__ import annotations

import os
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# ---------------------------------------------------------------------------- team work
# The threads of a pass claim tasks (a block of nodes of one layer at one cycle) in one global
# order from a shared counter, and a task starts once every task of the earlier stages (layers,
# cycles) is done: the count of finished tasks says so, because no task of a stage can finish
# before that stage's start condition held. Deadlock-free with any number of threads that
# actually run (one thread runs every task in order), so a region never depends on numba
# starting all of its team. Atomic read-modify-write and acquire loads come from LLVM directly
# (numba has none for the CPU).
CLAIM, DONE = 0, 8  # the two counters, on separate cache lines of an int64 [16] array
QNEXT, QDONE = 16, 24  # a pipelined pass: stage q's claimed and done tasks at + 16 * q
#: microseconds a waiting thread polls before it starts to sleep. On a quiet machine the task it
#: waits for is running and ends within about one task's time (tens of microseconds for the
#: MNIST-1D demo at batch 25); sleeping sooner costs a usleep wake-up (50-100 us in practice) at
#: nearly every stage, which cancelled the second thread's gain (1.09 s/epoch slower than one
#: thread with a 0.5 us spin; 1.8x faster with 50 us: docs/threads.md). Longer, and a waiter
#: holds a CPU that a thread descheduled under load needs.
SPIN_US = 50
_NAP_US = 20          # then it sleeps this long between polls (usleep; 50-100 us in practice)
_POLLS = 256          # polls between two reads of the clock
_SLEEP = os.name != "nt"
_CLOCK = int(getattr(time, "CLOCK_MONOTONIC", 1))  # its id differs between Linux and macOS


@intrinsic
def fetch_add(typingctx, arr, idx, val):  # pragma: no cover - compiled
    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]])
        return builder.atomic_rmw("add", ptr, args[2], "seq_cst")

    return types.int64(arr, idx, val), codegen


@intrinsic
def cas(typingctx, arr, idx, old, new):  # pragma: no cover - compiled
    # arr[idx] = new if it holds old (atomically); 1 if it did, else 0
    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]])
        res = builder.cmpxchg(ptr, args[2], args[3], "seq_cst", "seq_cst")
        return builder.zext(builder.extract_value(res, 1), ir.IntType(64))

    return types.int64(arr, idx, old, new), codegen


@intrinsic
def load_acquire(typingctx, arr, idx):  # pragma: no cover - compiled
    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]])
        return builder.load_atomic(ptr, "acquire", 8)

    return types.int64(arr, idx), codegen


@intrinsic
def usleep(typingctx, us):  # pragma: no cover - compiled
    def codegen(context, builder, sig, args):
        if not _SLEEP:
            return context.get_constant(types.int32, 0)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(32), [ir.IntType(32)]), "usleep")
        return builder.call(fn, [builder.trunc(args[0], ir.IntType(32))])

    return types.int32(us), codegen


@intrinsic
def now_us(typingctx):  # pragma: no cover - compiled
    # monotonic microseconds from clock_gettime (a vDSO call, tens of ns: read every _POLLS
    # polls); 0 where there is none (Windows), and then wait_done never sleeps, as before usleep
    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        if not _SLEEP:
            return context.get_constant(types.int64, 0)
        ts = cgutils.alloca_once(builder, ir.ArrayType(i64, 2))
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(32), [ir.IntType(32), ts.type]),
            "clock_gettime")
        builder.call(fn, [ir.Constant(ir.IntType(32), _CLOCK), ts])
        sec = builder.load(builder.gep(ts, [ir.Constant(ir.IntType(32), 0)] * 2))
        nsec = builder.load(builder.gep(ts, [ir.Constant(ir.IntType(32), 0),
                                             ir.Constant(ir.IntType(32), 1)]))
        return builder.add(builder.mul(sec, ir.Constant(i64, 1_000_000)),
                           builder.sdiv(nsec, ir.Constant(i64, 1000)))

    return types.int64(), codegen


@njit(cache=True, nogil=True, inline="always")
def claim(ctr):  # pragma: no cover - compiled
    return fetch_add(ctr, CLAIM, np.int64(1))


@njit(cache=True, nogil=True, inline="always")
def finish(ctr):  # pragma: no cover - compiled
    fetch_add(ctr, DONE, np.int64(1))


@njit(cache=True, nogil=True)
def wait_done(ctr, need):  # pragma: no cover - compiled
    # until `need` tasks are done: poll for SPIN_US (on a quiet machine a stage ends within a
    # task's time), then sleep: the task we wait for belongs to a thread that lost its CPU to
    # another process, and a spinning (or merely yielding) waiter would take CPU time from it
    # (Linux shares CPU time between sessions, so our threads share one session's part)
    if load_acquire(ctr, DONE) >= need:
        return
    t0 = now_us()
    n = 0
    while load_acquire(ctr, DONE) < need:
        n = idle(t0, n)


@njit(cache=True, nogil=True, inline="always")
def idle(t0, n):  # pragma: no cover - compiled
    # one poll of a waiting thread that started waiting at t0 (us), the n-th since the clock was
    # last read: every _POLLS polls it reads the clock, and past SPIN_US it naps; the next n
    n += 1
    if n >= _POLLS:
        n = 0
        if now_us() - t0 >= SPIN_US:
            usleep(np.int64(_NAP_US))
    return n


@njit(cache=True, nogil=True)
def next_task(ctr, P, T, p_first):  # pragma: no cover - compiled
    # the next task of T cycles of P tasks: (c, w), step c of the cycle order and task w of the
    # cycle's pattern, returned once its stage may start; (-1, -1) when every task is claimed
    i = claim(ctr)
    if i >= T * P:
        return -1, -1
    c = i // P
    w = i - c * P
    wait_done(ctr, c * P + p_first[w])
    return c, w


@njit(cache=True, nogil=True)
def next_listed(ctr, tc, tw, need):  # pragma: no cover - compiled
    # the next task of a listed order (block_schedule): (step, pattern entry), returned once every
    # task before its stage is done; (-1, -1) when every task is claimed
    i = claim(ctr)
    if i >= tc.shape[0]:
        return -1, -1
    wait_done(ctr, need[i])
    return tc[i], tw[i]


@njit(cache=True, nogil=True)
def next_queued(ctr, home, qlo, qhi, dq1, dn1, dq2, dn2):  # pragma: no cover - compiled
    # a pipelined pass (pipeline_schedule): the next task of any stage whose previous task is done and
    # whose dependencies hold, claimed with a compare-and-swap (one runner per stage at a time,
    # its tasks in order), starting at stage `home` so that each thread keeps to its stage;
    # -1 when every task is claimed. Any number of threads finishes (one runs every stage by
    # turns: the dependencies point to earlier blocks or to earlier stages of the same block)
    S = qlo.shape[0]
    t0 = np.int64(-1)
    n = 0
    while True:
        left = False
        for k in range(S):
            q = (home + k) % S
            nx = load_acquire(ctr, QNEXT + 16 * q)
            if nx >= qhi[q] - qlo[q]:
                continue
            left = True
            if load_acquire(ctr, QDONE + 16 * q) != nx:
                continue  # its previous task still runs
            i = qlo[q] + nx
            if dq1[i] >= 0 and load_acquire(ctr, QDONE + 16 * dq1[i]) < dn1[i]:
                continue
            if dq2[i] >= 0 and load_acquire(ctr, QDONE + 16 * dq2[i]) < dn2[i]:
                continue
            if cas(ctr, QNEXT + 16 * q, nx, nx + 1):
                return i
        if not left:
            return np.int64(-1)
        if t0 < 0:  # nothing ready: wait as wait_done does, from now
            t0 = now_us()
        n = idle(t0, n)


@njit(cache=True, nogil=True, inline="always")
def next_staged(ctr, home, tc, tw, tq, qlo, qhi, dq1, dn1, dq2, dn2):  # pragma: no cover
    # next_queued's task as (step, pattern entry, its stage's done counter); -1s when none is left
    i = next_queued(ctr, home, qlo, qhi, dq1, dn1, dq2, dn2)
    if i < 0:
        return np.int64(-1), np.int64(-1), np.int64(-1)
    return tc[i], tw[i], QDONE + 16 * tq[i]


def counters(stages: int = 0) -> np.ndarray:
    return np.zeros(16 + 16 * stages, np.int64)

