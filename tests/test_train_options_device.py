"""This session's training options on a device: every relaxation (:mod:`spikelut.train.relax`)
keeps its parameters, optimizer state and histograms on the backend's array module. On the
emulated device (numpy underneath, tests/test_train_backends.py) the run is bit-equal to numpy,
which fails if any step turns device arrays into host ones or calls numpy on them; on a GPU
(``-m gpu``, tests/gpu_device_check.sh) the CUDA backend equals numpy within float32 rounding."""

import numpy as np
import pytest

from spikelut.train import Trainer
from spikelut.train.relax import relaxation_names
from spikelut.xp import gpu_available

from test_train import _setup, first_of_two
from test_train_backends import DeviceArray, _strip, emulated_numpy

needs_gpu = pytest.mark.skipif(not gpu_available(),
                               reason="no usable GPU: CuPy is not installed or sees no CUDA device")


@pytest.mark.parametrize("name", relaxation_names())
def test_each_relaxation_trains_on_the_emulated_device_bit_equal_to_numpy(name):
    x, y = first_of_two()
    ref = Trainer(*_setup(epochs=2, backend="numpy", relaxation=name), progress=False)
    res_ref = ref.fit((x, y), (x[:, :7], y[:7]))
    dev, backend = emulated_numpy()
    tr = Trainer(*_setup(epochs=2, backend="numpy", relaxation=name), progress=False, backend=backend)
    res = tr.fit((x, y), (x[:, :7], y[:7]))
    assert all(isinstance(p, DeviceArray) for p in tr.params)
    assert _strip(res.history) == _strip(res_ref.history)
    for a, b in zip(tr.params, ref.params):
        np.testing.assert_array_equal(a, b)
    for la, lb in zip(res.net.layers, res_ref.net.layers):
        np.testing.assert_array_equal(la.table, lb.table)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("name", relaxation_names())
def test_each_relaxation_on_cuda_equals_numpy_within_float32_rounding(name):
    x, y = first_of_two()
    ref = Trainer(*_setup(epochs=2, backend="numpy", relaxation=name), progress=False)
    res_ref = ref.fit((x, y))
    gpu = Trainer(*_setup(epochs=2, backend="cuda", relaxation=name), progress=False)
    res = gpu.fit((x, y))
    np.testing.assert_allclose([r["loss"] for r in res.history],
                               [r["loss"] for r in res_ref.history], rtol=1e-4)
    import cupy as cp

    for a, b in zip(gpu.params, ref.params):
        np.testing.assert_allclose(cp.asnumpy(a), b, atol=1e-4)


@pytest.mark.parametrize("loss", ["ce_count", "ce_temporal", "ce_count_temporal"])
def test_label_smoothing_trains_on_the_emulated_device_bit_equal_to_numpy(loss):
    x, y = first_of_two()
    kw = dict(epochs=2, backend="numpy", loss=loss, label_smoothing=0.2)
    ref = Trainer(*_setup(**kw), progress=False)
    res_ref = ref.fit((x, y), (x[:, :7], y[:7]))
    dev, backend = emulated_numpy()
    tr = Trainer(*_setup(**kw), progress=False, backend=backend)
    res = tr.fit((x, y), (x[:, :7], y[:7]))
    assert all(isinstance(p, DeviceArray) for p in tr.params)
    assert _strip(res.history) == _strip(res_ref.history)
    for a, b in zip(tr.params, ref.params):
        np.testing.assert_array_equal(a, b)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("loss", ["ce_count", "ce_temporal", "ce_count_temporal"])
def test_label_smoothing_on_cuda_equals_numpy_within_float32_rounding(loss):
    x, y = first_of_two()
    kw = dict(epochs=2, loss=loss, label_smoothing=0.2)
    ref = Trainer(*_setup(backend="numpy", **kw), progress=False)
    res_ref = ref.fit((x, y))
    gpu = Trainer(*_setup(backend="cuda", **kw), progress=False)
    res = gpu.fit((x, y))
    np.testing.assert_allclose([r["loss"] for r in res.history],
                               [r["loss"] for r in res_ref.history], rtol=1e-4)
    import cupy as cp

    for a, b in zip(gpu.params, ref.params):
        np.testing.assert_allclose(cp.asnumpy(a), b, atol=1e-4)
