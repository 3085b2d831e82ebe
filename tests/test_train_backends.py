"""Where training runs ([train] backend / --backend): selection and its errors, equal results on
numpy and numba, checkpoints that move between backends, and the device logic of the trainer run
on an emulated device (numpy underneath, every copy between host and device counted) with the
CUDA training kernels emulated in C++, so what would run on CuPy is exercised without a GPU."""

import json
import sys
import types

import h5py
import numpy as np
import pytest

from spikelut.xp import gpu_available
from spikelut.cli import main
from spikelut.errors import ConfigError
from spikelut.io import save_spikes
from spikelut.train import Trainer, TrainConfig, bptt, kernels_gpu
from spikelut.train.passes import TrainBackend, resolve_backend, to_host, why_unavailable

from test_train import CONFIG, _setup, first_of_two
import test_train_kernels

emulated_launch = test_train_kernels.emulated_launch  # the module fixture: the C++ kernels


class Interrupt(Exception):
    pass


def _stop_after(n):
    def callback(trainer, record):
        if record["epoch"] == n:
            raise Interrupt
    return callback


def _strip(history):
    return [{k: v for k, v in r.items() if k != "time"} for r in history]


# ----------------------------------------------------------------------------- emulated device
class DeviceArray(np.ndarray):
    """An array "on the device": numpy underneath. Turning it into a Python number is a copy to
    the host (CuPy synchronizes there), so those are counted too."""

    device = None  # the EmulatedDevice counting copies

    def _count(self):
        if DeviceArray.device is not None:
            DeviceArray.device.d2h += 1

    def __float__(self):
        self._count()
        return float(self.view(np.ndarray))

    def __int__(self):
        self._count()
        return int(self.view(np.ndarray))

    def __bool__(self):
        self._count()
        return bool(self.view(np.ndarray))

    def item(self, *args):
        self._count()
        return self.view(np.ndarray).item(*args)

    def tolist(self):
        self._count()
        return self.view(np.ndarray).tolist()


class EmulatedDevice(types.ModuleType):
    """An array module with numpy's API whose arrays are :class:`DeviceArray`; ``asarray`` /
    ``array`` of host data and ``asnumpy`` count copies (``h2d``, ``d2h``) as CuPy's would."""

    def __init__(self):
        super().__init__("emulated_device")
        self.h2d = self.d2h = 0
        DeviceArray.device = self

    def __getattr__(self, name):
        return getattr(np, name)

    def asarray(self, a, dtype=None):
        if isinstance(a, DeviceArray):
            return a if dtype is None or a.dtype == dtype else a.astype(dtype)
        self.h2d += 1
        return np.array(a, dtype=dtype).view(DeviceArray)

    def array(self, a, dtype=None, copy=True):
        if not isinstance(a, DeviceArray):
            self.h2d += 1
        return np.array(np.asarray(a), dtype=dtype, copy=True).view(DeviceArray)

    def asnumpy(self, a):
        self.d2h += 1
        return np.array(np.asarray(a))


def emulated_numpy():
    dev = EmulatedDevice()
    return dev, TrainBackend("emulated-numpy", dev, bptt.forward, bptt.backward)


def emulated_cuda(launch):
    """The CUDA backend with the device emulated: kernels_gpu's launches run the C++ kernels."""
    dev = EmulatedDevice()

    def forward(plan, tables, x, save=True):
        return kernels_gpu.forward(plan, tables, x, save, launch=launch)

    def backward(plan, thetas, fwd, g, sg, refractory_grad="block", tap_grad="tanh", tbptt=0,
                 input_grad=False):
        return kernels_gpu.backward(plan, thetas, fwd, g, sg, refractory_grad, tap_grad, tbptt,
                                    input_grad, launch=launch)

    return dev, TrainBackend("emulated-cuda", dev, forward, backward)


