"""Distillation from a GRU: the fading soft term, the per-cycle loss, the GRU teacher, and a tiny
seeded run of demos/distill_mnist1d.py that repeats exactly."""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install 'spikelut[torch]'")

from helpers import load_demo  # noqa: E402
from spikelut.errors import ConfigError, ShapeError  # noqa: E402
from spikelut.io import load_model  # noqa: E402
from spikelut.torch import distill_alpha, distill_loss  # noqa: E402
from test_torch_distill_demo import DEMOS, TINY  # noqa: E402  the tiny student network
from torch.nn import functional as F  # noqa: E402


# ---------------------------------------------------------------------------- the alpha schedule
def test_alpha_schedule_values_per_epoch():
    assert [distill_alpha(0.8, e, 5) for e in range(1, 6)] == [0.8] * 5
    assert [distill_alpha(0.8, e, 5, "none", until=2) for e in range(1, 6)] == [0.8] * 5
    assert [distill_alpha(0.8, e, 5, "linear") for e in range(1, 6)] == pytest.approx(
        [0.8, 0.6, 0.4, 0.2, 0.0], abs=1e-15)
    c = math.cos(math.pi / 4)
    assert [distill_alpha(0.8, e, 5, "cosine") for e in range(1, 6)] == pytest.approx(
        [0.8, 0.4 * (1 + c), 0.4, 0.4 * (1 - c), 0.0], abs=1e-15)
    # reaching 0 at epoch 3 of 6, then staying there
    assert [distill_alpha(0.5, e, 6, "linear", until=3) for e in range(1, 7)] == pytest.approx(
        [0.5, 0.25, 0.0, 0.0, 0.0, 0.0], abs=1e-15)
    assert [distill_alpha(0.5, e, 4, "cosine", until=3) for e in range(1, 5)] == pytest.approx(
        [0.5, 0.25, 0.0, 0.0], abs=1e-15)
    # until = 1: labels only from the start; one epoch of a fading run: 0
    assert [distill_alpha(0.5, e, 3, "linear", until=1) for e in range(1, 4)] == [0.0, 0.0, 0.0]
    assert distill_alpha(0.5, 1, 1, "cosine") == 0.0
    # past the run's end the weight stays 0 (a resumed or extended run)
    assert distill_alpha(0.5, 9, 4, "linear") == 0.0
    assert distill_alpha(0.0, 1, 4, "cosine") == 0.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(alpha=0.5, epoch=1, epochs=4, fade="exp"),
     "unknown fade 'exp'; choose one of none, linear, cosine"),
    (dict(alpha=1.5, epoch=1, epochs=4), "alpha must be in [0, 1], got 1.5"),
    (dict(alpha=0.5, epoch=0, epochs=4), "epoch and epochs must be >= 1, got epoch 0 of 4"),
    (dict(alpha=0.5, epoch=1, epochs=4, fade="linear", until=0),
     "fade until must be an epoch >= 1, got 0"),
])
def test_alpha_schedule_errors(kwargs, message):
    with pytest.raises(ConfigError) as err:
        distill_alpha(**kwargs)
    assert str(err.value) == message


# ---------------------------------------------------------------------------- the loss
def test_distill_loss_final_counts_and_per_cycle():
    g = torch.Generator().manual_seed(0)
    z, t = torch.randn(4, 3, 10, generator=g), torch.randn(4, 3, 10, generator=g)
    y = torch.tensor([0, 3, 9])
    tau = 2.0
    # final counts: tau² KL(p_t || p_s) averaged over samples, plus CE
    p_t = torch.softmax(t[-1] / tau, 1)
    kl = (p_t * (p_t.log() - torch.log_softmax(z[-1] / tau, 1))).sum(1).mean()
    ce = F.cross_entropy(z[-1], y)
    assert float(distill_loss(z[-1], t[-1], y, tau, 0.0)) == pytest.approx(float(ce), rel=1e-6)
    assert float(distill_loss(z[-1], t[-1], y, tau, 1.0)) == pytest.approx(4 * float(kl), rel=1e-5)
    assert float(distill_loss(z[-1], t[-1], y, tau, 0.25)) == pytest.approx(
        float(0.25 * 4 * kl + 0.75 * ce), rel=1e-5)
    # per cycle: the KL term is the mean over cycles, the label term reads the last cycle
    per = [distill_loss(z[i], t[i], y, tau, 1.0) for i in range(4)]
    assert float(distill_loss(z, t, y, tau, 0.5)) == pytest.approx(
        float(0.5 * sum(per) / 4 + 0.5 * ce), rel=1e-5)
    # no gradient reaches the teacher
    t.requires_grad_(True)
    zz = z.clone().requires_grad_(True)
    distill_loss(zz, t, y, tau, 0.5).backward()
    assert t.grad is None and zz.grad is not None and float(zz.grad[:-1].abs().sum()) > 0


def test_distill_loss_shape_error():
    with pytest.raises(ShapeError) as err:
        distill_loss(torch.zeros(3, 10), torch.zeros(4, 3, 10), torch.zeros(3, dtype=torch.long), 1.0, 0.5)
    assert str(err.value) == ("distill_loss: student logits (3, 10) and teacher logits (4, 3, 10) "
                              "must both be [B, classes] or [T, B, classes]")


