"""Small builders shared by the tests."""

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from spikelut.network import Layer, Network, Readout


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


def cuda_emulation_library(tmp_dir: Path, source: str, what: str, spec=None) -> ctypes.CDLL:
    """Build ``tests/<source>`` (a kernels/*.cu file under tests/cuda_emulation.h) as a shared
    library and load it; skip the test, saying ``what`` is not emulated, without g++. ``spec``
    (a kernel module's ``compile_spec()``) gives the ``-D`` defines, as for NVRTC."""
    defines = [o for o in (spec.options if spec is not None else ()) if o.startswith("-D")]
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip(f"g++ not found: cannot emulate {what} on the CPU")
    so = tmp_dir / (Path(source).stem + ".so")
    subprocess.run([gxx, "-O1", "-shared", "-fPIC", "-std=c++14", f"-I{TESTS}",
                    f"-I{TESTS.parent / 'kernels'}", *defines, str(TESTS / source), "-o", str(so)], check=True)
    return ctypes.CDLL(str(so))