def test_emulated_device_trains_bit_equal_to_numpy_and_copies_only_per_epoch():
    x, y = first_of_two()
    net, tc = _setup(epochs=3, backend="numpy", keep="best")
    ref = Trainer(net, tc, progress=False)
    res_ref = ref.fit((x, y), (x[:, :7], y[:7]))
    copies = {}
    for batch in (10, 5):  # 2 and 4 steps per epoch: the copies must not depend on it
        net, tc = _setup(epochs=3, backend="numpy", keep="best", batch_size=batch)
        dev, backend = emulated_numpy()
        tr = Trainer(net, tc, progress=False, backend=backend)
        assert all(isinstance(p, DeviceArray) for p in tr.params)
        h0 = dev.h2d
        res = tr.fit((x, y), (x[:, :7], y[:7]))
        assert all(isinstance(a, DeviceArray) for a in tr.params + tr.best_params + tr.opt.m + tr.opt.v)
        copies[batch] = (dev.h2d - h0, dev.d2h)
        if batch == 10:
            assert _strip(res.history) == _strip(res_ref.history)
            for a, b in zip(tr.params, ref.params):
                np.testing.assert_array_equal(a, b)
            for la, lb in zip(res.net.layers, res_ref.net.layers):
                assert type(la.logits) is np.ndarray
                np.testing.assert_array_equal(la.logits, lb.logits)
    assert copies[10] == copies[5]
    # up: train x, y, val x, y once, one shuffled order per epoch; down: per epoch the summed
    # loss and accuracy, and the validation predictions, counts, loss and accuracy
    assert copies[10][0] == 4 + 3


def test_checkpoint_of_an_emulated_device_run_holds_host_arrays_and_resumes_on_numpy(tmp_path):
    x, y = first_of_two()
    net, tc = _setup(epochs=4, backend="numpy")
    full = Trainer(net, tc, progress=False)
    res_full = full.fit((x, y), (x, y))
    ckpt = tmp_path / "c.h5"
    dev, backend = emulated_numpy()
    with pytest.raises(Interrupt):
        Trainer(*_setup(epochs=4, backend="numpy"), progress=False, backend=backend).fit(
            (x, y), (x, y), checkpoint=ckpt, callback=_stop_after(2))
    with h5py.File(ckpt) as f:
        assert f.attrs["epoch"] == 2
        assert f["params/L0"].dtype == np.float32 and f["optim/m/L1"].shape == (4, 16)
    resumed = Trainer(*_setup(epochs=4, backend="numpy"), progress=False)
    res = resumed.fit((x, y), (x, y), checkpoint=ckpt, resume=True)
    assert _strip(res.history) == _strip(res_full.history)
    for a, b in zip(resumed.params, full.params):
        np.testing.assert_array_equal(a, b)
    # and back: the numpy checkpoint (now at epoch 4) extended on the emulated device
    dev, backend = emulated_numpy()
    more = Trainer(*_setup(epochs=5, backend="numpy"), progress=False, backend=backend)
    res_more = more.fit((x, y), (x, y), checkpoint=ckpt, resume=True)
    assert all(isinstance(p, DeviceArray) for p in more.params + more.opt.m)
    assert [r["epoch"] for r in res_more.history] == [1, 2, 3, 4, 5]
    assert _strip(res_more.history[:4]) == _strip(res_full.history)


def test_emulated_cuda_backend_trains_like_numpy_and_moves_to_the_cpu(emulated_launch, tmp_path):
    x, y = first_of_two()
    net, tc = _setup(epochs=3, backend="numpy", refractory_grad="full")
    ref = Trainer(net, tc, progress=False)
    res_ref = ref.fit((x, y))
    dev, backend = emulated_cuda(emulated_launch)
    net, tc = _setup(epochs=3, backend="numpy", refractory_grad="full")
    gpu = Trainer(net, tc, progress=False, backend=backend)
    ckpt = tmp_path / "gpu.h5"
    res = gpu.fit((x, y), checkpoint=ckpt)
    # the kernels sum gradients in another order: float32 rounding apart, same run
    np.testing.assert_allclose([r["loss"] for r in res.history], [r["loss"] for r in res_ref.history],
                               rtol=1e-4)
    for a, b in zip(gpu.params, ref.params):
        np.testing.assert_allclose(a, b, atol=1e-4)
    # the GPU checkpoint continues on the CPU (numba), one more epoch
    cpu = Trainer(*_setup(epochs=4, backend="numba", refractory_grad="full"), progress=False)
    res_cpu = cpu.fit((x, y), checkpoint=ckpt, resume=True)
    assert _strip(res_cpu.history[:3]) == _strip(res.history) and len(res_cpu.history) == 4