# ---------------------------------------------------------------------------- the GRU teacher
def test_gru_teacher_shapes_and_per_step_logits():
    demo = load_demo(DEMOS, "distill_mnist1d")
    torch.manual_seed(0)
    gru = demo.GRUTeacher(32)
    assert sum(p.numel() for p in gru.parameters()) == 225_290  # the peer benchmark's GRU
    x = (torch.rand(40, 5, 32) < 0.5).float()
    final, steps = gru(x), gru(x, per_step=True)
    assert final.shape == (5, 10) and steps.shape == (40, 5, 10)
    # the head on [T, B, H] and on [B, H]: BLAS may block the two shapes differently (bit
    # equality held on an AMD EPYC, not on an Intel Xeon), so equal within float32 rounding
    torch.testing.assert_close(steps[-1], final, rtol=1e-5, atol=1e-6)
    # causal: cycle t's logits do not depend on later cycles
    x2 = x.clone()
    x2[20:] = 1 - x2[20:]
    assert torch.equal(gru(x2, per_step=True)[:20], steps[:20])
    assert not torch.equal(gru(x2), final)


# ---------------------------------------------------------------------------- the demo
def _run(demo, tmp_path, name, *extra):
    out = tmp_path / name
    assert demo.main(["--config", str(tmp_path / "tiny.toml"), "--teacher", "gru", "--lr", "0.2",
                      "--teacher-epochs", "1", "--epochs", "3", "--limit", "60",
                      "--out", str(out), *extra]) == 0
    return json.loads((out / "distill.json").read_text()), load_model(out / "student.h5")


@pytest.mark.parametrize("per_cycle", [[], ["--per-cycle"]])
def test_tiny_gru_distillation_repeats_with_a_seed(tmp_path, per_cycle):
    demo = load_demo(DEMOS, "distill_mnist1d")
    (tmp_path / "tiny.toml").write_text(TINY)
    pairs = ["--pairs", "2:0.6:linear,1:0.4:cosine:2"]
    a, net_a = _run(demo, tmp_path, "a", *pairs, *per_cycle)
    b, net_b = _run(demo, tmp_path, "b", *pairs, *per_cycle)
    c, _ = _run(demo, tmp_path, "c", *pairs, *per_cycle, "--seed", "1")
    assert a["teacher"]["model"] == "GRU 256" and a["per_cycle"] == bool(per_cycle)
    assert (a["teacher"]["lr"], a["teacher"]["batch"]) == (0.003, 25)
    if per_cycle:  # the teacher's accuracy after each cycle; after the last, its own
        assert len(a["teacher"]["val_acc_per_cycle"]) == 40
        assert a["teacher"]["val_acc_per_cycle"][-1] == pytest.approx(a["teacher"]["val_acc"], abs=1e-6)
    else:
        assert a["teacher"]["val_acc_per_cycle"] is None
    assert [(r["tau"], r["alpha"], r["fade"], r["until"]) for r in a["runs"]] == [
        (2.0, 0.6, "linear", None), (1.0, 0.4, "cosine", 2)]
    # the weight of each epoch, as the schedule says
    assert [h["alpha"] for h in a["runs"][0]["student_history"]] == pytest.approx([0.6, 0.3, 0.0])
    assert [h["alpha"] for h in a["runs"][1]["student_history"]] == [0.4, 0.0, 0.0]

    def numbers(res):
        return ([h["val_acc"] for h in res["teacher"]["history"]],
                [[(h["loss"], h["val_acc"]) for h in r["student_history"]] for r in res["runs"]],
                res["student_test_acc"], res["teacher"]["test_acc"])

    assert numbers(a) == numbers(b)  # the same seed: the same run, to the last bit
    for la, lb in zip(net_a.layers, net_b.layers):
        assert np.array_equal(la.logits, lb.logits)
    assert numbers(c)[1] != numbers(a)[1]  # another seed: another run


def test_demo_parse_students_and_errors():
    demo = load_demo(DEMOS, "distill_mnist1d")
    assert demo.parse_students("1:0,2:0.5:linear,4:0.7:cosine:20", "none", None) == [
        {"tau": 1.0, "alpha": 0.0, "fade": "none", "until": None},
        {"tau": 2.0, "alpha": 0.5, "fade": "linear", "until": None},
        {"tau": 4.0, "alpha": 0.7, "fade": "cosine", "until": 20}]
    # FADE and UNTIL default to --fade and --fade-until
    assert demo.parse_students("2:0.3", "cosine", 10) == [
        {"tau": 2.0, "alpha": 0.3, "fade": "cosine", "until": 10}]
    for text, msg in [
        ("2:0.3:linear:x", r"^--pairs: '2:0.3:linear:x' is not TAU:ALPHA\[:FADE\[:UNTIL\]\] "
                           r"\(e.g. 2:0.3 or 2:0.5:linear:30\)$"),
        ("2:0.3:exp", r"^--pairs: '2:0.3:exp': unknown fade 'exp'; choose one of none, linear, cosine$"),
        ("2:0.3:linear:0", r"^--pairs: '2:0.3:linear:0': UNTIL must be an epoch >= 1$"),
        ("2:1.5:linear", r"^--pairs: '2:1.5:linear' needs tau > 0 and 0 <= alpha <= 1$"),
    ]:
        with pytest.raises(SystemExit, match=msg):
            demo.parse_students(text)
    with pytest.raises(SystemExit, match=r"^--per-cycle needs --teacher gru \(the CNN has no "
                                         r"per-cycle logits\)$"):
        demo.main(["--teacher", "cnn", "--per-cycle"])
    with pytest.raises(SystemExit, match=r"^--fade-until: 0 must be an epoch >= 1$"):
        demo.main(["--fade", "linear", "--fade-until", "0"])
