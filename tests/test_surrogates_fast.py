"""The compiled float32 fast paths of the surrogates equal their numpy expressions bit for bit."""

import numpy as np
import pytest

from spikelut.train import surrogates
from spikelut.train.surrogates import FAST, get_surrogate, register_surrogate

WIDTHS = [None, 0.5, 0.3, 0.7, 1.0 / np.pi, 1.7, 1e-3, 3e4]


def _values(w: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    f32 = np.float32
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-45, -1e-45, 1e-38, 3.4e38, -3.4e38]
    near = []
    for c in (f32(w), f32(-w), f32(2 * w)):  # the edges of the triangular and rectangular
        for _ in range(3):
            near.append(c)
            c = np.nextafter(c, f32(np.inf))
        c = f32(near[-3])
        for _ in range(3):
            c = np.nextafter(c, f32(-np.inf))
            near.append(c)
    return np.concatenate([np.array(special + near, np.float32),
                           rng.normal(0, 2 * w, 5000).astype(np.float32),
                           rng.normal(0, 100, 500).astype(np.float32)])


def _same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
    nan = np.isnan(a)
    assert (nan == np.isnan(b)).all()
    assert (a.view(np.uint32)[~nan] == b.view(np.uint32)[~nan]).all()


@pytest.mark.parametrize("name", sorted(FAST))
@pytest.mark.parametrize("width", WIDTHS)
def test_fast_path_equals_numpy_expression(name, width):
    sg = get_surrogate(name, width)
    assert sg._fast is FAST[name]
    u = _values(sg.width)
    with np.errstate(all="ignore"):  # the specials overflow
        _same_bits(sg.grad(u), sg._grad(u, sg.width).astype(np.float32))


def test_fast_path_keeps_shape_and_reads_non_contiguous_arrays():
    sg = get_surrogate("fast_sigmoid")
    u = np.random.default_rng(1).normal(size=(6, 8)).astype(np.float32)
    got = sg.grad(u[:, ::2])
    assert got.shape == (6, 4) and got.dtype == np.float32
    _same_bits(got, sg._grad(u[:, ::2], sg.width))
    assert sg.grad(np.float32(0.5) * np.ones((), np.float32)).shape == ()


def test_other_dtypes_and_surrogates_take_the_numpy_expression():
    sg = get_surrogate("fast_sigmoid")
    assert sg.grad(np.array([0.0, 0.5])).dtype == np.float64
    assert sg.grad(np.array([0.0, 0.5])).tolist() == [1.0, 0.25]
    assert get_surrogate("sigmoid")._fast is None


def test_replacing_a_builtin_drops_its_fast_path(monkeypatch):
    monkeypatch.setattr(surrogates, "SURROGATES", dict(surrogates.SURROGATES))
    monkeypatch.setattr(surrogates, "FAST", dict(surrogates.FAST))
    register_surrogate("fast_sigmoid", lambda u, w: u, lambda u, w: 2 * u + 1, 1.0)
    sg = get_surrogate("fast_sigmoid")
    assert sg._fast is None
    assert sg.grad(np.array([1.0], np.float32)).tolist() == [3.0]
