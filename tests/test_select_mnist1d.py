"""demos/select_mnist1d.py: each variant is the demo config with exactly its stated change."""

from pathlib import Path

import numpy as np
from helpers import load_demo

from spikelut.config import build_network, load_config

# the checkout's demos/ (not the installed spikelut.demos, which may be another tree's)
sel = load_demo(str(Path(__file__).resolve().parent.parent / "demos"), "select_mnist1d")


def _net(name):
    return build_network(sel.variant_config(name))


def test_the_demo_config_is_the_chosen_variant(demos_dir):
    demo = load_config(f"{demos_dir}/train_mnist1d.toml")
    assert sel.variant_config("b25") == demo
    assert "(the demo)" in sel.VARIANTS["b25"][0]


def test_variants_change_what_they_say_and_nothing_else():
    demo = _net("b25")
    names = [layer.name for layer in demo.layers]
    assert names == ["front", "front2", "rec", "out"] and demo.n_nodes == 4296
    base = _net("base")
    assert [layer.name for layer in base.layers] == ["front", "rec", "out"] and base.n_nodes == 3272
    assert (base.layers[1].source[:, :3] == 0).all()  # rec reads the front layer (index 0)
    dil = _net("dilated")
    assert dil.layers[1].delay[0].tolist() == [0, 2, 4, 6, 8, 10]
    assert demo.layers[1].delay[0].tolist() == [0, 1, 2, 3, 4, 5]
    assert _net("out500").layers[-1].n == 500
    assert _net("wide_e40").sizes == [2048, 2048, 2048, 200]
    local = _net("local").layers[0].index
    assert (local.max(axis=1) - local.min(axis=1)).max() < 8  # inside an 8-level window
    for name in ("two_front", "e40", "e60", "b10"):  # training changes only: same network
        net = _net(name)
        for a, b in zip(net.layers, demo.layers):
            for f in ("table", "source", "index", "delay"):
                np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert [sel.variant_config(n)["train"]["batch_size"] for n in ("e40", "b25", "b10")] == [50, 25, 10]
    pulse, own2 = _net("pulse"), _net("pulse_own2")
    assert [layer.refractory for layer in pulse.layers] == [1, 1, 1, 1]
    rec = own2.layers[2]
    assert rec.delay[0, 3:].tolist() == [1, 2, 2]
    np.testing.assert_array_equal(rec.index[:, 5], np.arange(rec.n))  # tap 5: its own output
    assert (rec.index[:, 3:5] != np.arange(rec.n)[:, None]).all()


def test_unknown_variant_is_one_line(capsys):
    assert sel.main(["b25", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown variant 'nope'; choose from base," in err
