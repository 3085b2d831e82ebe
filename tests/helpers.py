"""Small builders shared by the tests."""

import ctypes
import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from spikelut.network import Layer, Network, Readout
from spikelut.threads import environment


def layer(taps, table, refractory=0, name=""):
    """One-node-per-row layer from taps [(source, index, delay), ...] per node and a table."""
    taps = np.asarray(taps, dtype=np.int32)
    if taps.ndim == 2:
        taps = taps[None]
    table = np.asarray(table, np.uint8)
    if table.ndim == 1:
        table = np.tile(table, (taps.shape[0], 1))
    return Layer(table, taps[..., 0], taps[..., 1], taps[..., 2], refractory, name)


def chain(n_in, layers, readout_layer=-1, classes=1, class_of=None, start=0):
    ri = readout_layer % len(layers)
    n = layers[ri].n
    if class_of is None:
        class_of = [j % classes for j in range(n)]
    return Network(n_in, layers, Readout(ri, class_of, classes, start))


def train(bits):
    """A [T, 1, 1] input from a list of bits."""
    return np.asarray(bits, np.uint8)[:, None, None]


TESTS = Path(__file__).parent


SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                  "-fno-omit-frame-pointer", "-g")


def _gxx(what: str) -> str:
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip(f"g++ not found: cannot emulate {what} on the CPU")
    return gxx


def build_cuda_emulation(tmp_dir: Path, source: str, what: str, spec=None,
                         sanitize: bool = False) -> Path:
    """Build ``tests/<source>`` (a kernels/*.cu file under tests/cuda_emulation.h) as a shared
    library; return its path. Skip the test, saying ``what`` is not emulated, without g++ (or,
    with ``sanitize``, without AddressSanitizer/UBSan support). ``spec`` (a kernel module's
    ``compile_spec()``) gives the ``-D`` defines, as for NVRTC. A ``sanitize`` build can only be
    loaded by a process started with :func:`sanitizer_env` (see :func:`run_sanitized`)."""
    defines = [o for o in (spec.options if spec is not None else ()) if o.startswith("-D")]
    gxx = _gxx(what)
    flags = ["-O1"]
    if sanitize:
        sanitizer_env(tmp_dir)  # skips without the runtime
        flags += SANITIZE_FLAGS
    so = tmp_dir / (Path(source).stem + ("_san" if sanitize else "") + ".so")
    subprocess.run([gxx, *flags, "-shared", "-fPIC", "-std=c++14", f"-I{TESTS}",
                    f"-I{TESTS.parent / 'kernels'}", *defines, str(TESTS / source), "-o", str(so)],
                   check=True)
    return so


def cuda_emulation_library(tmp_dir: Path, source: str, what: str, spec=None) -> ctypes.CDLL:
    """:func:`build_cuda_emulation` (without sanitizers), loaded."""
    return ctypes.CDLL(str(build_cuda_emulation(tmp_dir, source, what, spec)))


def sanitizer_env(tmp_dir: Path) -> dict:
    """Environment variables for a Python process that loads a ``sanitize=True`` emulation:
    the AddressSanitizer runtime preloaded (it must come before every other library), leak
    checks off (the interpreter keeps its memory to the end), the first error fatal. Skips the
    test when g++ cannot build and run a program with ``-fsanitize=address,undefined``."""
    gxx = _gxx("the CUDA kernels with sanitizers")
    probe = tmp_dir / "sanitizer_probe"
    src = tmp_dir / "sanitizer_probe.cpp"
    src.write_text("int main() { return 0; }\n")
    r = subprocess.run([gxx, *SANITIZE_FLAGS, str(src), "-o", str(probe)], capture_output=True,
                       text=True)
    if r.returncode != 0 or subprocess.run([str(probe)], capture_output=True).returncode != 0:
        pytest.skip(f"g++ cannot build with -fsanitize=address,undefined: "
                    f"{(r.stderr.strip().splitlines() or ['the probe does not run'])[-1]}")
    asan = subprocess.run([gxx, "-print-file-name=libasan.so"], capture_output=True,
                          text=True).stdout.strip()
    if not Path(asan).is_absolute() or not Path(asan).exists():
        pytest.skip("g++ has no shared AddressSanitizer runtime (libasan.so) to preload into Python")
    return {"LD_PRELOAD": asan,
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=99",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=98"}


