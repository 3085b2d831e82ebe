"""Every CUDA kernel the engines and the trainer load, compiled by NVRTC as CuPy compiles it.

No GPU or driver is needed: NVRTC (the ``nvidia-cuda-nvrtc-cu12`` wheel, called through the
``cuda-bindings`` wheel, both in the ``dev`` extra) compiles each module's ``compile_spec()`` (the
one CuPy's ``RawModule`` is built from) for sm_80 (A100) and sm_90 (H100/H200), with the options
CuPy appends itself, and the log must be empty: no error, no warning. A second compile with
``ptxas -v`` reads each kernel's registers and static shared memory, and the launch geometry the
Python side computes is checked against the limits of those architectures (CUDA programming
guide, "compute capabilities" table). What cannot be checked without a device: the driver's own
limits at load time and the kernels' behaviour (the C++ emulation and the ``gpu`` tests do that).

The parameter lists that marshal each launch (:class:`spikelut.engine.kernel_spec.KernelSpec`)
are checked against the ``extern "C" __global__`` signatures parsed from the sources.
"""

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from spikelut.engine import gpu
from spikelut.engine.kernel_spec import KernelSpec, defines, parse_signature
from spikelut.engine.plan import build_plan
from spikelut.train import bptt, kernels_gpu
from spikelut.wiring import random_network

SPECS = {"infer": gpu.compile_spec, "train": kernels_gpu.compile_spec}
# what cupy.cuda.compiler adds to a RawModule's options (CuPy 13/14, NVRTC backend); "-arch=sm_XX"
# makes NVRTC produce a cubin, as CuPy does for every architecture NVRTC knows
CUPY_OPTIONS = ("-ftz=true", "--device-as-default-execution-space")
# per architecture: registers per block, threads per block, opt-in shared memory per block (bytes)
LIMITS = {80: {"regs": 65536, "threads": 1024, "smem_optin": 163 * 1024},
          90: {"regs": 65536, "threads": 1024, "smem_optin": 227 * 1024}}


def _nvrtc():
    try:
        from cuda.bindings import nvrtc
    except ImportError:
        try:
            from cuda import nvrtc  # cuda-python < 12.6
        except ImportError:
            pytest.skip("cuda-bindings is not installed (pip install -e '.[dev]'): NVRTC not run")
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:  # loading NVRTC may touch the locale too
            err, *_ = pool.submit(nvrtc.nvrtcVersion).result()
    except Exception as e:  # libnvrtc.so.12 not found
        pytest.skip(f"NVRTC library not loadable ({e}); pip install nvidia-cuda-nvrtc-cu12")
    if int(err) != 0:
        pytest.skip(f"NVRTC not usable here: {err}")
    return nvrtc


def compile_nvrtc(spec, arch: int, extra=()) -> tuple[int, str, bytes, str]:
    """``(result code, log, cubin, ptx)`` of compiling ``spec`` as CuPy does for ``sm_<arch>``.

    NVRTC switches the calling thread's C locale to "C" and leaves it so (Python's default file
    encoding would become ASCII for every later test): it runs in a thread of its own.
    """
    nvrtc = _nvrtc()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_compile, nvrtc, spec, arch, extra).result()


