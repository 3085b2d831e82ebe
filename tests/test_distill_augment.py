"""demos/distill_mnist1d.py --augment: function matching on augmented views of the thermometer
code (shift, splice, noise), the teacher's targets computed on the same view."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install 'spikelut[torch]'")

from helpers import load_demo  # noqa: E402
from spikelut.io import load_model  # noqa: E402
from spikelut.torch import distill_loss  # noqa: E402
from test_torch_distill_demo import DEMOS, TINY  # noqa: E402  the tiny student network


@pytest.fixture
def demo(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    return load_demo(DEMOS, "distill_mnist1d")


def _code(demo, levels, channels=4):
    """A thermometer-coded batch [T, B, channels] of the given levels [T][B]."""
    return demo.thermometer_code(torch.tensor(levels), channels)


def _is_thermometer(x):
    """Every entry 0 or 1 and every cycle's channels on as a prefix (channel l+1 on only when l is)."""
    return bool(((x == 0) | (x == 1)).all() and (x[..., 1:] <= x[..., :-1]).all())


def test_parse_augment_and_errors(demo):
    assert demo.parse_augment("shift:3,splice,noise:1") == [
        ("shift", 3), ("splice", 0.5, "drop"), ("noise", 1)]
    assert demo.parse_augment("splice:1:mix") == [("splice", 1.0, "mix")]
    assert demo.parse_augment("noise:2,shift:1") == [("noise", 2), ("shift", 1)]
    form = r"shift:S, splice\[:P\[:drop\|mix\]\] or noise:L \(e.g. shift:3,splice,noise:1\)"
    for bad in ("shift", "shift:0", "shift:-1", "noise:x", "splice:0", "splice:1.5",
                "splice:0.5:keep", "splice:a", "flip:1", "splice:0.5:mix:2"):
        with pytest.raises(SystemExit, match=rf"^--augment: '{bad}' is not {form}$"):
            demo.parse_augment(f"shift:2,{bad}")
    with pytest.raises(SystemExit, match=r"^--augment: noise given twice in 'noise:1,noise:2'$"):
        demo.parse_augment("noise:1,noise:2")


def test_thermometer_levels_and_code_match_the_encoder(demo):
    from spikelut.coding import thermometer

    values = np.linspace(0.0, 1.0, 11)[None, :]  # one sample, 11 cycles
    enc = thermometer(values, steps=11, levels=8, sequence=True)  # [11, 1, 8]
    x = torch.from_numpy(enc.astype(np.float32))
    lev = demo.thermometer_levels(x)
    assert lev[:, 0].tolist() == [int(np.floor(v * 8 + 0.5)) for v in values[0]]
    assert torch.equal(demo.thermometer_code(lev, 8), x)
    # an all-zero column is the lowest level, 0
    assert demo.thermometer_code(torch.tensor([[0]]), 3).tolist() == [[[0.0, 0.0, 0.0]]]


def test_shift_exact_on_a_hand_made_batch(demo):
    # T = 4 cycles, B = 2 samples, levels per cycle (rows: cycles)
    x = _code(demo, [[0, 1], [1, 2], [2, 3], [3, 4]])
    out = demo.augment_shift(x, torch.tensor([1, -2]))
    # sample 0 delayed by 1: the first cycle repeated in front; sample 1 advanced by 2: the last
    # cycle repeated at the end
    assert demo.thermometer_levels(out).T.tolist() == [[0, 0, 1, 2], [3, 4, 4, 4]]
    assert torch.equal(demo.augment_shift(x, torch.tensor([0, 0])), x)
    assert _is_thermometer(out)


def test_splice_exact_on_a_hand_made_batch(demo):
    x = _code(demo, [[0, 4, 1], [1, 3, 1], [2, 2, 1], [3, 1, 1]])  # T = 4, B = 3
    out = demo.augment_splice(x, torch.tensor([1, 2, 0]), torch.tensor([1, 3, 4]))
    # sample 0: cycle 0 its own, cycles 1-3 from sample 1; sample 1: cycles 0-2 its own, cycle 3
    # from sample 2; sample 2: cut at T, all its own
    assert demo.thermometer_levels(out).T.tolist() == [[0, 3, 2, 1], [4, 3, 2, 1], [1, 1, 1, 1]]
    assert _is_thermometer(out)


def test_noise_exact_and_clipped(demo):
    x = _code(demo, [[0, 4], [2, 3]])
    out = demo.augment_noise(x, torch.tensor([[-1, 1], [2, -3]]))
    assert demo.thermometer_levels(out).tolist() == [[0, 4], [4, 0]]  # clipped to 0..4
    assert _is_thermometer(out)


@pytest.mark.parametrize("spec", ["shift:3", "splice:1", "noise:2", "shift:3,splice:0.5:mix,noise:1"])
def test_every_transform_keeps_a_valid_thermometer_code(demo, spec):
    gen = torch.Generator().manual_seed(5)
    x = demo.thermometer_code(torch.randint(0, 33, (40, 30), generator=gen), 32)
    view, _ = demo.augment_batch(x, torch.arange(30) % 10, demo.parse_augment(spec), gen)
    assert view.shape == x.shape and view.dtype == x.dtype
    assert _is_thermometer(view)
    assert not torch.equal(view, x)