def run_sanitized(tmp_dir: Path, code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run Python ``code`` (with tests/ on ``sys.path``) in a fresh process under
    :func:`sanitizer_env`; a sanitizer report ends it with exit status 99 (ASan) or 98 (UBSan)."""
    import os
    import sys

    env = {**os.environ, **sanitizer_env(tmp_dir), "PYTHONPATH": os.pathsep.join(
        [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=timeout)


#: dynamic shared memory the emulation offers when a test runs the kernel's shared-memory path
#: (CUDA's default per-block limit: every emulated test network fits)
EMULATED_SMEM = 48 * 1024


def emulate_infer(fn, net, x, record="all", smem_limit=0, plan=None):
    """Run ``kernels/bitsliced_infer.cu`` emulated on the CPU (``fn`` = the library's
    ``emulate_infer``) through the engine's own plan, launch geometry and argument marshalling;
    returns ``(plan, per-layer spikes)``. ``smem_limit`` is the shared memory offered to
    :func:`spikelut.engine.gpu.launch_config`: 0 runs the global-memory history path,
    :data:`EMULATED_SMEM` the shared-memory path (where the ring fits). ``plan`` replaces
    ``build_plan(net, record, steps=T)``."""
    from spikelut.engine import gpu
    from spikelut.engine.bitpack import pack
    from spikelut.engine.plan import build_plan

    T, B, _ = x.shape
    plan = build_plan(net, record, steps=T) if plan is None else plan
    inp = gpu.to_word_major(pack(x), B)
    cfg = gpu.launch_config(plan, inp.shape[1], smem_limit=smem_limit)
    args, out = gpu.kernel_args(plan, inp, cfg)
    c_args = [ctypes.c_int(cfg.grid), ctypes.c_int(cfg.smem_bytes)]
    for a in args:
        c_args.append(ctypes.c_void_p(a.ctypes.data) if isinstance(a, np.ndarray) and a.ndim
                      else ctypes.c_int(int(a)))
    fn(*c_args)
    return plan, gpu.unpack_recorded(plan, net, out, B)


def emulated_train_launch(lib):
    """``launch(kernel_name, grid, block, args)`` for :mod:`spikelut.train.kernels_gpu` that runs
    ``kernels/train_bptt.cu`` emulated on the CPU (``lib`` from :func:`cuda_emulation_library`
    built with ``kernels_gpu.compile_spec()``), the per-(cycle, layer) and the fused kernels."""
    from spikelut.train import kernels_gpu

    fns = {kernels_gpu.FORWARD: lib.emulate_train_forward,
           kernels_gpu.BACKWARD: lib.emulate_train_backward,
           kernels_gpu.FORWARD_FUSED: lib.emulate_train_forward_fused,
           kernels_gpu.BACKWARD_FUSED: lib.emulate_train_backward_fused}

    def launch(name, grid, block, args):
        # per-(cycle, layer) kernels: every thread of the launch; fused ones: every block (sample)
        c_args = [ctypes.c_longlong(grid if name.endswith("_fused") else grid * block)]
        for a in args:
            if isinstance(a, np.ndarray) and a.ndim:
                assert a.flags.c_contiguous
                c_args.append(ctypes.c_void_p(a.ctypes.data))
            elif isinstance(a, np.int64):
                c_args.append(ctypes.c_longlong(int(a)))
            else:
                assert isinstance(a, np.int32), type(a)
                c_args.append(ctypes.c_int(int(a)))
        fns[name](*c_args)

    return launch


def have_tool(finder) -> bool:
    """True when ``finder()`` (``spikelut.rtl.find_verilator``, ``find_iverilog``, ...) finds its
    tool, False when it raises :class:`~spikelut.errors.ToolError`."""
    from spikelut.errors import ToolError

    try:
        finder()
        return True
    except ToolError:
        return False


def numeric_grad(loss, arrays, i, eps=1e-6, cols=None):
    """Central finite differences of ``loss(arrays)`` w.r.t. ``arrays[i]`` (float64), entry by
    entry; with ``cols`` (a bool mask over the last axis) only those columns, the rest 0."""
    num = np.zeros_like(arrays[i])
    for idx in np.ndindex(num.shape):
        if cols is not None and not cols[idx[-1]]:
            continue
        plus = [a.copy() for a in arrays]
        minus = [a.copy() for a in arrays]
        plus[i][idx] += eps
        minus[i][idx] -= eps
        num[idx] = (loss(plus) - loss(minus)) / (2 * eps)
    return num


def load_demo(demos_dir: str, name: str):
    """demos/<name>.py as a fresh module (its ``__main__`` block does not run)."""
    spec = importlib.util.spec_from_file_location(name, str(Path(demos_dir) / f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def assert_same_training(a, res_a, b, res_b):
    """Two trainers (and their fit results) hold the same parameters bit for bit, kept the same
    logits and logged the same history (apart from the wall time): a resumed run equals an
    uninterrupted one."""
    for pa, pb in zip(a.params, b.params):
        np.testing.assert_array_equal(pa, pb)
    for la, lb in zip(res_a.net.layers, res_b.net.layers):
        np.testing.assert_array_equal(la.logits, lb.logits)
    strip = [{k: v for k, v in r.items() if k != "time"} for r in res_b.history]
    assert strip == [{k: v for k, v in r.items() if k != "time"} for r in res_a.history]


def available_simulator():
    """The Verilog simulator a co-simulation test can use: ``"iverilog"`` when installed, else
    ``"verilator"`` when its package is, else ``None`` (the test then skips)."""
    from spikelut.errors import ToolError
    from spikelut.rtl.cosim import find_verilator

    if shutil.which("iverilog"):
        return "iverilog"
    try:
        find_verilator()
        return "verilator"
    except ToolError:
        return None


def simd_env(value):
    """``SPIKELUT_SIMD`` set to ``value`` inside the block ("0": every AVX-512 path off), restored
    after (a context manager, not a fixture: hypothesis tests use it too)."""
    return environment(SPIKELUT_SIMD=value)


# ---------------------------------------------------------------------------- the CLI in-process
def run(capsys, *argv):
    """``spikelut ARGV`` in this process (arguments as text): ``(exit status, stdout, stderr)``."""
    from spikelut.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(capsys, command, *argv):
    """Exit status 1 and one stderr line ``spikelut COMMAND: error: ...`` (no traceback)."""
    code, out, err = run(capsys, *argv)
    assert code == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"spikelut {command}: error: "), err
    return lines[0]
