"""Validation of networks: every illegal network is refused naming the layer, node and tap."""

import numpy as np
import pytest

from spikelut.errors import NetworkError
from spikelut.network import Layer, Network, Readout, readout_classes

from helpers import chain, layer

COPY = [0, 1, 0, 1]


def test_delay0_tap_to_same_layer_is_refused_with_layer_node_tap():
    with pytest.raises(NetworkError, match=r"layer 0 \('L0'\), node 0, tap 1 .*delay-0 tap"):
        chain(1, [layer([(-1, 0, 0), (0, 0, 0)], COPY)])


def test_delay0_tap_to_later_layer_is_refused():
    layers = [layer([(1, 0, 0), (-1, 0, 0)], COPY), layer([(-1, 0, 0), (-1, 0, 0)], COPY)]
    with pytest.raises(NetworkError, match=r"layer 0 .*node 0, tap 0 \(source 1, index 0, delay 0\)"):
        chain(1, layers)


def test_index_out_of_range_names_the_source_size():
    with pytest.raises(NetworkError, match=r"node 1, tap 0 .*index out of range, source has 2 channels"):
        chain(2, [layer([[(-1, 0, 0), (-1, 1, 0)], [(-1, 2, 0), (-1, 1, 0)]], COPY)])
    with pytest.raises(NetworkError, match="index out of range, source has 1 nodes"):
        chain(1, [layer([(0, 1, 1), (-1, 0, 0)], COPY)])


@pytest.mark.parametrize("k", [0, 13])
def test_k_out_of_range(k):
    taps = np.zeros((1, k), np.int32)
    lay = Layer(np.zeros((1, 1 << k), np.uint8), taps - 1, taps, taps)
    with pytest.raises(NetworkError, match=rf"^layer 0 \('L0'\): k = {k} is out of range; a node has "
                                           rf"1 to 12 taps \(1\.\.6: one FPGA LUT1\.\.LUT6; 7\.\.12: a "
                                           rf"LUT composition, docs/node-sizes\.md\)$"):
        Network(1, [lay], Readout(0, [0], 1))


def test_other_rules():
    with pytest.raises(NetworkError, match="source must be -1"):
        chain(1, [layer([(-2, 0, 0), (-1, 0, 0)], COPY)])
    with pytest.raises(NetworkError, match="delay must be >= 0"):
        chain(1, [layer([(-1, 0, -1), (-1, 0, 0)], COPY)])
    with pytest.raises(NetworkError, match="refractory must be >= 0"):
        chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY, refractory=-1)])
    with pytest.raises(NetworkError, match=r"table has shape \(1, 8\), expected \(1, 4\)"):
        chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], [0] * 8)])
    with pytest.raises(NetworkError, match="table entries must be 0 or 1"):
        chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], [0, 2, 0, 0])])
    with pytest.raises(NetworkError, match="names must be unique"):
        chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY, name="a"),
                  layer([(-1, 0, 0), (-1, 0, 0)], COPY, name="a")])


def test_logits_must_agree_with_table():
    lay = layer([(-1, 0, 0), (-1, 0, 0)], COPY)
    lay.logits = np.array([[0.5, 0.5, -1, 1]], np.float32)
    with pytest.raises(NetworkError, match=r"table must equal \(logits > 0\)"):
        chain(1, [lay])



@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])  # 1e300 is inf in float32
def test_logits_must_be_finite(bad):
    # a NaN logit's table entry (NaN > 0 is false) looked like a trained 0 and resumed training
    # diverged at once; such logits come only from an edited file or a hand-built layer
    lay = layer([(-1, 0, 0), (-1, 0, 0)], COPY)
    lay.logits = np.where(lay.table > 0, 1.0, -1.0)
    lay.logits[0, 2 if bad > 0 else 1] = bad
    lay.__post_init__()  # the float32 conversion, as the constructor does it
    with pytest.raises(NetworkError, match=r"layer 0 \('L0'\): logits must be finite, got "
                                           r"-?(nan|inf) at node 0 entry [12]; drop them"):
        chain(1, [lay])


def test_model_file_with_nan_logits_is_refused_in_one_line(tmp_path, capsys):
    import h5py

    from spikelut import cli
    from spikelut.io import save_model

    path = tmp_path / "m.h5"
    save_model(chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY)]), path)
    with h5py.File(path, "r+") as f:
        f["layers/L0"].create_dataset("logits", data=np.array([[np.nan, 1, np.nan, 1]], np.float32))
    assert cli.main(["info", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"spikelut info: error: {path}: invalid network: layer 0 ('L0'): logits must be "
                   f"finite, got nan at node 0 entry 0; drop them (logits=None) to keep only the table")

def test_readout_validation():
    lay = layer([(-1, 0, 0), (-1, 0, 0)], COPY)
    with pytest.raises(NetworkError, match="readout: layer 3 does not exist"):
        Network(1, [lay], Readout(3, [0], 1))
    with pytest.raises(NetworkError, match="class_of has 2 entries, but layer 0 has 1 nodes"):
        Network(1, [lay], Readout(0, [0, 0], 1))
    with pytest.raises(NetworkError, match="node 0 has class 1, expected -1 or 0..0"):
        Network(1, [lay], Readout(0, [1], 1))
    with pytest.raises(NetworkError, match="start must be >= 0"):
        Network(1, [lay], Readout(0, [0], 1, -1))


def test_flip_flops_count_registered_bits():
    # input 0 tapped at delays 1 and 3 -> 3 FFs; node tapped at delay 2 by itself -> 2 FFs;
    # refractory 4 extends that node's register to 4
    lay = layer([(-1, 0, 1), (-1, 0, 3), (0, 0, 2)], [0] * 8, refractory=4)
    net = chain(1, [lay])
    assert net.register_depths() == {(-1, 0): 3, (0, 0): 4}
    assert net.flip_flops() == 7
    assert net.summary()["flip_flops"] == 7


def test_readout_classes_blocks():
    assert readout_classes(7, 3, 2).tolist() == [0, 0, 1, 1, 2, 2, -1]
    assert readout_classes(6, 3).tolist() == [0, 0, 1, 1, 2, 2]
    with pytest.raises(NetworkError, match="does not fit"):
        readout_classes(5, 3, 2)


def test_layer_accepts_integer_like_arrays_and_reports_k():
    lay = Layer(np.zeros((2, 8)), [[-1, -1, -1]] * 2, [[0, 1, 0]] * 2, [[0, 0, 1]] * 2)
    assert (lay.n, lay.k) == (2, 3)
    assert lay.table.dtype == np.uint8 and lay.source.dtype == np.int32
