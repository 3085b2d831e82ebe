"""spikelut.torch hybrid networks: a float front end trained jointly with a LUT back end."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install 'spikelut[torch]'")
F = torch.nn.functional

from spikelut.coding import thermometer  # noqa: E402
from spikelut.engine.reference import simulate  # noqa: E402
from spikelut.errors import ConfigError, ShapeError  # noqa: E402
from spikelut.torch import ConvFrontEnd, Hybrid, SpikeLUT, spike_threshold  # noqa: E402
from spikelut.wiring import random_network  # noqa: E402

T = 4


def test_thermometer_front_end_is_the_thermometer_code():
    rng = np.random.default_rng(0)
    v = rng.random((40, 30, 2)).astype(np.float32)  # [T, B, F]
    fe = ConvFrontEnd(16, features=2, width=3)
    s = spike_threshold(fe(torch.from_numpy(v))).detach().numpy().astype(np.uint8)
    np.testing.assert_array_equal(s, thermometer(v.transpose(1, 0, 2), 40, levels=8, sequence=True))
    assert 0.3 < s.mean() < 0.7  # every level fires for its share of the values
    # one value per cycle, [T, B]
    fe1 = ConvFrontEnd(4, width=1)
    np.testing.assert_array_equal((fe1(torch.tensor([[0.3, 0.9]])) > 0).int().numpy(),
                                  [[[1, 0, 0, 0], [1, 1, 1, 1]]])


def test_front_end_is_causal():
    fe = ConvFrontEnd(6, width=4, init="random")
    v = torch.rand(10, 3)
    z = fe(v)
    v2 = v.clone()
    v2[7:] = torch.rand(3, 3)  # change the future only
    torch.testing.assert_close(fe(v2)[:7], z[:7], rtol=0, atol=0)
    assert not torch.equal(fe(v2)[7:], z[7:])


def _task(seed):
    # class 1 iff the sample's value (the same on every cycle) is above 0.6
    rng = np.random.default_rng(seed)
    xv = rng.random(128).astype(np.float32)
    return torch.from_numpy(np.repeat(xv[None], T, 0)), torch.from_numpy((xv > 0.6).astype(np.int64))


def _train(seed, front_lr, steps=60):
    torch.manual_seed(seed)
    v, y = _task(seed)
    fe = ConvFrontEnd(2, width=1)
    with torch.no_grad():  # a bad code: thresholds at 0.1 and 0.2, far from the class boundary
        fe.conv.bias.copy_(torch.tensor([-0.2, -0.4]))
    h = Hybrid(fe, SpikeLUT.from_network(random_network(seed, n_in=2, sizes=[16, 8], k=2, classes=2),
                                         backend="numpy"))
    opt = torch.optim.Adam(h.param_groups(0.05, front_lr))
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(h(v) * h.lut.logit_scale(T), y).backward()
        opt.step()
        h.lut.clip_(1.0)
    with torch.no_grad():
        acc = float((h(v).argmax(1) == y).float().mean())
    return h, v, y, acc


def _best_possible(code, y):
    # the best accuracy of any classifier reading only this (per-sample) code
    keys = [tuple(r) for r in code.reshape(code.shape[0], -1)]
    best = 0
    for key in set(keys):
        ys = y[[i for i, k in enumerate(keys) if k == key]]
        best += max(int((ys == 0).sum()), int((ys == 1).sum()))
    return best / len(y)


@pytest.mark.parametrize("seed", [0, 1])
def test_hybrid_learns_what_the_lut_net_on_a_bad_code_cannot(seed):
    h0, v, y, acc_frozen = _train(seed, front_lr=0.0)  # the plain LUT net on the fixed bad code
    code = h0.front_spikes(v).permute(1, 0, 2).numpy()
    bound = _best_possible(code, y.numpy())
    assert bound < 0.7 and acc_frozen <= bound
    h, v, y, acc = _train(seed, front_lr=0.05)  # jointly trained: the thresholds move
    assert acc >= 0.95
    # what the FPGA receives: the front end's bits; the saved LUT network on them is the module
    bits = h.front_spikes(v)
    assert bits.dtype == torch.uint8
    ref = simulate(h.to_network(), bits.numpy())
    np.testing.assert_array_equal(ref.counts, h(v).detach().numpy().astype(np.int32))


def test_front_end_receives_the_lut_input_gradient():
    net = random_network(2, n_in=4, sizes=[12, 6], k=3, max_delay=1, classes=2)
    h = Hybrid(ConvFrontEnd(4, width=2), SpikeLUT.from_network(net, backend="numpy"), threshold_width=0.7)
    v = torch.rand(6, 5)
    z = h.front(v).detach().requires_grad_(True)
    h.lut(spike_threshold(z, 0.7)).sum().backward()
    h(v).sum().backward()
    # the chain rule through the convolution: dL/dw[c, 0, j] = sum_{t,b} dL/dz[t,b,c] v[t-1+j, b]
    g = z.grad
    vp = F.pad(v, (0, 0, 1, 0))
    want = torch.stack([torch.einsum("tbc,tb->c", g, vp[j:j + 6]) for j in range(2)], 1)
    torch.testing.assert_close(h.front.conv.weight.grad[:, 0], want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h.front.conv.bias.grad, g.sum((0, 1)), rtol=1e-5, atol=1e-6)
    assert g.abs().max() > 0


def test_front_end_errors_are_one_line():
    with pytest.raises(ConfigError, match="^unknown front-end init 'zeros'; choose one of thermometer, random$"):
        ConvFrontEnd(4, init="zeros")
    with pytest.raises(ConfigError, match=r"^the thermometer front end needs channels \(5\) to be a "
                                          r"multiple of features \(2\)$"):
        ConvFrontEnd(5, features=2)
    with pytest.raises(ConfigError, match="^front-end width must be >= 1 cycle, got 0$"):
        ConvFrontEnd(4, width=0)
    with pytest.raises(ShapeError, match=r"^front-end values must be a tensor \[T, B, 2\], got \(3, 4\)$"):
        ConvFrontEnd(4, features=2)(torch.zeros(3, 4))