# ----------------------------------------------------------------------------- numpy <-> numba
def test_numpy_and_numba_keep_the_same_tables():
    x, y = first_of_two()
    kept = {}
    for backend in ("numpy", "numba"):
        net, tc = _setup(epochs=6, backend=backend, keep="best")
        tr = Trainer(net, tc, progress=False)
        assert tr.backend.name == backend
        res = tr.fit((x, y), (x, y))
        kept[backend] = (res.kept_epoch, [layer.table for layer in res.net.layers],
                         [r["loss"] for r in res.history], tr.params)
    assert kept["numpy"][0] == kept["numba"][0]
    for a, b in zip(kept["numpy"][1], kept["numba"][1]):
        np.testing.assert_array_equal(a, b)
    # gradients agree within float32 rounding (sums in another order), so the runs stay together
    np.testing.assert_allclose(kept["numba"][2], kept["numpy"][2], rtol=1e-4)
    for a, b in zip(kept["numba"][3], kept["numpy"][3]):
        np.testing.assert_allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("first,second", [("numpy", "numba"), ("numba", "numpy")])
def test_checkpoint_resumes_on_the_other_cpu_backend(tmp_path, first, second):
    x, y = first_of_two()
    ckpt = tmp_path / "c.h5"
    a = Trainer(*_setup(epochs=4, backend=first), progress=False)
    with pytest.raises(Interrupt):
        a.fit((x, y), (x, y), checkpoint=ckpt, callback=_stop_after(2))
    part = list(a.history)
    b = Trainer(*_setup(epochs=4, backend=second), progress=False)
    res = b.fit((x, y), (x, y), checkpoint=ckpt, resume=True)
    assert b.backend.name == second and b.epoch == 4
    assert _strip(res.history[:2]) == _strip(part)
    full = Trainer(*_setup(epochs=4, backend="numpy"), progress=False)
    full.fit((x, y), (x, y))
    for p, q in zip(b.params, full.params):
        np.testing.assert_allclose(p, q, atol=1e-4)


def test_auto_numba_and_the_deprecated_kernels_key_select_the_same_passes():
    from spikelut.train import kernels_bits, kernels_cpu

    assert TrainConfig().backend == "auto" and TrainConfig().kernels is None
    assert _setup(kernels="reference")[1].backend == "numpy"
    assert _setup(kernels="numba")[1].backend == "numba"
    assert _setup(kernels="auto", backend="numba")[1].backend == "numba"
    tr = Trainer(*_setup(backend="numba"), progress=False)
    assert (tr.backend.name, tr.backend.forward, tr.xp) == ("numba", kernels_cpu.forward, np)
    assert tr._forward is kernels_bits.auto_forward  # [train] forward = "auto" (kernels_bits)
    tr = Trainer(*_setup(backend="numpy"), progress=False)
    assert (tr.backend.name, tr._forward) == ("numpy", bptt.forward)
    auto = resolve_backend("auto").name
    assert auto == ("cuda" if gpu_available() else "numba")  # numba is installed here
    with pytest.raises(ConfigError, match=r"^\[train\]: kernels = 'numba' \(the old name of backend\) "
                                          r"disagrees with backend = 'numpy'; keep only backend$"):
        _setup(kernels="numba", backend="numpy")
    with pytest.raises(ConfigError, match=r"^\[train\]: unknown backend 'gpu'; choose one of auto, "
                                          r"cuda, numba, numpy$"):
        _setup(backend="gpu")


# ----------------------------------------------------------------------------- unavailable backends
@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # "import cupy" raises ImportError


@pytest.fixture
def no_numba(monkeypatch):
    monkeypatch.setitem(sys.modules, "spikelut.train.kernels_cpu", None)


def test_unavailable_backends_say_why_in_one_line(no_cupy, no_numba):
    assert why_unavailable("cuda").startswith("CuPy is not installed")
    with pytest.raises(ConfigError) as e:
        resolve_backend("cuda")
    assert str(e.value) == ("backend 'cuda' is not available here: CuPy is not installed (pip install "
                            "'spikelut[gpu]' on a machine with an NVIDIA GPU); use --backend numpy "
                            "or --backend auto")
    with pytest.raises(ConfigError, match=r"^backend 'numba' is not available here: numba does not "
                                          r"import \((ModuleNotFound|Import)Error: .*\); use --backend numpy or "
                                          r"--backend auto$"):
        resolve_backend("numba")
    assert resolve_backend("auto").name == "numpy"
    with pytest.raises(ConfigError, match="backend 'cuda' is not available here"):
        Trainer(*_setup(backend="cuda"), progress=False)


@pytest.mark.parametrize("count,why", [
    (RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient\nmore"),
     "CuPy sees no usable CUDA device (cudaErrorInsufficientDriver: CUDA driver version is insufficient)"),
    (0, "CuPy sees no CUDA device"),
])
def test_cupy_without_a_device_is_unavailable_and_auto_falls_back(monkeypatch, count, why):
    def get_device_count():
        if isinstance(count, Exception):
            raise count
        return count

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_device_count))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert why_unavailable("cuda") == why
    assert resolve_backend("auto").name == "numba"
    with pytest.raises(ConfigError, match=r"^backend 'cuda' is not available here: CuPy sees no"):
        resolve_backend("cuda")


