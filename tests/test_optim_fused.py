"""The compiled single-pass optimizer updates (spikelut/train/optim.py, ``FUSED``) against the
numpy expressions: the same parameter and moment bits for Adam, Lion and SGD, the numpy code
kept for arrays the pass does not take, and the pass actually used where it applies."""

from __future__ import annotations

import types

import numpy as np
import pytest

from spikelut.train import optim
from spikelut.train.optim import fused_applies, make_optimizer

NAMES = ("adam", "lion", "sgd")
KERNELS = {"adam": "_adam_pass", "lion": "_lion_pass", "sgd": "_sgd_pass"}
# 2-D tables [n, 2**k], sizes that are no multiple of 16 (the vector loop's tail), a 0-d and an
# empty array; one of each kind
SHAPES = [(40, 64), (7, 13), (37,), (3, 2), (), (0, 4)]
LRS = [1e-3, 0.1, 0.03, 1.0, 3e-4]


def _moments(opt) -> list[np.ndarray]:
    arrays, _ = opt.state_arrays()
    return [a for name in sorted(arrays) for a in arrays[name]]


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """The same bits (-0.0 against 0.0 included), NaN at the same places. A NaN's sign and
    payload are not compared: where two NaN operands meet, x86 keeps the first one's, and which
    one is first is the compiler's choice (LLVM may swap the operands of an addition, and
    numpy's own loops differ in it)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    nan = np.isnan(a)
    return bool(np.array_equal(nan, np.isnan(b))
                and a[~nan].tobytes() == b[~nan].tobytes())


def _values(rng: np.random.Generator, shape, dtype=np.float32) -> np.ndarray:
    """Normal values over a wide range of scales (subnormal float32 ones too), with exact zeros
    of both signs."""
    x = rng.standard_normal(shape) * 10.0 ** rng.uniform(-42, 3, shape)
    x = np.where(rng.random(shape) < 0.1, 0.0, x)
    x = np.where(rng.random(shape) < 0.1, -0.0, x)
    return np.asarray(x).astype(dtype)


def _run(monkeypatch, name, fused, params, grads, lrs=LRS, **kw):
    """Copies of ``params`` after one step per learning rate, and the optimizer."""
    monkeypatch.setattr(optim, "FUSED", fused)
    params = [p.copy() for p in params]
    opt = make_optimizer(name, params, **kw)
    for lr, g in zip(lrs, grads):
        with np.errstate(all="ignore"):
            opt.step(params, g, lr)
    return params, opt


def _problem(seed, grad_dtypes=(np.float32, np.float64), steps=len(LRS)):
    rng = np.random.default_rng(seed)
    params = [_values(rng, s) for s in SHAPES]
    grads = [[_values(rng, s, grad_dtypes[(i + t) % len(grad_dtypes)])
              for i, s in enumerate(SHAPES)] for t in range(steps)]
    return params, grads


def _assert_same(a_params, a_opt, b_params, b_opt):
    assert a_opt.t == b_opt.t
    for a, b in zip(a_params, b_params):
        assert np.array_equal(a, b, equal_nan=True) and _same_bits(a, b)
    for a, b in zip(_moments(a_opt), _moments(b_opt)):
        assert np.array_equal(a, b, equal_nan=True) and _same_bits(a, b)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [0, 1])
def test_fused_equals_numpy_bit_for_bit(monkeypatch, name, seed):
    params, grads = _problem(seed)
    kw = {"momentum": 0.9} if name == "sgd" else {"betas": (0.9, 0.99)}
    fused = _run(monkeypatch, name, True, params, grads, **kw)
    plain = _run(monkeypatch, name, False, params, grads, **kw)
    _assert_same(*fused, *plain)
    assert not _same_bits(np.concatenate([p.ravel() for p in fused[0]]),
                          np.concatenate([p.ravel() for p in params]))  # they did move


@pytest.mark.parametrize("name", NAMES)
def test_fused_equals_numpy_other_settings(monkeypatch, name):
    """Other betas / momentum / eps (eps = 0: 0 / 0 gives NaN in the same places), float16 and
    int grads."""
    params, grads = _problem(2, grad_dtypes=(np.float16, np.int32, np.float32, np.float64))
    kw = {"adam": {"betas": (0.8, 0.95), "eps": 0.0}, "lion": {"betas": (0.95, 0.98)},
          "sgd": {"momentum": 0.0}}[name]
    _assert_same(*_run(monkeypatch, name, True, params, grads, **kw),
                 *_run(monkeypatch, name, False, params, grads, **kw))


def _spy(monkeypatch, name):
    """The fused path switched on and its compiled pass for ``name`` wrapped: the returned list
    receives the (flat) shape of every array the pass updates."""
    calls = []
    kernel = getattr(optim, KERNELS[name])

    def spy(p, *args):
        calls.append(p.shape)
        return kernel(p, *args)

    monkeypatch.setattr(optim, KERNELS[name], spy)
    monkeypatch.setattr(optim, "FUSED", True)
    return calls


@pytest.mark.parametrize("name", NAMES)
def test_fused_path_is_used(monkeypatch, name):
    """Every contiguous float32 array goes through the compiled pass, none through numpy."""
    calls = _spy(monkeypatch, name)
    params, grads = _problem(3)
    opt = make_optimizer(name, params)
    for g in grads[:2]:
        opt.step(params, g, 0.01)
    assert calls == [(int(np.prod(s)),) for s in SHAPES] * 2
    assert all(fused_applies(p, g.astype(np.float32), *m) for p, g, *m in
               zip(params, grads[0], *opt.state_arrays()[0].values()))


def test_no_fused_pass_off_numpy(monkeypatch):
    """Another array module (CuPy's place) keeps the numpy expressions, on its own functions."""
    used = []

    def sqrt(x):
        used.append("sqrt")
        return np.sqrt(x)

    def sign(x):
        used.append("sign")
        return np.sign(x)

    def never(*args):
        raise AssertionError("the compiled pass ran for another array module")

    xp = types.SimpleNamespace(zeros_like=np.zeros_like, sqrt=sqrt, sign=sign, array=np.array)
    params, grads = _problem(4)
    for name, word in (("adam", "sqrt"), ("lion", "sign"), ("sgd", None)):
        plain_params, plain_opt = _run(monkeypatch, name, False, params, grads)
        monkeypatch.setattr(optim, KERNELS[name], never)
        used.clear()
        other = _run(monkeypatch, name, True, params, grads, xp=xp)
        _assert_same(*other, plain_params, plain_opt)
        assert used == ([word] * len(SHAPES) * len(LRS) if word else [])


@pytest.mark.parametrize("name", NAMES)
def test_non_contiguous_falls_back(monkeypatch, name):
    """A strided view, a transposed table, a broadcast gradient and a float64 parameter take
    the numpy expressions (in place, through the view) and still give the numpy bits."""
    rng = np.random.default_rng(5)
    base = _values(rng, (12, 32))
    params = [base[:, ::2], _values(rng, (16, 6)).T, _values(rng, (9, 8)),
              _values(rng, (5, 5), np.float64), _values(rng, (4, 16))]
    grads = [[_values(rng, (12, 16)), _values(rng, (6, 16)), _values(rng, (8,)),
              _values(rng, (5, 5)), _values(rng, (4, 16))] for _ in LRS]
    calls = _spy(monkeypatch, name)
    view_base = base.copy()
    fused_params = [view_base[:, ::2]] + [p.copy(order="K") for p in params[1:]]
    assert fused_params[1].flags.f_contiguous and not fused_params[1].flags.c_contiguous
    opt = make_optimizer(name, fused_params)
    for lr, g in zip(LRS, grads):
        opt.step(fused_params, g, lr)
    assert calls == [(64,)] * len(LRS)  # only the last array
    plain_params, plain_opt = _run(monkeypatch, name, False, params, grads)
    _assert_same(fused_params, opt, plain_params, plain_opt)
    assert _same_bits(view_base[:, ::2], plain_params[0])  # updated in place through the view
    assert _same_bits(view_base[:, 1::2], base[:, 1::2])   # and nothing else of the base


@pytest.mark.parametrize("name", NAMES)
def test_resume_from_state_arrays(monkeypatch, name):
    """Checkpoint state taken in the middle: the resumed fused run equals one numpy run."""
    params, grads = _problem(6)
    plain_params, plain_opt = _run(monkeypatch, name, False, params, grads)
    first, opt = _run(monkeypatch, name, True, params, grads[:2], lrs=LRS[:2])
    arrays, scalars = opt.state_arrays()
    host = {k: [np.array(a) for a in v] for k, v in arrays.items()}
    resumed = make_optimizer(name, first)
    resumed.load_state_arrays(host, dict(scalars))
    for lr, g in zip(LRS[2:], grads[2:]):
        resumed.step(first, g, lr)
    _assert_same(first, resumed, plain_params, plain_opt)


@pytest.mark.parametrize("name", NAMES)
def test_special_values(monkeypatch, name):
    """Signed zeros, subnormals, huge values, inf and NaN in parameters, moments and grads:
    the same bits (Lion: ``sign(-0.0)`` is +0, so a -0.0 parameter stays -0.0)."""
    special = np.array([0.0, -0.0, 1e-45, -1e-45, 3e-39, -3e-39, 1e-38, -1.0, 2.5, 3e38, -3e38,
                        np.inf, -np.inf, np.nan], np.float32)
    rng = np.random.default_rng(7)
    shape = (3, 5, special.size)
    params = [np.broadcast_to(special, shape).copy()]

    def mixed():  # row 0 as it is (-0.0 meets -0.0 everywhere), the others shuffled
        x = np.ascontiguousarray(rng.permuted(np.broadcast_to(special, shape), axis=2))
        x[0, 0] = special
        return x

    state = {k: [mixed()] for k in make_optimizer(name, params).state_arrays()[0]}
    if name == "adam":
        state["v"] = [np.abs(state["v"][0])]  # a second moment is never negative
    grads = [[mixed()] for _ in LRS]

    def run(fused):
        monkeypatch.setattr(optim, "FUSED", fused)
        ps = [p.copy() for p in params]
        opt = make_optimizer(name, ps)
        opt.load_state_arrays({k: [a.copy() for a in v] for k, v in state.items()}, {"step": 3})
        assert fused_applies(ps[0], grads[0][0], *_moments(opt))
        with np.errstate(all="ignore"):
            for lr, g in zip(LRS, grads):
                opt.step(ps, g, lr)
        return ps, opt

    _assert_same(*run(True), *run(False))


def test_fused_applies():
    p, g, m, v = (np.zeros((8, 16), np.float32) for _ in range(4))
    assert fused_applies(p, g, m, v) and fused_applies(p, g, m)
    assert not fused_applies(p.astype(np.float64), g, m, v)           # float64 parameter
    assert not fused_applies(p, g.astype(np.float64), m, v)           # gradient not converted
    assert not fused_applies(p, g[0], m, v)                           # broadcast gradient
    assert not fused_applies(p.T, g.T, m.T, v.T)                      # F order
    assert not fused_applies(p[:, ::2], g[:, ::2], m[:, ::2], v[:, ::2])
    assert not fused_applies(p, p, m, v)                              # gradient is the parameter
    assert not fused_applies(p, g, m, m)                              # one array twice
    assert not fused_applies(p.view(np.matrix), g, m, v)              # a subclass
    ro = p.copy()
    ro.flags.writeable = False
    assert not fused_applies(ro, g, m, v)
    assert fused_applies(p, ro, m, v)                                 # read-only gradient is fine


@pytest.mark.parametrize("name", NAMES)
def test_training_keeps_the_same_tables(monkeypatch, name):
    """A short training run gives the same tables with the compiled pass as with numpy's."""
    from spikelut.train import TrainConfig, train
    from spikelut.wiring import random_network

    x = (np.random.default_rng(0).random((6, 20, 4)) < 0.5).astype(np.uint8)
    y = (x[:, :, 0].sum(axis=0) > 3).astype(np.int64)
    calls = []
    kernel = getattr(optim, KERNELS[name])

    def spy(*args):
        calls.append(1)
        return kernel(*args)

    monkeypatch.setattr(optim, KERNELS[name], spy)
    logits = {}
    for fused in (True, False):
        monkeypatch.setattr(optim, "FUSED", fused)
        net = random_network(0, n_in=4, sizes=[16, 4], k=3, classes=2)
        cfg = TrainConfig(epochs=2, batch_size=10, optimizer=name, backend="numpy", seed=0)
        res = train(net, cfg, (x, y), progress=False)
        logits[fused] = [layer.logits for layer in res.net.layers]
    assert len(calls) == 2 * 2 * 2  # 2 epochs of 2 batches, 2 layers: all by the compiled pass
    assert all(_same_bits(a, b) for a, b in zip(logits[True], logits[False]))
    assert not all(_same_bits(a, b) for a, b in
                   zip(logits[True], [layer.logits for layer in net.layers]))  # trained