def test_augment_batch_is_seeded(demo):
    x = demo.thermometer_code(torch.randint(0, 33, (40, 25), generator=torch.Generator().manual_seed(1)), 32)
    y = torch.arange(25) % 10
    augs = demo.parse_augment("shift:3,splice,noise:1")
    a = demo.augment_batch(x, y, augs, torch.Generator().manual_seed(7))
    b = demo.augment_batch(x, y, augs, torch.Generator().manual_seed(7))
    c = demo.augment_batch(x, y, augs, torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and all(torch.equal(u, v) for u, v in zip(a[1], b[1]))
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize("label", ["drop", "mix"])
def test_splice_weights_name_the_cut_and_the_partner(demo, label):
    T, B = 10, 8
    # every (cycle, sample) its own level, so each cycle of the view names its source sample
    lev = torch.arange(T)[:, None] * B + torch.arange(B)[None, :]
    x = demo.thermometer_code(lev, T * B)
    y = torch.arange(B) + 100
    view, (w_a, w_b, y_b) = demo.augment_batch(x, y, [("splice", 0.5, label)],
                                               torch.Generator().manual_seed(3))
    src = demo.thermometer_levels(view) % B  # [T, B]: the sample each cycle came from
    spliced = 0
    for b in range(B):
        cut = int((src[:, b] != b).nonzero()[0]) if (src[:, b] != b).any() else T
        assert (src[:cut, b] == b).all()
        if cut == T:  # not spliced: its own label only
            assert (float(w_a[b]), float(w_b[b])) == (1.0, 0.0)
            continue
        spliced += 1
        partner = int(src[cut, b])
        assert partner != b and (src[cut:, b] == partner).all() and 1 <= cut <= T - 1
        assert int(y_b[b]) == 100 + partner
        want = (cut / T, 1 - cut / T) if label == "mix" else (0.0, 0.0)
        assert (float(w_a[b]), float(w_b[b])) == pytest.approx(want)
    assert 0 < spliced < B


def test_augmented_loss_equals_distill_loss_without_splice_and_mixes_ce(demo):
    gen = torch.Generator().manual_seed(0)
    z, t = torch.randn(4, 10, generator=gen), torch.randn(4, 10, generator=gen)
    y, y_b = torch.tensor([1, 2, 3, 4]), torch.tensor([5, 6, 7, 8])
    assert torch.equal(demo.augmented_loss(z, t, y, None, 2.0, 0.7), distill_loss(z, t, y, 2.0, 0.7))
    ones, zeros = torch.ones(4), torch.zeros(4)
    assert float(demo.augmented_loss(z, t, y, (ones, zeros, y_b), 2.0, 0.7)) == pytest.approx(
        float(distill_loss(z, t, y, 2.0, 0.7)), rel=1e-6)
    w_a = torch.tensor([1.0, 0.25, 0.5, 0.0])
    ce = lambda lab: torch.nn.functional.cross_entropy(z, lab, reduction="none")  # noqa: E731
    want = 0.7 * distill_loss(z, t, y, 2.0, 1.0) + 0.3 * (w_a * ce(y) + (1 - w_a) * ce(y_b)).mean()
    assert float(demo.augmented_loss(z, t, y, (w_a, 1 - w_a, y_b), 2.0, 0.7)) == pytest.approx(
        float(want), rel=1e-6)


def _run(demo, tmp_path, name, *extra):
    out = tmp_path / name
    assert demo.main(["--config", str(tmp_path / "tiny.toml"), "--teacher", "cnn", "--teacher-epochs", "1",
                      "--epochs", "2", "--limit", "60", "--tau", "2", "--alpha", "0.9",
                      "--out", str(out), *extra]) == 0
    return ([la.logits for la in load_model(out / "student.h5").layers],
            json.loads((out / "distill.json").read_text()))


def test_demo_augment_run_is_seeded_and_recorded(demo, tmp_path):
    a, res = _run(demo, tmp_path, "a", "--augment", "shift:2,splice:0.5:mix,noise:1")
    b, _ = _run(demo, tmp_path, "b", "--augment", "shift:2,splice:0.5:mix,noise:1")
    c, res_c = _run(demo, tmp_path, "c", "--augment", "noise:1", "--seed", "1")
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))
    assert res["augment"] == [["shift", 2], ["splice", 0.5, "mix"], ["noise", 1]]
    assert 0.0 <= res["teacher"]["val_acc_augmented"] <= 1.0  # measured under shift and noise
    assert res_c["augment"] == [["noise", 1]]


def test_demo_without_augment_never_augments(demo, tmp_path, monkeypatch):
    plain, res = _run(demo, tmp_path, "plain")
    assert res["augment"] is None and res["teacher"]["val_acc_augmented"] is None

    def refuse(*args, **kwargs):
        raise AssertionError("augmentation used without --augment")

    monkeypatch.setattr(demo, "augment_batch", refuse)
    monkeypatch.setattr(demo, "augmented_loss", refuse)
    again, _ = _run(demo, tmp_path, "again")
    assert all(np.array_equal(u, v) for u, v in zip(plain, again))
    # with --augment the augmented path is the one taken
    with pytest.raises(AssertionError, match="augmentation used without --augment"):
        _run(demo, tmp_path, "aug", "--augment", "noise:1")


def test_demo_augment_per_cycle_runs(demo, tmp_path):
    _, res = _run(demo, tmp_path, "pc", "--teacher", "gru", "--per-cycle", "--augment", "shift:1,splice")
    assert res["per_cycle"] and res["augment"] == [["shift", 1], ["splice", 0.5, "drop"]]
    assert len(res["runs"][0]["student_history"]) == 2


def test_demo_augment_refuses_the_hybrid(demo, tmp_path):
    with pytest.raises(SystemExit, match=r"^--augment transforms the thermometer code: use it with "
                                         r"--student lut \(the hybrid's front end reads the raw values\)$"):
        demo.main(["--student", "hybrid", "--augment", "noise:1", "--out", str(tmp_path / "h")])