@pytest.fixture
def files(tmp_path):
    x, y = first_of_two()
    save_spikes(tmp_path / "train.h5", x, y)
    cfg = tmp_path / "net.toml"
    cfg.write_text(CONFIG.replace("epochs = 40", "epochs = 2"))
    return tmp_path, cfg


@pytest.mark.parametrize("how", [["--backend", "cuda"], "config"])
def test_cli_train_on_an_unavailable_backend_stops_with_one_line(files, capsys, no_cupy, how):
    d, cfg = files
    extra = how
    if how == "config":
        cfg.write_text(cfg.read_text().replace("[train]\n", '[train]\nbackend = "cuda"\n'))
        extra = []
    rc = main(["train", str(cfg), "--data", str(d / "train.h5"), "-o", str(d / "m.h5"),
               "--log", str(d / "log.jsonl"), *extra])
    err = capsys.readouterr().err
    assert rc == 1
    assert err == ("spikelut train: error: backend 'cuda' is not available here: CuPy is not "
                   "installed (pip install 'spikelut[gpu]' on a machine with an NVIDIA GPU); use "
                   "--backend numba or --backend auto\n")
    assert not (d / "m.h5").exists() and not (d / "log.jsonl").exists()
    rc = main(["train", str(cfg), "--data", str(d / "train.h5"), "-o", str(d / "m.h5"), "--json",
               *extra])
    assert rc == 1 and json.loads(capsys.readouterr().out)["error"].startswith("backend 'cuda' is not")


def test_cli_backend_flag_overrides_the_config_and_resumes_elsewhere(files, capsys):
    d, cfg = files
    cfg.write_text(cfg.read_text().replace("[train]\n", '[train]\nkernels = "numba"\n'))
    common = ["train", str(cfg), "--data", str(d / "train.h5"), "-o", str(d / "m.h5"),
              "--checkpoint", str(d / "c.h5"), "--json", "--no-progress"]
    assert main(common + ["--backend", "numpy"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backend"] == "numpy" and out["epochs"] == 2
    assert main(common + ["--epochs", "3", "--resume"]) == 0  # config's kernels = "numba"
    out2 = json.loads(capsys.readouterr().out)
    assert out2["backend"] == "numba" and out2["epochs"] == 3
    assert out2["history"][:2] == out["history"]


def test_to_host_uses_the_modules_own_copy():
    dev = EmulatedDevice()
    a = dev.asarray([1.5, 2.5])
    h = to_host(dev, a)
    assert type(h) is np.ndarray and h.tolist() == [1.5, 2.5] and dev.d2h == 1


# ----------------------------------------------------------------------------- real GPU
@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="no usable GPU: CuPy is not installed or sees no CUDA device")
def test_cuda_backend_trains_like_numba_and_its_checkpoint_resumes_on_the_cpu(tmp_path):
    import cupy as cp

    x, y = first_of_two()
    ref = Trainer(*_setup(epochs=3, backend="numba"), progress=False)
    res_ref = ref.fit((x, y), (x, y))
    gpu = Trainer(*_setup(epochs=3, backend="cuda"), progress=False)
    assert gpu.xp is cp and isinstance(gpu.params[0], cp.ndarray)
    res = gpu.fit((x, y), (x, y), checkpoint=tmp_path / "c.h5")
    assert isinstance(gpu.opt.m[0], cp.ndarray)
    np.testing.assert_allclose([r["loss"] for r in res.history], [r["loss"] for r in res_ref.history],
                               rtol=1e-4)
    for a, b in zip(gpu.params, ref.params):
        np.testing.assert_allclose(a.get(), b, atol=1e-4)
    cpu = Trainer(*_setup(epochs=4, backend="numpy"), progress=False)
    res_cpu = cpu.fit((x, y), (x, y), checkpoint=tmp_path / "c.h5", resume=True)
    assert _strip(res_cpu.history[:3]) == _strip(res.history) and cpu.epoch == 4
    back = Trainer(*_setup(epochs=5, backend="cuda"), progress=False)
    back.fit((x, y), (x, y), checkpoint=tmp_path / "c.h5", resume=True)
    assert back.epoch == 5 and isinstance(back.params[0], cp.ndarray)
