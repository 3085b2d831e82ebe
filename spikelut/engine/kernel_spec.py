"""CUDA kernels declared once on the Python side: parameters, compile options, generated defines.

Every kernel in ``kernels/*.cu`` that Python launches has one :class:`KernelSpec`: its name and
its parameters as ``(ctype, name)`` pairs in the order of the ``extern "C" __global__``
signature. :meth:`KernelSpec.marshal` builds the launch's argument tuple from a dict keyed by
parameter name, checking every array's dtype and layout and turning every scalar into the exact
numpy scalar type, so an argument can no longer slip by one position or change width silently.
``tests/test_nvrtc.py`` parses each signature from the ``.cu`` source (:func:`parse_signature`)
and checks it equals the spec.

Every kernel module has one :class:`CompileSpec` (source, NVRTC options, name expressions) built
by its ``compile_spec()``: CuPy's ``RawModule`` is constructed from it, and the NVRTC compile
test compiles exactly it. Values that Python and CUDA must agree on (the fan-in ``K_MAX``, the
refractory-gradient mode numbers, the block size) are passed as ``-D`` defines generated from the
Python constants (:func:`defines`), never retyped in the ``.cu`` source.

Example:
    >>> import numpy as np
    >>> spec = KernelSpec("axpy", (("float*", "y"), ("const float*", "x"), ("int", "n")))
    >>> args = spec.marshal({"x": np.ones(3, np.float32), "y": np.zeros(3, np.float32), "n": 3})
    >>> [type(a).__name__ for a in args]
    ['ndarray', 'ndarray', 'int32']
    >>> defines({"SPIKELUT_K_MAX": 6})
    ('-DSPIKELUT_K_MAX=6',)
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

#: element type of each pointer / scalar C type the kernels use
CTYPES: dict[str, Any] = {
    "unsigned char": np.uint8, "int": np.int32, "unsigned int": np.uint32,
    "long long": np.int64, "unsigned long long": np.uint64, "float": np.float32,
    "double": np.float64,
}


def _base(ctype: str) -> tuple[str, bool]:
    """``("unsigned int", True)`` for ``"const unsigned int*"``: the element type and pointer-ness."""
    t = ctype.replace("const", " ").strip()
    pointer = t.endswith("*")
    t = " ".join(t.rstrip("*").split())
    if t not in CTYPES:
        raise ValueError(f"unsupported kernel parameter type {ctype!r}")
    return t, pointer


@dataclass(frozen=True)
class KernelSpec:
    """One ``extern "C" __global__`` kernel: its name and ``(ctype, name)`` parameters in order.

    ``ctype`` is spelled as in the source without ``__restrict__`` (``"const int*"``, ``"int"``).
    """

    name: str
    params: tuple[tuple[str, str], ...]

    @property
    def names(self) -> list[str]:
        return [n for _, n in self.params]

    def marshal(self, values: Mapping[str, Any]) -> tuple:
        """The launch's argument tuple, in signature order, from ``values`` keyed by name.

        Arrays must have the element type of their pointer and be C-contiguous (any array module
        with numpy's ``dtype`` / ``flags``: numpy, CuPy); scalars become ``numpy.int32`` etc.
        after a range check.

        Raises:
            ValueError: a missing or unknown name, a wrong dtype, a non-contiguous array, or a
                scalar out of range for its C type (a bug in the caller, never user input).
        """
        return self.bind({})(**values)

    def bind(self, fixed: Mapping[str, Any]) -> Callable[..., tuple]:
        """Check the arguments that stay the same over many launches once; the returned
        ``args(**rest)`` checks the others and gives the full tuple (as :meth:`marshal`).

        Example:
            >>> import numpy as np
            >>> spec = KernelSpec("f", (("float*", "y"), ("int", "t")))
            >>> args = spec.bind({"y": np.zeros(2, np.float32)})
            >>> args(t=3)[1], args(t=4)[1]
            (np.int32(3), np.int32(4))
        """
        unknown = sorted(set(fixed) - set(self.names))
        if unknown:
            raise ValueError(f"{self.name}: unknown arguments {unknown}")
        checked = {n: self._check(n, fixed[n]) for n in fixed}
        rest = [n for n in self.names if n not in checked]
        rest_set = set(rest)

        def args(**values: Any) -> tuple:
            if values.keys() != rest_set:
                raise ValueError(f"{self.name}: missing arguments "
                                 f"{[n for n in rest if n not in values]}, unknown "
                                 f"{sorted(set(values) - rest_set)}")
            return tuple(checked[n] if n in checked else self._check(n, values[n])
                         for n in self.names)

        return args

    @functools.cached_property
    def _types(self) -> dict[str, tuple[str, np.dtype, bool]]:
        out = {}
        for ctype, name in self.params:
            base, pointer = _base(ctype)
            out[name] = (ctype, np.dtype(CTYPES[base]), pointer)
        return out

    def _check(self, name: str, v: Any) -> Any:
        ctype, want, pointer = self._types[name]
        if pointer:
            if getattr(v, "dtype", None) != want:
                raise ValueError(f"{self.name}: argument {name} ({ctype}) must be a {want} array, "
                                 f"got {getattr(v, 'dtype', type(v).__name__)}")
            if not v.flags.c_contiguous:
                raise ValueError(f"{self.name}: argument {name} must be C-contiguous")
            return v
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{self.name}: argument {name} ({ctype}) must be an integer, got {v!r}")
        info = np.iinfo(want)
        if not info.min <= int(v) <= info.max:
            raise ValueError(f"{self.name}: argument {name} = {int(v)} does not fit {ctype}")
        return want.type(int(v))


@dataclass(frozen=True)
class CompileSpec:
    """What one ``RawModule`` is built from: ``source``, NVRTC ``options``, ``name_expressions``
    (C++ names to look up; empty for ``extern "C"`` kernels) and the ``kernels`` it holds.

    CuPy appends its own options (``-ftz=true``, ``-arch=sm_XX``,
    ``--device-as-default-execution-space``); the NVRTC test appends the same.
    """

    file: str
    source: str
    options: tuple[str, ...]
    name_expressions: tuple[str, ...]
    kernels: tuple[KernelSpec, ...]


def defines(values: Mapping[str, int]) -> tuple[str, ...]:
    """``-DNAME=value`` options for integer constants shared by Python and CUDA, in key order."""
    return tuple(f"-D{k}={int(v)}" for k, v in values.items())


_SIG = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s*)?'
                  r'(\w+)\s*\(([^)]*)\)', re.S)


def parse_signature(source: str, name: str) -> tuple[tuple[str, str], ...]:
    """The ``(ctype, name)`` parameters of kernel ``name`` parsed from CUDA ``source``.

    Example:
        >>> parse_signature('extern "C" __global__ void f(const int* __restrict__ a, int n) {}', "f")
        (('const int*', 'a'), ('int', 'n'))
    """
    for m in _SIG.finditer(source):
        if m.group(1) != name:
            continue
        params = []
        for part in m.group(2).split(","):
            part = " ".join(part.replace("__restrict__", " ").replace("*", "* ").split())
            ctype, pname = part.rsplit(" ", 1)
            params.append((ctype.replace(" *", "*"), pname))
        return tuple(params)
    raise ValueError(f'no extern "C" __global__ kernel {name!r} in the source')


def cupy_module(spec: CompileSpec) -> Any:
    """A ``cupy.RawModule`` compiled from ``spec`` (needs CuPy and a device).

    Raises:
        ToolError: CuPy is not installed or sees no CUDA device.
    """
    from ..xp import require_gpu

    cp = require_gpu()
    kw: dict[str, Any] = {"code": spec.source, "options": spec.options}
    if spec.name_expressions:
        kw["name_expressions"] = spec.name_expressions
    return cp.RawModule(**kw)