def _compile(nvrtc, spec, arch, extra):
    err, prog = nvrtc.nvrtcCreateProgram(spec.source.encode(), spec.file.encode(), 0, [], [])
    assert int(err) == 0
    try:
        for name in spec.name_expressions:
            (err,) = nvrtc.nvrtcAddNameExpression(prog, name.encode())
            assert int(err) == 0
        opts = [o.encode() for o in spec.options + CUPY_OPTIONS + (f"-arch=sm_{arch}",) + tuple(extra)]
        (res,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        _, size = nvrtc.nvrtcGetProgramLogSize(prog)
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(prog, log)
        cubin = ptx = b""
        if int(res) == 0:
            _, size = nvrtc.nvrtcGetCUBINSize(prog)
            cubin = b" " * size
            nvrtc.nvrtcGetCUBIN(prog, cubin)
            _, size = nvrtc.nvrtcGetPTXSize(prog)
            ptx = b" " * size
            nvrtc.nvrtcGetPTX(prog, ptx)
        return int(res), log.rstrip(b"\0").decode(), cubin, ptx.rstrip(b"\0").decode()
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def resources(spec, arch: int) -> dict[str, dict[str, int]]:
    """Per kernel: registers, static shared memory, stack and spills, from ``ptxas -v``."""
    res, log, _, _ = compile_nvrtc(spec, arch, ("--ptxas-options=-v",))
    assert res == 0, log
    out: dict[str, dict[str, int]] = {}
    name = None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            name = m.group(1)
            out[name] = {"registers": 0, "smem": 0, "stack": 0, "spill": 0}
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and name:
            out[name].update(stack=int(m.group(1)), spill=int(m.group(2)) + int(m.group(3)))
        m = re.search(r"Used (\d+) registers", line)
        if m and name:
            out[name]["registers"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            out[name]["smem"] = int(s.group(1)) if s else 0
    return out


# ----------------------------------------------------------------------------- no NVRTC needed
@pytest.mark.parametrize("which", sorted(SPECS))
def test_parameter_lists_match_the_cuda_signatures(which):
    spec = SPECS[which]()
    assert spec.kernels
    for k in spec.kernels:
        assert parse_signature(spec.source, k.name) == k.params, k.name


@pytest.mark.parametrize("which", sorted(SPECS))
def test_sources_need_no_headers_and_refuse_to_compile_without_the_defines(which):
    # NVRTC has no standard headers; the generated defines are required, not defaulted
    spec = SPECS[which]()
    assert "#include" not in spec.source
    assert "#error" in spec.source
    for opt in spec.options:
        if opt.startswith("-D"):
            assert re.search(rf"\b{opt[2:].split('=')[0]}\b", spec.source), opt


def test_generated_defines_follow_the_python_constants():
    from spikelut.network import K_MAX
    from spikelut.train.kernels_cpu import _MODES

    train = kernels_gpu.compile_spec().options
    assert f"-DSPIKELUT_K_MAX={K_MAX}" in train and f"-DSPIKELUT_THREADS={kernels_gpu.THREADS}" in train
    assert f"-DSPIKELUT_FUSED_THREADS={kernels_gpu.FUSED_THREADS}" in train
    assert [o for o in train if "GRAD" in o] == [f"-DSPIKELUT_GRAD_{m.upper()}={v}" for m, v in _MODES.items()]
    infer = gpu.compile_spec().options
    assert infer[1:] == defines({"SPIKELUT_K_MAX": K_MAX, "SPIKELUT_MAX_THREADS": gpu.MAX_THREADS})


def test_parse_signature_and_marshal_errors():
    src = ('extern "C" __global__ void __launch_bounds__(256) k(\n  const long long* __restrict__ a,'
           ' unsigned char* b,\n  long long n, int m) {}')
    params = parse_signature(src, "k")
    assert params == (("const long long*", "a"), ("unsigned char*", "b"), ("long long", "n"),
                      ("int", "m"))
    with pytest.raises(ValueError, match="no extern \"C\" __global__ kernel 'g'"):
        parse_signature(src, "g")
    spec = KernelSpec("k", params)
    a, b = np.zeros(2, np.int64), np.zeros(3, np.uint8)
    args = spec.marshal({"a": a, "b": b, "n": 2**40, "m": -1})
    assert args[0] is a and args[2] == 2**40 and type(args[2]) is np.int64 and type(args[3]) is np.int32
    with pytest.raises(ValueError, match=r"k: argument a \(const long long\*\) must be a int64 array, got int32"):
        spec.marshal({"a": a.astype(np.int32), "b": b, "n": 1, "m": 1})
    with pytest.raises(ValueError, match="k: argument m = 2147483648 does not fit int"):
        spec.marshal({"a": a, "b": b, "n": 1, "m": 2**31})
    with pytest.raises(ValueError, match=r"k: missing arguments \['m'\], unknown \['z'\]"):
        spec.marshal({"a": a, "b": b, "n": 1, "z": 1})
    with pytest.raises(ValueError, match="k: argument b must be C-contiguous"):
        spec.marshal({"a": a, "b": np.zeros(6, np.uint8)[::2], "n": 1, "m": 1})
    with pytest.raises(ValueError, match=r"k: argument n \(long long\) must be an integer, got 1.5"):
        spec.marshal({"a": a, "b": b, "n": 1.5, "m": 1})


def test_launch_arguments_follow_the_parameter_lists():
    # the engine's marshalling produces one value per parameter, with its C type
    net = random_network(2, n_in=3, sizes=[4, 2], k=3, max_delay=1, refractory=[0, 2])
    plan = build_plan(net, record="readout")
    args, out = gpu.kernel_args(plan, np.zeros((5, 2, 3), np.uint32), gpu.launch_config(plan, 2, 0))
    assert len(args) == len(gpu.INFER.params)
    assert dict(zip(gpu.INFER.names, args))["out"] is out


# ----------------------------------------------------------------------------- NVRTC
@pytest.mark.parametrize("arch", sorted(LIMITS))
@pytest.mark.parametrize("which", sorted(SPECS))
def test_kernels_compile_with_nvrtc_without_warnings(which, arch):
    spec = SPECS[which]()
    res, log, cubin, ptx = compile_nvrtc(spec, arch)
    assert res == 0, log
    assert log.strip() == "", log
    assert cubin[:4] == b"\x7fELF"
    for k in spec.kernels:
        assert f".entry {k.name}(" in ptx, k.name


@pytest.mark.parametrize("arch", sorted(LIMITS))
def test_infer_launch_geometry_fits_the_compiled_kernel(arch):
    lim = LIMITS[arch]
    spec = gpu.compile_spec()
    _, _, _, ptx = compile_nvrtc(spec, arch)
    # __launch_bounds__ got the generated block limit: the compiler budgets registers for it
    assert re.search(rf"\.entry spikelut_infer\([^{{]*\.maxntid {gpu.MAX_THREADS}, 1, 1", ptx, re.S)
    r = resources(spec, arch)["spikelut_infer"]
    assert r["registers"] > 0 and r["spill"] == 0
    # the widest layer gets the largest block launch_config can pick
    wide = build_plan(random_network(0, n_in=8, sizes=[5000, 10], k=6, max_delay=1))
    fits = gpu.launch_config(wide, w32=4, smem_limit=lim["smem_optin"] - r["smem"])
    assert fits.block == gpu.MAX_THREADS <= lim["threads"]
    assert fits.block * r["registers"] <= lim["regs"]
    assert fits.use_smem and fits.smem_bytes + r["smem"] <= lim["smem_optin"]
    # a ring just too large for shared memory goes to global memory (no dynamic shared memory)
    big = build_plan(random_network(0, n_in=8, sizes=[lim["smem_optin"] // 8, 10], k=6, max_delay=1))
    assert big.depth * big.n_signals * 4 > lim["smem_optin"]
    spill = gpu.launch_config(big, w32=4, smem_limit=lim["smem_optin"] - r["smem"])
    assert not spill.use_smem and spill.smem_bytes == 0
    assert spill.ghist_words == 4 * big.depth * big.n_signals


@pytest.mark.parametrize("arch", sorted(LIMITS))
def test_training_launches_fit_the_compiled_kernels(arch):
    lim = LIMITS[arch]
    spec = kernels_gpu.compile_spec()
    _, _, _, ptx = compile_nvrtc(spec, arch)
    res = resources(spec, arch)
    # the largest block each kernel is launched with: per-(cycle, layer) launches use THREADS;
    # fused ones up to FUSED_THREADS (fused_block of the widest layer)
    wide = bptt.compile_plan(random_network(0, n_in=8, sizes=[5000, 10], k=6))
    largest = {kernels_gpu.FORWARD: kernels_gpu.THREADS, kernels_gpu.BACKWARD: kernels_gpu.THREADS,
               kernels_gpu.FORWARD_FUSED: kernels_gpu.fused_block(wide),
               kernels_gpu.BACKWARD_FUSED: kernels_gpu.fused_block(wide)}
    assert largest[kernels_gpu.FORWARD_FUSED] == kernels_gpu.FUSED_THREADS
    assert sorted(largest) == sorted(k.name for k in spec.kernels)
    for k in spec.kernels:
        bound = kernels_gpu.FUSED_THREADS if k.name.endswith("_fused") else kernels_gpu.THREADS
        assert re.search(rf"\.entry {k.name}\([^{{]*\.maxntid {bound}, 1, 1", ptx, re.S), k.name
        r = res[k.name]
        assert r["smem"] == 0 and r["spill"] == 0, (k.name, r)
        assert largest[k.name] <= bound <= lim["threads"] and largest[k.name] % 32 == 0
        assert largest[k.name] * r["registers"] <= lim["regs"], (k.name, r)
    # one thread per (node, sample): the grid covers every pair and stays within gridDim.x
    for n, B in ((1, 1), (2048, 25), (4096, 4096), (100_000, 20_000)):
        g = kernels_gpu._grid(n, B)
        assert (g - 1) * kernels_gpu.THREADS < n * B <= g * kernels_gpu.THREADS
        assert g <= 2**31 - 1
