"""spikelut.torch: the circuit as a PyTorch module (forward exact, backward = native BPTT)."""

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install 'spikelut[torch]'")
F = torch.nn.functional

from spikelut.engine.reference import simulate  # noqa: E402
from spikelut.errors import ConfigError, ShapeError  # noqa: E402
from spikelut.io import load_model, save_model  # noqa: E402
from spikelut.torch import SpikeLUT, spike_threshold  # noqa: E402
from spikelut.train import TrainConfig, Trainer  # noqa: E402
from spikelut.train.bptt import compile_plan, forward  # noqa: E402
from spikelut.train.bptt import backward as native_backward  # noqa: E402
from spikelut.train.surrogates import get_surrogate  # noqa: E402
from spikelut.wiring import random_network  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
T, B = 10, 16


def _net(seed=3):
    # every feature the backward pass handles: k 2..4, delays 0..3, refractory 0..2, recurrence,
    # a readout that starts late
    return random_network(seed, n_in=6, sizes=[20, 12, 8], k=[3, 4, 2], refractory=[0, 1, 2],
                          max_delay=3, classes=4, start=2)


def _data(seed=0, b=B):
    rng = np.random.default_rng(seed)
    return (rng.random((T, b, 6)) < 0.4).astype(np.uint8), rng.integers(0, 4, b)


def _randomize(m, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.logits:
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)


@pytest.mark.parametrize("backend, net", [("numpy", _net()), ("numba", _net()),
                                          ("numba", random_network(4, n_in=6, sizes=[10, 8],
                                                                   k=[9, 1], refractory=[1, 0],
                                                                   max_delay=2, classes=4))])
def test_gradients_equal_the_native_trainer(backend, net):
    x, y = _data()
    m = SpikeLUT.from_network(net, backend=backend)
    _randomize(m)
    counts = m(torch.from_numpy(x))
    loss = F.cross_entropy(counts * m.logit_scale(T), torch.from_numpy(y))
    loss.backward()
    tr = Trainer(net, TrainConfig(backend=backend), progress=False)
    native_loss, _, grads = tr.loss_and_grad(x, y, [p.detach().numpy().copy() for p in m.logits])
    assert loss.item() == pytest.approx(float(native_loss), rel=1e-6)
    for p, g in zip(m.logits, grads):
        assert np.abs(g).max() > 0
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-5, atol=1e-6)


def test_forward_is_the_circuit():
    net = _net(5)
    x, _ = _data(2)
    m = SpikeLUT.from_network(net, output="spikes")
    ref = simulate(net, x)
    with torch.no_grad():
        out = m(torch.from_numpy(x))
    assert out.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy().astype(np.uint8), ref.layer_spikes[net.readout.layer])
    counts = SpikeLUT.from_network(net)(torch.from_numpy(x)).detach()
    np.testing.assert_array_equal(counts.numpy().astype(np.int32), ref.counts)


def test_input_gradient_and_threshold_front_end():
    net = _net(7)
    x, y = _data(3)
    m = SpikeLUT.from_network(net, output="spikes", backend="numba")
    xt = torch.from_numpy(x).float().requires_grad_(True)
    g_out = torch.from_numpy(np.random.default_rng(4).normal(size=(T, B, 8)).astype(np.float32))
    (m(xt) * g_out).sum().backward()
    plan = compile_plan(net)
    thetas = [p.detach().numpy() for p in m.logits]
    fwd = forward(plan, [t > 0 for t in thetas], x)
    _, g_in = native_backward(plan, thetas, fwd, [None, None, g_out.numpy()],
                              get_surrogate("fast_sigmoid"), input_grad=True)
    assert np.abs(g_in).max() > 0
    np.testing.assert_allclose(xt.grad.numpy(), g_in, rtol=1e-5, atol=1e-6)
    # a float front end binarised by the straight-through threshold receives that gradient
    z = (torch.from_numpy(x).float() - 0.5).requires_grad_(True)
    (m(spike_threshold(z)) * g_out).sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), g_in * 0.25, rtol=1e-5, atol=1e-6)


def test_plain_pytorch_loop_improves_the_loss():
    torch.manual_seed(0)
    net = random_network(1, n_in=6, sizes=[64, 16], k=4, max_delay=1, classes=2)
    rng = np.random.default_rng(0)
    x = (rng.random((T, 64, 6)) < 0.4).astype(np.uint8)
    y = (x[:, :, :3].sum(axis=(0, 2)) > x[:, :, 3:].sum(axis=(0, 2))).astype(np.int64)
    m = SpikeLUT.from_network(net, backend="numpy")
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 20)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = F.cross_entropy(m(xt) * m.logit_scale(T), yt)
        loss.backward()
        opt.step()
        sched.step()
        m.clip_(1.0)
        losses.append(loss.item())
    with torch.no_grad():
        final = float(F.cross_entropy(m(xt) * m.logit_scale(T), yt))
    assert final < losses[0] - 0.05
    assert max(abs(float(p.detach().abs().max())) for p in m.logits) <= 1.0


