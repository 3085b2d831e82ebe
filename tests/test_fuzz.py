"""Fuzzing the readers (docs/threat-model.md; issue 21): random mutations of valid model, spike,
event and config files go through the CLI (``info``, ``simulate``, ``eval``, ``rtl``, ``train``,
``init``, ``encode``). Every run either succeeds (``simulate``: equal to the reference engine) or
exits 1 with exactly one line on stderr; never a traceback, a hang, a read of the canary file
that external storage, links and virtual datasets point at, or a file written outside the
output path.

The default budget is small (``SPIKELUT_FUZZ_EXAMPLES``, default 30 per target); a longer run:
``SPIKELUT_FUZZ_EXAMPLES=1000 python -m pytest -q tests/test_fuzz.py``.
"""

import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikelut.api import simulate
from spikelut.cli import main
from spikelut.io import load_model, load_result, save_model, save_spikes
from spikelut.wiring import random_network

# a float or integer that wraps around in a cast is a bound checked too late
pytestmark = pytest.mark.filterwarnings("error:.*encountered in cast:RuntimeWarning")
EXAMPLES = int(os.environ.get("SPIKELUT_FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
CANARY = b"CANARY:5e1f0d7c:never-read-me:" * 64
HANG_S = 60

CONFIG = """seed = 1
inputs = @INPUTS@
[[layers]]
name = @NAME@
nodes = @NODES@
k = @K@
refractory = @REFRACTORY@
taps = [{from = "input", count = @COUNT@, wiring = @WIRING@}, {from = "self", count = 1, delay = @DELAY@}]
[[layers]]
nodes = 4
k = 3
shape = @SHAPE@
taps = [{from = @FROM@, count = 3, index = @INDEX@}]
[readout]
classes = @CLASSES@
class_of = @CLASS_OF@
start = @START@
[train]
epochs = 1
batch_size = 3
"""
DEFAULTS = {"INPUTS": "3", "NAME": '"L0"', "NODES": "6", "K": "3", "REFRACTORY": "1", "COUNT": "2",
            "WIRING": '"random"', "DELAY": "1", "SHAPE": "[2, 2]", "FROM": '"L0"',
            "INDEX": "[0, 1, 2]", "CLASSES": "2", "CLASS_OF": "[0, 1, 0, 1]", "START": "0"}
TOML_VALUES = ["0", "-1", "1", "2", "7", "65536", str(2**31 - 1), str(2**62), "1000000000", "1.5",
               "nan", "inf", "true", '"ab"', '"\\u001b[2J"', '"L0"', '"self"', '"own"', '"input"',
               "[]", "[0]", '[0, "x"]', "[[0, 1], [0]]", "[2, 2]", "[0, 1, 0, 1]", "[-2, 0, 0, 0]",
               "[1000000, 1000000]", "{}", '{from = "input"}', '"local"', '"serial"']


@contextlib.contextmanager
def no_hang(seconds=HANG_S):
    def alarm(signum, frame):
        raise TimeoutError(f"a command ran longer than {seconds} s (a hang?)")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _files(d: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime_ns for p in d.rglob("*") if p.is_file()}


def check_cli(capsys, d: Path, argv, output: Path | None, must_fail: bool = False) -> int:
    """Run ``spikelut ARGV`` and check the rules of the module docstring; returns the status."""
    before = _files(d)
    with no_hang():
        status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = err.splitlines()
    text = out + err
    assert "Traceback" not in text
    assert CANARY[:30].decode() not in text
    if status != 0:
        assert status == 1, (argv, status, text)
        assert len(lines) == 1 and lines[0].startswith(f"spikelut {argv[0]}: error: "), (argv, lines)
    assert not (must_fail and status == 0), (argv, "a file that reads another file was accepted")
    for p, mtime in _files(d).items():
        if before.get(p) != mtime:
            assert output is not None and (p == output or output in p.parents), (argv, p)
            assert CANARY[:30] not in p.read_bytes(), (argv, p)
    return status


# ---------------------------------------------------------------- HDF5 mutations
ATTR_VALUES = st.sampled_from([
    np.int64(0), np.int64(-1), np.int64(2), np.int64(2**31 - 1), np.int64(2**62), np.int64(-2**63),
    np.uint64(2**64 - 1), np.uint64(1), np.float64(1.5), np.float64(np.nan), np.bool_(True),
    "spikelut-model", "spikelut-spikes", "L\x1b[2J\u2028", "x" * 5000, np.array([1, 2, 3]),
    np.array([[1, 2]]), b"\xff\xfe", "[" * 100_000 + "]" * 100_000, '{"a": 1}', "[1]", "{bad json",
])
DTYPES = st.sampled_from(["uint8", "int8", "int32", "int64", "uint64", "float32", "float64", "bool"])
VALUES = st.sampled_from([(0, 2), (-1, 3), (0, 10), (2**31 - 2, 2**31 - 1), (-2**31, -2**31 + 1)])


@st.composite
def mutation(draw, datasets, groups, attrs):
    kind = draw(st.sampled_from(["data", "data", "declare", "vlen", "string", "attr", "attr",
                                 "delattr", "delete", "soft", "extlink", "external", "virtual",
                                 "rename", "filter", "extra"]))
    if kind in ("attr", "delattr"):
        obj, name = draw(st.sampled_from(attrs))
        return kind, obj, name, draw(ATTR_VALUES)
    if kind == "extra":
        names = st.sampled_from(["x", "L\x1b", "L9", b"L\xff"])
        return kind, draw(st.sampled_from(groups)), draw(names), None
    if kind in ("delete", "soft", "extlink", "rename"):
        return kind, draw(st.sampled_from(datasets + groups[1:])), None, draw(
            st.sampled_from(datasets + groups + ["/nowhere"]))
    path = draw(st.sampled_from(datasets))
    if kind == "data":
        ndim = draw(st.integers(0, 4))
        shape = tuple(draw(st.lists(st.integers(0, 9), min_size=ndim, max_size=ndim)))
        lo, hi = draw(VALUES)
        return kind, path, None, (draw(DTYPES), shape, lo, hi, draw(st.integers(0, 2**32 - 1)))
    if kind == "declare":
        dims = draw(st.lists(st.sampled_from([1, 7, 1000, 2**20, 2**31 - 1, 2**40]),
                             min_size=1, max_size=3))
        return kind, path, None, tuple(dims)
    return kind, path, None, None


def points_outside(f: h5py.File) -> bool:
    """Whether the file holds a link, external storage or a virtual dataset (anything that could
    make a reader open another file)."""
    found = []

    def visit(name):
        if f.id.links.get_info(name).type != h5py.h5l.TYPE_HARD:
            found.append(name)
            return None
        obj = h5py.h5o.open(f.id, name)
        if isinstance(obj, h5py.h5d.DatasetID):
            dcpl = obj.get_create_plist()
            if dcpl.get_layout() == h5py.h5d.VIRTUAL or dcpl.get_external_count():
                found.append(name)
        return None

    f.id.links.visit(visit)
    return bool(found)


def apply(f: h5py.File, m, canary: Path, canary_h5: Path) -> bool:
    """Apply one mutation; True if it makes the file point at another file."""
    kind, path, name, arg = m
    if kind in ("attr", "delattr"):
        if path not in f:
            return False
        obj = f[path]
        if kind == "delattr":
            if name in obj.attrs:
                del obj.attrs[name]
        elif isinstance(arg, bytes):
            obj.attrs.create(name, arg, dtype=h5py.string_dtype("utf-8"))
        else:
            obj.attrs[name] = arg
        return False
    if kind == "extra":
        if path in f and isinstance(f[path], h5py.Group) and name not in f[path]:
            f[path].create_group(name)
        return False
    if path not in f:
        return False
    old = f[path]
    shape = old.shape if isinstance(old, h5py.Dataset) else (3,)
    dtype = old.dtype if isinstance(old, h5py.Dataset) else np.dtype("int32")
    if kind == "rename":
        target = arg if arg.startswith("/") else "/" + arg
        if target not in f and target.rsplit("/", 1)[0] in f:
            f.move(path, target)
        return False
    if kind == "filter":
        if isinstance(old, h5py.Dataset) and old.shape and dtype.kind in "iu" and old.size < 10**6:
            data = old[()]
            del f[path]
            f.create_dataset(path, data=data, scaleoffset=0)
        return False
    del f[path]
    if kind == "delete":
        return False
    if kind == "soft":
        f[path] = h5py.SoftLink(arg)
        return True
    if kind == "extlink":
        f[path] = h5py.ExternalLink(str(canary_h5), "/data")
        return True
    if kind == "external":
        n = int(np.prod(shape)) * dtype.itemsize if shape else dtype.itemsize
        f.create_dataset(path, shape=shape, dtype=dtype, external=[(str(canary), 0, max(n, 1))])
        return True
    if kind == "virtual":
        layout = h5py.VirtualLayout(shape=(len(CANARY) // 8,), dtype=np.int64)
        src = canary_h5 if arg is None else canary_h5.with_name("missing.h5")
        layout[:] = h5py.VirtualSource(str(src), "data", shape=(len(CANARY) // 8,))
        f.create_virtual_dataset(path, layout, fillvalue=0)
        return True
    if kind == "data":
        dt, shp, lo, hi, seed = arg
        data = np.random.default_rng(seed).integers(lo, hi, size=shp, endpoint=True)
        f.create_dataset(path, data=data.astype(dt) if dt != "bool" else data > 0)
    elif kind == "declare":
        f.create_dataset(path, shape=arg, dtype=dtype, chunks=tuple(1 for _ in arg), compression="gzip")
    elif kind == "vlen":
        ds = f.create_dataset(path, (3,), dtype=h5py.vlen_dtype(np.int32))
        for j in range(3):
            ds[j] = np.arange(j + 1, dtype=np.int32)
    elif kind == "string":
        f.create_dataset(path, data=np.array([b"0", b"x", b"\xff"]))
    return False


MODEL_DATASETS = [f"layers/L{i}/{n}" for i in (0, 1) for n in ("table", "source", "index", "delay")] + [
    "readout/class_of", "layers/L0/logits"]
MODEL_GROUPS = ["/", "layers", "layers/L0", "layers/L1", "readout"]
MODEL_ATTRS = [("/", "format"), ("/", "version"), ("/", "inputs"), ("/", "meta"),
               ("layers/L0", "name"), ("layers/L0", "refractory"), ("layers/L1", "name"),
               ("layers/L1", "refractory"), ("readout", "layer"), ("readout", "classes"),
               ("readout", "start")]
SPIKE_DATASETS = ["spikes", "labels"]
SPIKE_GROUPS = ["/"]
SPIKE_ATTRS = [("/", "format"), ("/", "version"), ("/", "coding"), ("/", "classes"), ("/", "model")]


class World:
    """A temporary folder with a valid model, spike file, config and the canary files."""

    def __init__(self, d: Path):
        self.d = d
        net = random_network(3, n_in=3, sizes=[6, 4], k=3, classes=2, refractory=[1, 0])
        net = net.replace_layer(
            0, logits=np.where(net.layers[0].table > 0, 0.5, -0.5).astype(np.float32))
        self.model = d / "m.h5"
        save_model(net, self.model)
        x = np.random.default_rng(0).integers(0, 2, (8, 6, 3)).astype(np.uint8)
        self.spikes = d / "s.h5"
        save_spikes(self.spikes, x, labels=[0, 1, 0, 1, 1, 0], meta={"coding": "none", "classes": 2})
        self.canary = d / "canary.bin"
        self.canary.write_bytes(CANARY)
        self.canary_h5 = d / "canary.h5"
        with h5py.File(self.canary_h5, "w") as f:
            f["data"] = np.frombuffer(CANARY, np.int64)
        self.config = d / "c.toml"
        self.config.write_text(render({}))
        self.out = d / "out"

    def mutate(self, src: Path, muts) -> tuple[Path, bool]:
        dst = self.d / ("mut_" + src.name)
        shutil.copy(src, dst)
        points = False
        with h5py.File(dst, "a") as f:
            for m in muts:
                try:
                    apply(f, m, self.canary, self.canary_h5)
                except (ValueError, TypeError, KeyError, OSError, OverflowError, RuntimeError):
                    pass  # h5py refused to write this mutation: nothing to test
            points = points_outside(f)
        return dst, points

    def clean_out(self):
        if self.out.is_dir():
            shutil.rmtree(self.out)
        elif self.out.exists():
            self.out.unlink()


def render(values: dict) -> str:
    text = CONFIG
    for key, default in DEFAULTS.items():
        text = text.replace(f"@{key}@", values.get(key, default))
    return text


@pytest.fixture(scope="module")
def world():
    with tempfile.TemporaryDirectory() as d:
        yield World(Path(d))


def check_simulation(world: World, model: Path, spikes: Path) -> None:
    """A result written by ``simulate`` equals the reference engine on what the readers read."""
    net = load_model(model)
    data, res = load_result(world.out, net)
    ref = simulate(net, data.spikes, backend="numpy").to_numpy()
    assert all(np.array_equal(a, b) for a, b in zip(ref.layer_spikes, res.layer_spikes))
    assert np.array_equal(ref.counts, res.counts) and np.array_equal(ref.pred, res.pred)


@FUZZ
@given(st.lists(mutation(MODEL_DATASETS, MODEL_GROUPS, MODEL_ATTRS), min_size=1, max_size=3))
def test_fuzz_model_files(capsys, world, muts):
    model, points = world.mutate(world.model, muts)
    w = world
    check_cli(capsys, w.d, ["info", model], None, points)
    w.clean_out()
    if check_cli(capsys, w.d, ["simulate", model, w.spikes, "-o", w.out], w.out, points) == 0:
        check_simulation(w, model, w.spikes)
    check_cli(capsys, w.d, ["eval", model, w.spikes], None, points)
    w.clean_out()
    check_cli(capsys, w.d, ["rtl", model, "-o", w.out], w.out, points)


@FUZZ
@given(st.lists(mutation(SPIKE_DATASETS, SPIKE_GROUPS, SPIKE_ATTRS), min_size=1, max_size=3))
def test_fuzz_spike_files(capsys, world, muts):
    spikes, points = world.mutate(world.spikes, muts)
    w = world
    w.clean_out()
    if check_cli(capsys, w.d, ["simulate", w.model, spikes, "-o", w.out], w.out, points) == 0:
        check_simulation(w, w.model, spikes)
    check_cli(capsys, w.d, ["eval", w.model, spikes], None, points)
    w.clean_out()
    check_cli(capsys, w.d, ["train", w.config, "--data", spikes, "-o", w.out, "--no-progress"],
              w.out, points)


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(DEFAULTS)), st.sampled_from(TOML_VALUES), max_size=3))
def test_fuzz_configs(capsys, world, values):
    w = world
    cfg = w.d / "mut_c.toml"
    cfg.write_text(render(values))
    w.clean_out()
    check_cli(capsys, w.d, ["init", cfg, "-o", w.out], w.out)
    w.clean_out()
    check_cli(capsys, w.d, ["train", cfg, "--data", w.spikes, "-o", w.out, "--no-progress"], w.out)


EVENT_ARRAYS = st.sampled_from([
    np.array([0.0, 1.0, 2.5]), np.array([0, 1, 2]), np.array([3e9]), np.array([1e300, 0.0]),
    np.array([np.nan]), np.array([-1.0]), np.array([], np.float64), np.array([[0, 1]]),
    np.array([0, 1, 0], np.uint8), np.array([2**62]), np.array([1, 0]), np.array([0]),
    np.array(["a", "b"]), np.array(5), np.array(0.5), np.array(2**40),
])


@FUZZ
@given(st.fixed_dictionaries({k: EVENT_ARRAYS for k in ("t", "channel", "sample", "label")},
                             optional={k: EVENT_ARRAYS for k in ("steps", "dt", "channels", "classes")}))
def test_fuzz_event_files(capsys, world, arrays):
    w = world
    ev = w.d / "mut_ev.npz"
    np.savez(ev, **arrays)
    w.clean_out()
    check_cli(capsys, w.d, ["encode", "--dataset", ev, "-o", w.out], w.out)


def test_the_unmutated_files_pass(capsys, world):
    """The fuzzers start from files every command accepts."""
    w = world
    assert check_cli(capsys, w.d, ["info", w.model], None) == 0
    assert check_cli(capsys, w.d, ["eval", w.model, w.spikes], None) == 0
    w.clean_out()
    assert check_cli(capsys, w.d, ["simulate", w.model, w.spikes, "-o", w.out], w.out) == 0
    check_simulation(w, w.model, w.spikes)
    w.clean_out()
    assert check_cli(capsys, w.d, ["rtl", w.model, "-o", w.out], w.out) == 0
    w.clean_out()
    assert check_cli(capsys, w.d, ["train", w.config, "--data", w.spikes, "-o", w.out,
                                   "--no-progress"], w.out) == 0
    w.clean_out()
    ev = w.d / "ev.npz"
    np.savez(ev, t=np.array([0.0, 1.0, 2.5]), channel=np.array([0, 1, 2]), sample=np.array([0, 1, 0]),
             label=np.array([1, 0]))
    assert check_cli(capsys, w.d, ["encode", "--dataset", ev, "-o", w.out], w.out) == 0
