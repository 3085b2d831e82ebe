"""TOML configs: wiring strategies, explicit taps, determinism, and clear errors."""

import numpy as np
import pytest

from spikelut.config import build_network, load_config, parse_config
from spikelut.errors import ConfigError, NetworkError
from spikelut.engine.reference import simulate

BASE = """
seed = 3
inputs = {inputs}
[[layers]]
name = "h"
nodes = {nodes}
k = {k}
refractory = 1
taps = [{taps}]
[readout]
classes = 2
"""


def cfg(inputs=16, nodes=8, k=4, taps='{from = "input", count = 4}', extra=""):
    return parse_config(BASE.format(inputs=inputs, nodes=nodes, k=k, taps=taps) + extra)


def test_same_config_and_seed_give_the_same_network():
    a, b = build_network(cfg()), build_network(cfg())
    assert np.array_equal(a.layers[0].index, b.layers[0].index)
    assert np.array_equal(a.layers[0].table, b.layers[0].table)
    c = build_network(cfg(), seed=4)
    assert not np.array_equal(a.layers[0].table, c.layers[0].table)


def test_random_wiring_draws_distinct_channels():
    net = build_network(cfg())
    idx = net.layers[0].index
    assert all(len(set(row)) == 4 for row in idx.tolist())
    assert (net.layers[0].source == -1).all() and (net.layers[0].delay == 0).all()


def test_serial_wiring_is_consecutive():
    net = build_network(cfg(taps='{from = "input", count = 4, wiring = "serial"}'))
    assert net.layers[0].index[:3].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert net.layers[0].index[4].tolist() == [0, 1, 2, 3]  # wraps around 16 channels


def test_local_wiring_2d_stays_in_window():
    text = BASE.format(inputs="{channels = 64, shape = [8, 8]}", nodes=16, k=4,
                       taps='{from = "input", count = 4, wiring = "local", window = 3}')
    net = build_network(parse_config(text))
    idx = net.layers[0].index
    rows, cols = idx // 8, idx % 8
    assert (rows.max(1) - rows.min(1) <= 2).all() and (cols.max(1) - cols.min(1) <= 2).all()
    # node centres sweep the image: the first node looks top-left, the last bottom-right
    assert rows[0].max() <= 2 and rows[-1].min() >= 5


def test_recurrent_groups_self_and_own():
    net = build_network(cfg(taps='{from = "input", count = 2}, {from = "self", count = 1, delay = 2},'
                                 ' {from = "own", delay = 1}'))
    lay = net.layers[0]
    assert lay.source[:, 2:].tolist() == [[0, 0]] * 8
    assert lay.delay[0].tolist() == [0, 0, 2, 1]
    assert (lay.index[:, 3] == np.arange(8)).all()          # own output
    assert (lay.index[:, 2] != np.arange(8)).all()          # "self" excludes own by default


def test_delay_list_cycles_over_group_taps():
    net = build_network(cfg(taps='{from = "input", count = 2}, {from = "self", count = 2, delay = [1, 3]}'))
    assert net.layers[0].delay[0].tolist() == [0, 0, 1, 3]


def test_table_forms():
    t = cfg(k=2, taps='{from = "input", count = 2}')
    t["layers"][0]["table"] = "0x8"
    assert build_network(t).layers[0].table[0].tolist() == [0, 0, 0, 1]
    t["layers"][0]["table"] = [0, 1, 1, 0]
    assert build_network(t).layers[0].table[5].tolist() == [0, 1, 1, 0]


def test_two_layers_readout_by_name():
    text = BASE.format(inputs=4, nodes=6, k=2, taps='{from = "input", count = 2}') + """
[[layers]]
name = "out"
nodes = 4
k = 3
taps = [{from = "h", count = 2, delay = 1}, {from = "out", count = 1, delay = 1}]
"""
    text = text.replace("[readout]\nclasses = 2", "[readout]\nlayer = \"out\"\nclasses = 2\nnodes_per_class = 1")
    net = build_network(parse_config(text))
    assert net.readout.layer == 1 and net.readout.class_of.tolist() == [0, 1, -1, -1]
    res = simulate(net, np.ones((5, 2, 4), np.uint8))
    assert res.layer_spikes[1].shape == (5, 2, 4)


BAD_CONFIGS = [
    (lambda c: c["layers"][0].update(k=13), "k = 13 is out of range; a node has 1 to 12 taps"),
    (lambda c: c["layers"][0].update(k=0), "k = 0 is out of range"),
    (lambda c: c["layers"][0].update(bogus=1), r"unknown key\(s\) \['bogus'\]"),
    (lambda c: c["layers"][0]["taps"][0].update(wiring="spiral"), "unknown wiring 'spiral'"),
    (lambda c: c["layers"][0]["taps"][0].update(count=3), "tap groups give 3 taps but k = 4"),
    (lambda c: c["layers"][0]["taps"][0].update(**{"from": "nowhere"}), "from = 'nowhere' is not"),
    (lambda c: c["layers"][0].update(table=[0, 1]), "table must list 16 entries"),
    (lambda c: c["layers"][0].update(nodes=0), "nodes must be >= 1"),
    (lambda c: c["readout"].update(classes=9), "does not fit a layer of 8 nodes"),
    (lambda c: c["readout"].update(layer="zzz"), "layer 'zzz' does not exist"),
    (lambda c: c.update(seed=-1), "seed must be a non-negative integer"),
    (lambda c: c["layers"][0]["taps"][0].update(delay=-2), "delay must be an integer >= 0"),
]


@pytest.mark.parametrize("mutate, message", BAD_CONFIGS)
def test_bad_configs(mutate, message):
    c = cfg()
    mutate(c)
    with pytest.raises(ConfigError, match=message):
        build_network(c)


def test_delay0_recurrent_tap_is_refused_by_network_validation():
    c = cfg(taps='{from = "input", count = 3}, {from = "self", delay = 0}')
    with pytest.raises(NetworkError, match=r"layer 0 \('h'\), node 0, tap 3 .*delay-0 tap"):
        build_network(c)


def test_bad_toml_and_unknown_top_level_key(tmp_path):
    with pytest.raises(ConfigError, match="invalid TOML"):
        parse_config("inputs = [")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['layer'\]"):
        parse_config("inputs = 1\n[[layer]]\nnodes = 1")
    with pytest.raises(ConfigError, match="missing.toml: no such config file"):
        load_config(tmp_path / "missing.toml")


def test_demo_configs_build(demos_dir):
    import glob
    import os
    paths = sorted(glob.glob(os.path.join(demos_dir, "*.toml")))
    paths = [p for p in paths if not os.path.basename(p).startswith("sweep_")]  # sweep spaces
    assert len(paths) >= 3
    for p in paths:
        assert build_network(load_config(p)).n_nodes >= 1


def test_a_missing_demos_path_names_the_shipped_demo(tmp_path, monkeypatch):
    """The docs' commands say demos/...; run from another folder they now point at the shipped
    file (found by a fresh-user trial) without reading it in its place."""
    from spikelut.config import demo_path

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_config("demos/train_mnist1d_fast.toml")
    assert str(e.value) == (f"demos/train_mnist1d_fast.toml: no such config file here; the shipped "
                            f"demo config is {demo_path('train_mnist1d_fast.toml')}")
    for other in ("demos/no_such_demo.toml", "mine/train_mnist1d_fast.toml"):
        with pytest.raises(ConfigError) as e:
            load_config(other)
        assert str(e.value) == f"{other}: no such config file"