def test_round_trip_module_network_file_module(tmp_path):
    net = _net(9)
    m = SpikeLUT.from_network(net)
    _randomize(m, 2)
    out = m.to_network()
    assert out is not net and out.layers[0] is not net.layers[0]
    for layer, p in zip(out.layers, m.logits):
        np.testing.assert_array_equal(layer.logits, p.detach().numpy())
        np.testing.assert_array_equal(layer.table, (p.detach().numpy() > 0).astype(np.uint8))
    save_model(out, tmp_path / "m.h5")
    m2 = SpikeLUT.from_network(load_model(tmp_path / "m.h5"))
    for p, q in zip(m.logits, m2.logits):
        assert torch.equal(p, q)
    x, _ = _data(6)
    assert torch.equal(m(torch.from_numpy(x)), m2(torch.from_numpy(x)))
    ref = simulate(load_model(tmp_path / "m.h5"), x)
    np.testing.assert_array_equal(m2(torch.from_numpy(x)).detach().numpy().astype(np.int32), ref.counts)
    # a network without logits starts from its own tables
    m3 = SpikeLUT.from_network(net)
    for layer, p in zip(net.layers, m3.logits):
        np.testing.assert_array_equal((p.detach().numpy() > 0).astype(np.uint8), layer.table)


def test_user_errors_are_one_line():
    net = _net()
    m = SpikeLUT.from_network(net)
    with pytest.raises(ShapeError, match=r"^input spikes must be a tensor \[T, B, 6\], got \(10, 4, 5\)$"):
        m(torch.zeros(10, 4, 5))
    with pytest.raises(ShapeError, match="^input spikes must be 0 or 1"):
        m(torch.full((10, 4, 6), 0.5))
    with pytest.raises(ConfigError, match="^unknown output 'logits'; choose one of counts, spikes$"):
        SpikeLUT(net, output="logits")
    with pytest.raises(ConfigError, match="^backend 'cuda' needs CUDA tensors but the input is on the CPU"):
        SpikeLUT(net, backend="cuda")(torch.zeros(10, 4, 6))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device for PyTorch")
def test_gradients_on_cuda_equal_cpu():
    pytest.importorskip("cupy", reason="CuPy not installed: the cuda backend needs it")
    net = _net()
    x, y = _data()
    grads = []
    for dev in ("cpu", "cuda"):
        m = SpikeLUT.from_network(net).to(dev)
        _randomize(m)
        m.to(dev)
        loss = F.cross_entropy(m(torch.from_numpy(x).to(dev)) * m.logit_scale(T),
                               torch.from_numpy(y).to(dev))
        loss.backward()
        grads.append([p.grad.cpu().numpy() for p in m.logits])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------- DDP
def _ddp_worker(rank: int, world: int, init_file: str, out: str) -> None:
    """One DistributedDataParallel process: its half of the batch, gradients saved as .npy."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        net = _net()
        x, y = _data(b=B)
        m = SpikeLUT.from_network(net, backend="numpy")
        _randomize(m)
        ddp = DDP(m)
        part = slice(rank * B // world, (rank + 1) * B // world)
        loss = F.cross_entropy(ddp(torch.from_numpy(x[:, part])) * m.logit_scale(T),
                               torch.from_numpy(y[part]))
        loss.backward()
        for i, p in enumerate(m.logits):
            np.save(f"{out}_r{rank}_L{i}.npy", p.grad.numpy())
        dist.barrier()  # neither rank tears gloo down while the other still talks to it
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_equal_one_process(tmp_path):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import test_torch; "
            "test_torch._ddp_worker(int(sys.argv[2]), 2, sys.argv[3], sys.argv[4]); "
            # gloo's threads can abort the interpreter's shutdown ("terminate called without an
            # active exception"): the results are saved, leave without running destructors
            "import os; sys.stdout.flush(); os._exit(0)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(HERE),
                                                       os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    out = str(tmp_path / "g")
    procs = [subprocess.Popen([sys.executable, "-c", code, HERE, str(r), str(tmp_path / "init"), out],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for r in range(2)]
    for p in procs:
        log = p.communicate(timeout=120)[0].decode(errors="replace")
        assert p.returncode == 0, log
    net = _net()
    x, y = _data(b=B)
    m = SpikeLUT.from_network(net, backend="numpy")
    _randomize(m)
    F.cross_entropy(m(torch.from_numpy(x)) * m.logit_scale(T), torch.from_numpy(y)).backward()
    for i, p in enumerate(m.logits):
        for r in range(2):
            np.testing.assert_allclose(np.load(f"{out}_r{r}_L{i}.npy"), p.grad.numpy(),
                                       rtol=1e-5, atol=1e-7)
